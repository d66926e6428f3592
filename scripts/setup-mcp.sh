#!/usr/bin/env bash
# Makes this machine able to run the MCP test: the official MCP Python SDK
# (PyPI `mcp`) in its own virtualenv under ~/.cache/cpg/mcp (CPG_MCP_TOOLS
# elsewhere). Idempotent. Prints the folder.
#
# Usage: scripts/setup-mcp.sh
set -euo pipefail

tools=${CPG_MCP_TOOLS:-$HOME/.cache/cpg/mcp}
version=2.3.0
if ! "$tools/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$version')" 2>/dev/null; then
    echo "setup-mcp: installing the MCP Python SDK $version in $tools/venv" >&2
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "mcp==$version"
fi
echo "$tools"
