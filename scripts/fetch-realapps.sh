#!/usr/bin/env bash
# Unpack the real Phoenix applications of ../shared/realapps (each with the
# source of its locked dependencies under deps/, see its README) into a cache
# folder, unchanged, for the tests and benchmarks. Nothing is unpacked when
# the cache already holds them.
#
# Usage: scripts/fetch-realapps.sh      # prints the folder holding nerves_hub_web/ and realtime/
# The cache folder is $CPG_CACHE_DIR (default: ~/.cache/cpg); the tarballs
# are read from $CPG_REALAPPS (default: ../shared/realapps beside the checkout).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
src="${CPG_REALAPPS:-$here/../shared/realapps}"
cache="${CPG_CACHE_DIR:-$HOME/.cache/cpg}/realapps"
mkdir -p "$cache"
# One unpacking at a time (tests run this side by side): the others wait,
# then find the stamps written.
exec 9>"$cache/.lock"
flock 9
for app in nerves_hub_web realtime; do
  tarball="$src/$app.tar.xz"
  if [ ! -f "$tarball" ]; then
    echo "fetch-realapps: $tarball not found (set CPG_REALAPPS to the folder holding the tarballs)" >&2
    exit 1
  fi
  stamp="$cache/.$app.complete"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(stat -c %s "$tarball")" ] && [ -d "$cache/$app/deps" ]; then
    continue
  fi
  rm -f "$stamp"
  rm -rf "${cache:?}/$app"
  tar -xJf "$tarball" -C "$cache"
  stat -c %s "$tarball" > "$stamp"
done
echo "$cache"
