#!/usr/bin/env bash
# Reproduces the dashboard figures of BENCHMARKS.md: the dashboard test in a
# release build, ROUNDS times (default 3): a cluster holding the Elixir
# corpus and the example application (1,400+ modules), the page opened in
# headless Chromium; prints the time from navigation to the module graph's
# first paint (first load after the ingest, then three reloads).
#
# Usage: scripts/bench-dashboard.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bash scripts/setup-browser.sh >/dev/null
cargo build --release -q --bins
cargo test --release -q -p cluster-tests --test cluster dashboard --no-run 2>/dev/null
echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(chromium --version | head -1), $(date -u +%Y-%m-%d)"
for i in $(seq "$rounds"); do
    cargo test --release -q -p cluster-tests --test cluster dashboard -- --nocapture 2>&1 | grep '^dashboard:'
done
