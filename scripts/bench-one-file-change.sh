#!/usr/bin/env bash
# One-file change, end to end, on a running cluster that holds TREE:
# ROUNDS times, a function is added to FILE (module MODULE), `cpg ingest
# TREE` runs, then `cpg callees` of the new function is asked until it
# answers. Prints the ingest's time and the time until the change is
# visible, per round; FILE is restored at the end.
#
#   export CPG_COORDINATOR=HOST:PORT   # e.g. from `cpg dev-cluster up`
#   bash scripts/bench-one-file-change.sh TREE FILE MODULE [ROUNDS]
#
# With ONLY_FILE=1 the ingest is `cpg ingest TREE --file FILE` (what a
# tool that knows the changed file sends: no walk of the tree).
#
# The coordinator's log (RUST_LOG=coordinator=debug) has each new
# snapshot's `total_ms`. Uses target/release/cpg (cargo build --release).
set -euo pipefail
tree=$1 file=$2 module=$3 rounds=${4:-6}
cpg="$(cd "$(dirname "$0")/.." && pwd)/target/release/cpg"
: "${CPG_COORDINATOR:?set CPG_COORDINATOR to a coordinator of the cluster}"
original=$(mktemp)
cp "$file" "$original"
trap 'cp "$original" "$file"; rm -f "$original"' EXIT
ms() { echo $(( ($2 - $1) / 1000000 )); }
for n in $(seq "$rounds"); do
    # The file's last `end` closes the module: the function goes before it.
    body=$(head -c -4 "$file")
    printf '%s\n  def bench_probe_%s(x), do: String.upcase(x)\nend\n' "$body" "$n" > "$file"
    start=$(date +%s%N)
    if [ "${ONLY_FILE:-}" = 1 ]; then
        "$cpg" ingest "$tree" --file "$file" > /dev/null
    else
        "$cpg" ingest "$tree" > /dev/null
    fi
    ingested=$(date +%s%N)
    until "$cpg" callees "$module.bench_probe_$n/1" 2>/dev/null | grep -q upcase; do :; done
    visible=$(date +%s%N)
    echo "round $n: ingest $(ms "$start" "$ingested") ms, visible $(ms "$start" "$visible") ms"
done
