#!/usr/bin/env bash
# Monolith scale (issue #18): code bases of 1k, 3k, 10k, 15k and 30k modules
# made from renamed copies of the Elixir corpus and of the two real
# applications' own code, on 1 coordinator + 3 storage nodes (P=64, R=2,
# real processes on loopback) and embedded, release build. Prints the tables
# of BENCHMARKS.md "Monolith scale" and writes the plot to
# docs/bench/monolith.svg.
#
# Usage: scripts/bench-monolith.sh [MODULES...]   (default 1000 3000 10000 15000 30000)
#        CPG_MONOLITH_QUERIES=N  point queries per size (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(bash scripts/fetch-corpus.sh)
apps=$(bash scripts/fetch-realapps.sh)
cargo build --release -q -p cpg -p coordinator -p node --bins
cargo build --release -q -p cluster-tests --example bench_monolith
mkdir -p docs/bench
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)"
CPG_MONOLITH_SVG=${CPG_MONOLITH_SVG:-docs/bench/monolith.svg} \
  target/release/examples/bench_monolith "$lib" "$apps" "$@"
