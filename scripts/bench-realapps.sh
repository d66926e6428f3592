#!/usr/bin/env bash
# The embedded build of each real application of ../shared/realapps with its
# dependencies, against the application alone: whole `cpg analyze` processes,
# run in turn (alone, deps cached, alone, deps cached, ...), median wall time
# of RUNS pairs and the median of the pairwise ratios; then the first build
# with no dependency cache (the summaries of deps/ parsed and written), and
# the resolution figures (unresolved call sites, calls into a module without
# the function, dead functions).
#
# Usage: scripts/bench-realapps.sh [RUNS]   (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
apps=$(bash scripts/fetch-realapps.sh)
cargo build --release -q -p cpg --bin cpg
cpg=target/release/cpg
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)"
for app in realtime nerves_hub_web; do
  tree="$apps/$app"
  rm -rf "$tree/_build/cpg"
  cold=$(ms "$cpg" analyze "$tree")
  alone=(); with=(); ratio=()
  for _ in $(seq "$runs"); do
    a=$(ms "$cpg" --no-deps analyze "$tree")
    w=$(ms "$cpg" analyze "$tree")
    alone+=("$a"); with+=("$w")
    ratio+=("$(awk -v w="$w" -v a="$a" 'BEGIN { printf "%.3f", w / a }')")
  done
  a=$(printf '%s\n' "${alone[@]}" | median)
  w=$(printf '%s\n' "${with[@]}" | median)
  r=$(printf '%s\n' "${ratio[@]}" | median)
  libs=$(find "$tree/deps" -path '*/lib/*' -name '*.ex' | wc -l)
  echo "$app: app alone ${a} ms, with deps (summaries cached) ${w} ms, ratio ${r} (median of $runs pairs); first build with deps, no cache: ${cold} ms (${libs} library files)"
  "$cpg" export call-graph "$tree" --format json -o /tmp/cpg-bench-calls.json
  "$cpg" analyze dead-code "$tree" --json > /tmp/cpg-bench-dead.json
  python3 - "$app" <<'PY'
import json, sys
rows = json.load(open("/tmp/cpg-bench-calls.json"))
dead = json.load(open("/tmp/cpg-bench-dead.json"))
u = sum(r["kind"] == "unresolved" for r in rows)
w = sum(r["undefined"] for r in rows)
print(f"{sys.argv[1]}: {len(rows)} call sites, {u} unresolved ({100*u/len(rows):.2f}%), {w} into a module without the function, {len(dead)} dead functions")
PY
done
rm -f /tmp/cpg-bench-calls.json /tmp/cpg-bench-dead.json
