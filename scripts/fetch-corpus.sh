#!/usr/bin/env bash
# Fetch the Elixir 1.14 standard library source (Debian's elixir-lang source
# package) into a cache folder, for the integration tests and benchmarks, and
# the same version compiled (Debian's elixir binary package: its .beam files),
# against which the tests check that resolved calls are what the compiler emits.
#
# Usage: scripts/fetch-corpus.sh            # prints the corpus lib/ directory
# The compiled modules land in $CACHE/corpus/beam/*.beam.
# The cache folder is $CPG_CACHE_DIR (default: ~/.cache/cpg). Nothing is fetched
# when the corpus is already there. Needs root (or sudo) the first time, to enable
# Debian source packages in apt's configuration.
set -euo pipefail

cache="${CPG_CACHE_DIR:-$HOME/.cache/cpg}/corpus"
lib="$cache/elixir-1.14.0/lib"
if [ -f "$cache/.complete" ] && [ -d "$lib" ] && [ -d "$cache/beam" ]; then
  echo "$lib"
  exit 0
fi
mkdir -p "$cache"
# One fetch at a time: tests that need the corpus run this side by side, and
# one's `rm -rf` in the middle of another's unpacking left a partial tree
# marked complete. The others wait here, then find it done.
exec 9>"$cache/.lock"
flock 9
if [ -f "$cache/.complete" ] && [ -d "$lib" ] && [ -d "$cache/beam" ]; then
  echo "$lib"
  exit 0
fi
rm -f "$cache/.complete"

say() { echo "fetch-corpus: $*" >&2; }
. "$(dirname "$0")/common.sh"

# Enable deb-src entries mirroring the machine's own binary sources (the registry
# host is read from apt's configuration, never written here).
src=/etc/apt/sources.list.d/debian.sources
srcs=/etc/apt/sources.list.d/debian-src.sources
if [ -f "$src" ] && [ ! -f "$srcs" ]; then
  sed 's/^Types: deb$/Types: deb-src/' "$src" | as_root tee "$srcs" >/dev/null
  as_root apt-get update -qq >&2
elif ! apt-cache showsrc elixir >/dev/null 2>&1; then
  as_root apt-get update -qq >&2
fi

cd "$cache"
if ! ls elixir-lang_1.14.0*.orig.tar.* >/dev/null 2>&1; then
  # apt-get source runs as whoever we are; --download-only needs no build deps.
  apt-get source --download-only elixir >&2
fi
tarball=$(ls elixir-lang_1.14.0*.orig.tar.* | head -n 1)
rm -rf elixir-1.14.0
tar xf "$tarball"
if [ ! -d "$lib" ]; then
  echo "fetch-corpus: $tarball did not unpack to $lib" >&2
  exit 1
fi

# The compiled standard library of the same version.
if ! ls elixir_1.14.0*.deb >/dev/null 2>&1; then
  apt-get download elixir >&2
fi
deb=$(ls elixir_1.14.0*.deb | head -n 1)
rm -rf beam deb-root
dpkg-deb -x "$deb" deb-root
mkdir -p beam
find deb-root -name '*.beam' -path '*/ebin/*' -exec cp {} beam/ \;
rm -rf deb-root
if ! ls beam/Elixir.Enum.beam >/dev/null 2>&1; then
  echo "fetch-corpus: $deb holds no Elixir.Enum.beam" >&2
  exit 1
fi
touch .complete
echo "$lib"
