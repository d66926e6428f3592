#!/usr/bin/env bash
# A backup taken while the cluster serves ingests and queries, restored
# into a new cluster, with the time and the client's peak memory of each.
#
#   bash scripts/bench-backup.sh TREE FILE [OUT]
#
# TREE is ingested into a local dev cluster (1 coordinator, 3 nodes, P=64,
# R=2) unless CPG_COORDINATOR names a running cluster that holds it. While
# `cpg cluster backup` runs, one client ingests TREE again and again with
# FILE changed each time (a function added, a new one each round) and
# another asks `cpg callers` in a loop. The backup is then restored into a
# second dev cluster; FILE is put back as it was at the backup's
# generation and ingested into the first cluster, and both clusters'
# call-graph exports must be equal. Prints one line of figures; OUT (a
# folder, default a temporary one) keeps the logs and the backup.
#
# Uses target/release/cpg (CPG_BIN to use another; CPG_BACKUP_BIN for the
# one that takes the backup and restores it, to compare two builds on the
# same clusters). Needs /usr/bin/time.
set -euo pipefail
tree=$(realpath "$1") file=$(realpath "$2")
out=${3:-$(mktemp -d)}
mkdir -p "$out"
root="$(cd "$(dirname "$0")/.." && pwd)"
cpg=${CPG_BIN:-$root/target/release/cpg}
backup_cpg=${CPG_BACKUP_BIN:-$cpg}
export CPG_INSECURE=true
original=$(mktemp)
cp "$file" "$original"
started=()
cleanup() {
    cp "$original" "$file"
    rm -f "$original"
    for d in "${started[@]}"; do
        "$cpg" dev-cluster down --data-dir "$d" > /dev/null 2>&1 || true
    done
    [ -z "${loader:-}" ] || kill "$loader" 2> /dev/null || true
    [ -z "${asker:-}" ] || kill "$asker" 2> /dev/null || true
}
trap cleanup EXIT

# A dev cluster in $1; prints its coordinator's address.
up() {
    "$cpg" dev-cluster up --data-dir "$1" --coordinators 1 --nodes 3 2> "$1.up" |
        grep -o '127\.0\.0\.1:[0-9]*' | head -1
}

if [ -z "${CPG_COORDINATOR:-}" ]; then
    started+=("$out/source")
    CPG_COORDINATOR=$(up "$out/source")
    "$cpg" ingest "$tree" --coordinator "$CPG_COORDINATOR" > "$out/first-ingest" 2> /dev/null
fi
source_cluster=$CPG_COORDINATOR
unset CPG_COORDINATOR

# FILE as of round N: the original with functions 1..N added.
state() {
    body=$(head -c -4 "$original")
    {
        printf '%s\n' "$body"
        for i in $(seq "$1"); do printf '  def backup_probe_%s(x), do: x\n' "$i"; done
        printf 'end\n'
    }
}

# Ingests under way: round → generation, in $out/rounds.
: > "$out/rounds"
(
    n=0
    while [ ! -e "$out/stop" ]; do
        n=$((n + 1))
        state "$n" > "$file"
        g=$("$cpg" ingest "$tree" --coordinator "$source_cluster" 2> /dev/null |
            grep -o 'catalog generation [0-9]*' | grep -o '[0-9]*$') || g=failed
        echo "$n $g" >> "$out/rounds"
    done
) &
loader=$!
# Let two ingests land first.
until [ "$(grep -c '[0-9]$' "$out/rounds")" -ge 2 ]; do sleep 0.2; done
# Queries under way: one line per answer, ok or failed.
module=$(grep -m1 -o 'defmodule [A-Za-z0-9_.]*' "$original" | cut -d' ' -f2)
(
    while [ ! -e "$out/stop" ]; do
        if "$cpg" callers "$module.backup_probe_1/1" --coordinator "$source_cluster" > /dev/null 2>&1; then
            echo ok
        else
            echo failed
        fi
    done > "$out/queries"
) &
asker=$!

rm -rf "$out/backup"
/usr/bin/time -f '%e %M' -o "$out/backup.time" \
    "$backup_cpg" cluster backup "$out/backup" --coordinator "$source_cluster" > "$out/backup.log" 2>&1
touch "$out/stop"
wait "$loader" "$asker" 2> /dev/null || true
generation=$(grep -o '"generation": [0-9]*' "$out/backup/backup.json" | grep -o '[0-9]*$')
round=$(awk -v g="$generation" '$2 == g { print $1 }' "$out/rounds")
if [ -z "$round" ]; then
    # The backup's generation is the first ingest's (before any round).
    grep -q "catalog generation $generation" "$out/first-ingest" 2> /dev/null ||
        { echo "generation $generation is no round's: see $out/rounds" >&2; exit 1; }
    round=0
fi

started+=("$out/restored")
target=$(up "$out/restored")
/usr/bin/time -f '%e %M' -o "$out/restore.time" \
    "$backup_cpg" cluster restore "$out/backup" --coordinator "$target" > "$out/restore.log" 2>&1

# The source cluster back at the backup's content, then both exported.
state "$round" > "$file"
"$cpg" ingest "$tree" --coordinator "$source_cluster" > /dev/null 2>&1
"$cpg" export call-graph --coordinator "$source_cluster" > "$out/source.csv" 2> /dev/null
"$cpg" export call-graph --coordinator "$target" > "$out/restored.csv" 2> /dev/null
if cmp -s "$out/source.csv" "$out/restored.csv"; then same=equal; else same=DIFFERENT; fi

read -r backup_s backup_kb < "$out/backup.time"
read -r restore_s restore_kb < "$out/restore.time"
rounds=$(grep -c '[0-9]$' "$out/rounds" || true)
failed_ingests=$(grep -c 'failed$' "$out/rounds" || true)
queries=$(wc -l < "$out/queries")
failed_queries=$(grep -c failed "$out/queries" || true)
bytes=$(du -sb "$out/backup" | cut -f1)
echo "backup: ${backup_s} s, client peak $((backup_kb / 1024)) MB, $((bytes / 1048576)) MB at generation $generation (round $round); ingests by the loader: $rounds acknowledged, $failed_ingests failed; queries: $queries, $failed_queries failed; restore: ${restore_s} s, client peak $((restore_kb / 1024)) MB; call graphs: $same ($(wc -l < "$out/source.csv") rows)"
[ "$same" = equal ]
