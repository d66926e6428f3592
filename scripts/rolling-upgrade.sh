#!/usr/bin/env bash
# A rolling upgrade under load, from the binaries in OLD to those in NEW
# (each a directory holding cpg, cpg-coordinator and cpg-node; make OLD by
# building the previous release, e.g. `git worktree add /tmp/prev REV &&
# cargo build --release --bins` there):
#
#   scripts/rolling-upgrade.sh OLD NEW TREE [DATA_DIR]
#
# Starts a dev cluster of OLD (3 coordinators, 3 nodes, R=2) on DATA_DIR
# (default: a fresh temporary dir), ingests TREE, keeps its call graph, then
# replaces every process in turn by NEW's (nodes first, coordinators last,
# each restarted on its data dir with the same arguments and waited for
# until `cpg health` says healthy) while two clients (OLD's and NEW's cpg)
# ask callers queries and a probe file is changed and ingested every 2 s.
# A coordinator is waited for until it answers `cpg health` itself, healthy
# and of the new release. At the end the probe is removed and TREE ingested
# again: the call graph must equal the one before. Prints each process's
# release, the queries (failed, and incomplete: a partition missing), the
# ingests acknowledged and failed; exits 1 if a process is not of the new
# release, the answers differ, no ingest was acknowledged or the last one
# acknowledged is not visible, any answer was incomplete, or query errors
# are 1% or more.
set -euo pipefail
old=$(cd "$1" && pwd) new=$(cd "$2" && pwd)
data=${4:-$(mktemp -d)}
for d in "$old" "$new"; do
    for p in cpg cpg-coordinator cpg-node; do
        [ -x "$d/$p" ] || { echo "$d/$p is missing" >&2; exit 2; }
    done
