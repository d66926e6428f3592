#!/usr/bin/env bash
# Reproduces the production-load figures of BENCHMARKS.md: point queries,
# incremental updates, pattern analyses and feature extraction at once on
# 1 coordinator + 3 storage nodes holding the Elixir corpus (release build).
#
# Usage: CPG_LOAD_SECS=30 [CPG_LOAD_COORDINATORS=3] [CPG_LOAD_UNCACHED=1] scripts/bench-load.sh
# (CPG_LOAD_UNCACHED=1: the answer cache off, random functions at random
# depths, so that every point query is computed.)
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(bash scripts/fetch-corpus.sh)
cargo build --release -q -p cpg -p coordinator -p node --bins
cargo build --release -q -p cluster-tests --example bench_load
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)"
target/release/examples/bench_load "$lib"
