#!/usr/bin/env bash
# Reproduces the cluster benchmark of BENCHMARKS.md on the Elixir corpus:
# 3 coordinators and 3 storage nodes on loopback (release build), against the
# embedded mode in the same run: ingest vs build, callers-of latency with 8
# concurrent clients, and every analysis.
#
# Usage: scripts/bench-cluster.sh [RUNS] [SECONDS]   (defaults 5 and 10)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
seconds=${2:-10}
lib=$(bash scripts/fetch-corpus.sh)
cargo build --release -q -p cpg -p coordinator -p node --bins
cargo build --release -q -p cluster-tests --example bench_cluster
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)"
target/release/examples/bench_cluster "$lib" "$runs" "$seconds"
