#!/usr/bin/env bash
# Reproduces the leader-failover figure of BENCHMARKS.md: how long metadata
# writes stop when the Raft leader of 3 coordinators is killed (release
# build, default Raft timing).
#
# Usage: scripts/bench-failover.sh [ROUNDS]   (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p cpg -p coordinator -p node --bins
cargo build --release -q -p cluster-tests --example bench_failover
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d)"
target/release/examples/bench_failover "${1:-7}"
