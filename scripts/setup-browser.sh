#!/usr/bin/env bash
# Makes this machine able to run the dashboard test: Debian's chromium and
# Playwright's playwright-core (the driver, without its own browsers) from
# npm, installed under ~/.cache/cpg/web (CPG_WEB_TOOLS elsewhere).
# Idempotent. Prints the folder holding node_modules.
#
# Usage: scripts/setup-browser.sh   (as root, or with sudo)
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
say() { echo "setup-browser: $*" >&2; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

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
