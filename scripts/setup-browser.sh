#!/usr/bin/env bash
# Makes this machine able to run the dashboard test: Debian's chromium and
# Playwright's playwright-core (the driver, without its own browsers) from
# npm, installed under ~/.cache/cpg/web (CPG_WEB_TOOLS elsewhere).
# Idempotent. Prints the folder holding node_modules.
#
# Usage: scripts/setup-browser.sh   (as root, or with sudo)
set -euo pipefail

say() { echo "setup-browser: $*" >&2; }
. "$(dirname "$0")/common.sh"

install_missing chromium:chromium node:nodejs npm:npm

tools=${CPG_WEB_TOOLS:-$HOME/.cache/cpg/web}
version=1.49.1
if [ ! -f "$tools/node_modules/playwright-core/package.json" ] \
    || ! grep -q "\"version\": \"$version\"" "$tools/node_modules/playwright-core/package.json"; then
    say "installing playwright-core $version in $tools"
    mkdir -p "$tools"
    (cd "$tools" && npm install --silent --no-audit --no-fund --prefix "$tools" "playwright-core@$version" >/dev/null)
fi
say "ready: $(chromium --version 2>/dev/null | head -1), playwright-core $version"
echo "$tools"
