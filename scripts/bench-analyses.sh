#!/usr/bin/env bash
# Reproduces the analyses benchmark of BENCHMARKS.md on the Elixir corpus:
# every analysis on 3 coordinators and 3 storage nodes on loopback (release
# build), cold (first time asked after an ingest) and cached, each answer
# compared with the embedded one.
#
# Usage: scripts/bench-analyses.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
lib=$(bash scripts/fetch-corpus.sh)
cargo build --release -q -p cpg -p coordinator -p node --bins
cargo build --release -q -p cluster-tests --example bench_analyses
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)"
target/release/examples/bench_analyses "$lib" "$rounds"
