#!/usr/bin/env bash
# Reproduces the build benchmark of BENCHMARKS.md on the Elixir corpus:
# tree-sitter parse-only time (one thread) against the full embedded CPG build
# (all cores), medians over RUNS runs, then peak resident memory of whole
# `cpg analyze` runs and bytes per CPG element.
#
# Usage: scripts/bench-build.sh [RUNS]   (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
lib=$(bash scripts/fetch-corpus.sh)
cargo build --release -q -p cpg --bin cpg
cargo build --release -q -p codebase --example bench_build
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)"
target/release/examples/bench_build "$lib" "$runs"
echo "== peak resident memory of 'cpg analyze' (median of $runs processes)"
for _ in $(seq "$runs"); do
  target/release/cpg analyze "$lib" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["peak_rss_bytes"], r["nodes"] + r["edges"])'
done | sort -n | awk -v n="$runs" '
  { rss[NR] = $1; elements = $2 }
  END { m = rss[int((n + 1) / 2)];
        printf "peak RSS: %.1f MiB  elements: %d  bytes per element: %.1f\n", m / 1048576, elements, m / elements }'