done
export CPG_INSECURE=true
work=$(mktemp -d)
# A copy of TREE: the probe file is written into it.
cp -r "$3" "$work/tree"
tree=$work/tree
probe="$tree/cpg_rolling_upgrade_probe.ex"
cleanup() {
    rm -f "$probe"
    [ -n "${load_pids:-}" ] && kill $load_pids 2> /dev/null || true
    "$new/cpg" dev-cluster down --data-dir "$data" > /dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$old/cpg" dev-cluster up --data-dir "$data" --coordinators 3 --nodes 3 > "$work/up" 2>&1 \
    || { cat "$work/up"; exit 1; }
export CPG_COORDINATOR
CPG_COORDINATOR=$(python3 -c "import json,sys; print(','.join(c['address'] for c in json.load(open(sys.argv[1]))['coordinators']))" "$data/dev-cluster.json")
echo "== cluster of $("$old/cpg-node" --version 2>/dev/null || echo old) on $data"
"$old/cpg" ingest "$tree" > /dev/null 2> "$work/ingest.err"
"$old/cpg" export call-graph > "$work/before.csv"
echo "== $(wc -l < "$work/before.csv") call rows before"
# A function every query asks about: the first caller of the export.
fn=$(awk -F, 'NR == 2 { print $1 "." $2 "/" $3; exit }' "$work/before.csv" | tr -d '"')
echo "== queries ask for the callers of $fn"

# Two clients, the old and the new, asking until told to stop.
ask() {
    local cpg=$1 n=0 errors=0 incomplete=0 err
    err="$work/err.$(basename "$(dirname "$cpg")")"
    while [ ! -e "$work/stop" ]; do
        if ! "$cpg" callers "$fn" > /dev/null 2> "$err"; then
            errors=$((errors + 1))
        elif grep -q "did not answer" "$err"; then
            incomplete=$((incomplete + 1))
        fi
        cat "$err" >> "$work/query.err"
        n=$((n + 1))
    done
    echo "$n $errors $incomplete" > "$work/queries.$(basename "$(dirname "$cpg")")"
}
# The probe changes every 2 s; each acknowledged ingest's function must
# be found afterwards (by the new client, at the end).
ingests() {
    local i=0
    while [ ! -e "$work/stop" ]; do
        i=$((i + 1))
        printf 'defmodule CpgRollingUpgradeProbe do\n  def probe_%s(x), do: x\nend\n' "$i" > "$probe"
        if "$new/cpg" ingest "$tree" > /dev/null 2>> "$work/ingest.err"; then
            echo "$i" >> "$work/acked"
        else
            echo "$i" >> "$work/failed"
        fi
        sleep 2
    done
}
mkdir -p "$work/old" "$work/new"
ln -s "$old/cpg" "$work/old/cpg"
ln -s "$new/cpg" "$work/new/cpg"
ask "$work/old/cpg" & load_pids=$!
ask "$work/new/cpg" & load_pids="$load_pids $!"
ingests & load_pids="$load_pids $!"

# The cluster healthy as ADDRESS (a coordinator) sees it, and ADDRESS of
# the release RELEASE (when given).
healthy() {
    local address=$1 release=${2:-} deadline=$((SECONDS + 90))
    until "$new/cpg" --coordinator "$address" health --json > "$work/health" 2>&1 \
        && python3 -c "
import json, sys
h = json.load(open(sys.argv[1]))
sys.exit(0 if h['cpg_tables_status'] == 'healthy' and (not sys.argv[2] or h['version'] == sys.argv[2]) else 1)
" "$work/health" "$release"; do
        if [ $SECONDS -gt $deadline ]; then
            echo "not healthy after 90 s:" >&2
            cat "$work/health" >&2
            return 1
        fi
        sleep 0.5
    done
}
sleep 3
# Each process in turn: its arguments, a SIGTERM, the new binary.
for role in nodes coordinators; do
    for pid in $(python3 -c "import json,sys; print(' '.join(str(p['pid']) for p in json.load(open(sys.argv[1]))[sys.argv[2]]))" "$data/dev-cluster.json" "$role"); do
        mapfile -d '' argv < "/proc/$pid/cmdline"
        program=$(basename "${argv[0]}")
        kill -TERM "$pid"
        while kill -0 "$pid" 2> /dev/null; do sleep 0.1; done
        id=$(printf '%s\n' "${argv[@]}" | awk 'prev == "--id" { print; exit } { prev = $0 }')
        log="$data/${program#cpg-}-$id.log"
        setsid "$new/$program" "${argv[@]:1}" >> "$log" 2>&1 < /dev/null &
        started=$!
        python3 - "$data/dev-cluster.json" "$role" "$pid" "$started" << 'EOF'
import json, sys
path, role, old, new = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
layout = json.load(open(path))
for p in layout[role]:
    if p["pid"] == old:
        p["pid"] = new
json.dump(layout, open(path + ".tmp", "w"), indent=2)
import os
os.replace(path + ".tmp", path)
EOF
        t=$SECONDS
        if [ "$role" = coordinators ]; then
            address=$(printf '%s\n' "${argv[@]}" | awk 'prev == "--listen" { print; exit } { prev = $0 }')
            healthy "$address" "$release"
        else
            healthy "$CPG_COORDINATOR"
            # The first new process says what the new release calls itself.
            if [ -z "${release:-}" ]; then
                release=$("$new/cpg" health --json | python3 -c "
import json, sys
print([n['health']['version'] for n in json.load(sys.stdin)['nodes'] if n['id'] == int(sys.argv[1])][0])
" "$id")
            fi
        fi
        echo "== $program $id replaced: healthy after $((SECONDS - t)) s"
    done
done
sleep 3
touch "$work/stop"
wait $load_pids 2> /dev/null || true
load_pids=

status=0
echo "== releases (the new one: $release):"
for address in ${CPG_COORDINATOR//,/ }; do
    "$new/cpg" --coordinator "$address" health --json > "$work/health" 2>&1 || true
    python3 -c "
import json, sys
h = json.load(open(sys.argv[1]))
wrong = [('coordinator ' + sys.argv[3], h['version'])] if h['version'] != sys.argv[2] else []
print('  coordinator', sys.argv[3], h['version'])
for n in h['nodes']:
    v = (n['health'] or {}).get('version')
    print('    its node', n['id'], v)
    if v != sys.argv[2]:
        wrong.append(('node %d' % n['id'], v))
sys.exit(1 if wrong else 0)
" "$work/health" "$release" "$address" || { echo "!! a process is not of the new release"; status=1; }
done
read -r qo eo io < "$work/queries.old"
read -r qn en in < "$work/queries.new"
q=$((qo + qn)) e=$((eo + en)) inc=$((io + in))
touch "$work/acked" "$work/failed"
acked=$(wc -l < "$work/acked")
failed=$(wc -l < "$work/failed")
redials=$(cat "$data"/*.log | grep -c "speaks cpg protocol version" || true)
echo "== queries: $q ($qo by the old client, $qn by the new), errors $e, incomplete $inc"
echo "== ingests: $acked acknowledged, $failed failed"
echo "== greetings refused by a process of the old release (then dialled again at its version): $redials"
last=$(tail -1 "$work/acked")
if [ -z "$last" ]; then
    echo "!! no ingest was acknowledged"
    status=1
elif ! "$new/cpg" callees "CpgRollingUpgradeProbe.probe_$last/1" > /dev/null 2>&1 \
    && ! "$new/cpg" callers "CpgRollingUpgradeProbe.probe_$last/1" > /dev/null 2>&1; then
    echo "!! the last acknowledged ingest (probe_$last) is not visible"
    status=1
fi
rm -f "$probe"
"$new/cpg" ingest "$tree" > /dev/null 2>> "$work/ingest.err"
"$new/cpg" export call-graph > "$work/after.csv"
if cmp -s "$work/before.csv" "$work/after.csv"; then
    echo "== call graph after the upgrade: equal to before ($(wc -l < "$work/after.csv") rows)"
else
    echo "!! call graph after the upgrade differs from before"
    diff "$work/before.csv" "$work/after.csv" | head -5
    status=1
fi
if [ "$inc" -gt 0 ]; then
    echo "!! $inc answers left partitions out"
    status=1
fi
if [ $((e * 100)) -ge "$q" ] && [ "$q" -gt 0 ]; then
    echo "!! query errors are 1% or more; the first:"
    head -3 "$work/query.err"
    status=1
fi
exit $status
