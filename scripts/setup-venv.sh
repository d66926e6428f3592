#!/usr/bin/env bash
# Installs one pinned Python package in its own virtualenv under
# ~/.cache/cpg/NAME (or $ENV_VAR), for the tests that drive cpg with a
# real client. Idempotent. Prints the folder.
#
# Usage: scripts/setup-venv.sh NAME ENV_VAR PACKAGE VERSION
set -euo pipefail

name=$1 var=$2 package=$3 version=$4
tools=${!var:-$HOME/.cache/cpg/$name}
if ! "$tools/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$package') != '$version')" 2>/dev/null; then
    echo "setup-$name: installing $package $version in $tools/venv" >&2
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "$package==$version"
fi
echo "$tools"
