#!/usr/bin/env bash
# Makes this machine able to run the LSP test: pygls's language client (with
# lsprotocol) under ~/.cache/cpg/lsp (CPG_LSP_TOOLS elsewhere).
set -euo pipefail
exec bash "$(dirname "$0")/setup-venv.sh" lsp CPG_LSP_TOOLS pygls 2.1.1
