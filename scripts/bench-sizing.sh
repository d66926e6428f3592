#!/usr/bin/env bash
# Reproduces the sizing table of docs/OPERATIONS.md: resident memory of each
# process for code bases of 100, 500, 2,000 and 10,000 modules (made from the
# Elixir corpus and renamed copies of it) on 1 coordinator + 3 storage nodes,
# P=64, R=2, release build, real processes on loopback.
#
# Usage: scripts/bench-sizing.sh [MODULES...]   (default 100 500 2000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(bash scripts/fetch-corpus.sh)
cargo build --release -q -p cpg -p coordinator -p node --bins
cargo build --release -q -p cluster-tests --example bench_sizing
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)"
target/release/examples/bench_sizing "$lib" "$@"
