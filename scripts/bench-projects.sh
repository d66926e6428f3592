#!/usr/bin/env bash
# Projects sharing libraries on a cluster: the two real applications of
# ../shared/realapps ingested into one local cluster (1 coordinator, 3
# nodes, R=2) as three projects: realtime, nerves_hub_web, and realtime
# again under another name (a second service on the same releases). For
# each ingest: files sent, parsed (new to the cluster) and unchanged
# (already stored: the shared library files), and its time; then the
# catalog's files against what storing every project's libraries apart
# would hold, and the libraries shared.
#
# Usage: scripts/bench-projects.sh
set -euo pipefail
cd "$(dirname "$0")/.."
apps=$(bash scripts/fetch-realapps.sh)
cargo build --release -q -p cpg --bin cpg -p coordinator --bin cpg-coordinator
cargo build --release -q -p node --bin cpg-node
cpg=$PWD/target/release/cpg
data=$(mktemp -d)
trap '"$cpg" dev-cluster down --data-dir "$data" >/dev/null 2>&1 || true; rm -rf "$data"' EXIT
list=$("$cpg" dev-cluster up --coordinators 1 --nodes 3 --data-dir "$data" \
  | sed -n 's/.*export CPG_COORDINATOR=\([^ ]*\).*/\1/p')
export CPG_COORDINATOR=$list CPG_INSECURE=true
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)"
for spec in realtime:realtime nerves_hub_web:nerves_hub_web realtime_copy:realtime; do
  project=${spec%%:*}; app=${spec#*:}
  s=$(date +%s%N)
  out=$("$cpg" --project "$project" ingest "$apps/$app" 2>/dev/null | tail -1)
  e=$(date +%s%N)
  echo "$project ($app): $out; $(( (e - s) / 1000000 )) ms"
done
"$cpg" projects --json > "$data/projects.json"
python3 - "$data/projects.json" <<'PY'
import json, sys
projects = json.load(open(sys.argv[1]))
stored = {}
apart = 0
own = 0
for p in projects:
    own += p["files"]
    for lib, files in p["libraries"]:
        key = (lib["package"], lib["version"], lib["hash"])
        stored[key] = files
        apart += files
shared = {}
for p in projects:
    for lib, _ in p["libraries"]:
        key = (lib["package"], lib["version"], lib["hash"])
        shared[key] = shared.get(key, 0) + 1
kept = sum(stored.values())
print(f"projects' own files: {own}; library files stored: {kept} "
      f"(apart, each project's own copy: {apart}; saved {apart - kept}, {100 * (apart - kept) / max(apart, 1):.0f}%)")
print(f"libraries stored: {len(stored)}, of which used by more than one project: "
      f"{sum(1 for n in shared.values() if n > 1)}")
libs = {p["name"]: {(l["package"], l["version"], l["hash"]) for l, _ in p["libraries"]} for p in projects}
names = sorted(libs)
for i, a in enumerate(names):
    for b in names[i + 1:]:
        print(f"{a} and {b}: {len(libs[a] & libs[b])} libraries shared (of {len(libs[a])} and {len(libs[b])})")
PY
# Each project answers as an embedded run on its tree.
for spec in realtime:realtime nerves_hub_web:nerves_hub_web realtime_copy:realtime; do
  project=${spec%%:*}; app=${spec#*:}
  "$cpg" --project "$project" export call-graph --format csv > "$data/cluster.csv"
  env -u CPG_COORDINATOR "$cpg" export call-graph "$apps/$app" --format csv > "$data/embedded.csv"
  if cmp -s "$data/cluster.csv" "$data/embedded.csv"; then same=identical; else same=DIFFERENT; fi
  echo "$project: call graph on the cluster and embedded: $same ($(wc -l < "$data/embedded.csv") rows)"
done
