#!/usr/bin/env bash
# A long chaos run (about 5 minutes of faults by default): the chaos test of
# cluster-tests with more faults, one at a time (kill -9, SIGSTOP and a
# network partition of nodes and of the Raft leader, a node's disk filled
# up), under queries and
# ingests; it fails on any wrong or incomplete answer, a lost acknowledged
# ingest, more than 1% query errors or a stale read in its history.
#
# Usage: [CPG_CHAOS_FAULTS=64] [CPG_CHAOS_SEED=7] scripts/bench-chaos.sh
# (debug build, as the test suite runs it; each fault takes 3.5–7.5 s)
set -euo pipefail
cd "$(dirname "$0")/.."
export CPG_CHAOS_FAULTS=${CPG_CHAOS_FAULTS:-64}
export CPG_CHAOS_SEED=${CPG_CHAOS_SEED:-7}
cargo build -q -p cpg -p coordinator -p node --bins
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d); $CPG_CHAOS_FAULTS faults, seed $CPG_CHAOS_SEED"
cargo test -q -p cluster-tests --test cluster chaos_under_load -- --nocapture
