#!/usr/bin/env bash
# Run the cargo-fuzz targets for a bounded time each (needs a nightly
# toolchain; installs cargo-fuzz when missing). Seeds come from the example
# application; crashes are kept under fuzz/artifacts/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: a nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 1
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
mkdir -p fuzz/corpus/front_end fuzz/corpus/rpc_frames fuzz/corpus/write_path fuzz/corpus/replay_path
find examples/shop -name '*.ex*' -exec cp {} fuzz/corpus/front_end/ \;
for target in front_end rpc_frames write_path replay_path; do
    echo "== $target for ${secs}s"
    (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=4096)
done
