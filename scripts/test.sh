#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need
# first (podman for the compose test, Chromium and playwright-core for the
# dashboard test, the SARIF schema and a validator, the MCP and LSP clients, the Elixir
# corpus and the real applications' fixtures), then runs every test of the
# workspace and closes with the total. Extra arguments go to `cargo test`
# (e.g. `bash scripts/test.sh -p partition` for one crate).
set -euo pipefail
cd "$(dirname "$0")/.."

# The integration tests need the Elixir corpus; fetch it up front so that a
# failure to fetch is reported as such (the tests would fail on it too).
bash scripts/fetch-corpus.sh >/dev/null

# The compose test builds the deploy/ image and runs the compose cluster
# with podman: install podman, podman-compose and the base image if missing.
bash scripts/setup-containers.sh
# The dashboard test drives Debian's chromium with playwright-core (npm).
bash scripts/setup-browser.sh >/dev/null
# The SARIF test validates against the official SARIF 2.1.0 schema.
bash scripts/setup-sarif.sh >/dev/null
# The MCP test drives `cpg mcp` with the official MCP Python SDK, the LSP
# test `cpg lsp` with pygls's language client.
bash scripts/setup-mcp.sh >/dev/null
bash scripts/setup-lsp.sh >/dev/null

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --no-fail-fast: a failing test binary does not hide the ones after it.
# Four tests at a time (libtest's default is one per core): the cluster
# tests spend half their time waiting on timeouts, heartbeats and other
# processes, and with two they left a core idle about half of the time.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
status=0
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log" || status=1
# cargo's last lines are the doc-test runs (often empty): close with the total.
awk '/^test result:/ {
       for (i = 2; i <= NF; i++) {
         if ($i == "passed;") passed += $(i - 1)
         if ($i == "failed;") failed += $(i - 1)
       }
     }
     END { printf "%d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
