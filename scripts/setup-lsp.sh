#!/usr/bin/env bash
# Makes this machine able to run the LSP test: pygls's language client
# (PyPI `pygls`, with `lsprotocol`) in its own virtualenv under
# ~/.cache/cpg/lsp (CPG_LSP_TOOLS elsewhere). Idempotent. Prints the folder.
#
# Usage: scripts/setup-lsp.sh
set -euo pipefail

tools=${CPG_LSP_TOOLS:-$HOME/.cache/cpg/lsp}
version=2.1.1
if ! "$tools/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pygls') != '$version')" 2>/dev/null; then
    echo "setup-lsp: installing pygls $version in $tools/venv" >&2
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "pygls==$version"
fi
echo "$tools"
