#!/usr/bin/env bash
# Makes this machine able to run the MCP tests: the official MCP Python SDK
# under ~/.cache/cpg/mcp (CPG_MCP_TOOLS elsewhere).
set -euo pipefail
exec bash "$(dirname "$0")/setup-venv.sh" mcp CPG_MCP_TOOLS mcp 2.3.0
