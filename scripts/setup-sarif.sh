#!/usr/bin/env bash
# Makes this machine able to run the SARIF test: the official SARIF 2.1.0
# JSON schema (OASIS), taken from a registry package (the serde-sarif crate
# on crates.io carries it as src/schema.json; both checksums pinned), and a
# JSON Schema validator (Python's jsonschema, in its own virtualenv), under
# ~/.cache/cpg/sarif (CPG_SARIF_TOOLS elsewhere). Idempotent. Prints the
# folder.
#
# Usage: scripts/setup-sarif.sh
set -euo pipefail

say() { echo "setup-sarif: $*" >&2; }

tools=${CPG_SARIF_TOOLS:-$HOME/.cache/cpg/sarif}
schema="$tools/sarif-schema-2.1.0.json"
crate_sha=a053c46f18a8043570d4e32fefc4c6377f82bf29ec310a33e93f273048e3b0be
schema_sha=af47e7b67f24efe74076621fd3a5fbe7398add9e84fe820c971219a385895cea
mkdir -p "$tools"

if [ ! -f "$schema" ] || ! echo "$schema_sha  $schema" | sha256sum -c --quiet - 2>/dev/null; then
    say "fetching the SARIF 2.1.0 schema (crate serde-sarif 0.8.0 from crates.io)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    curl -sSfL --retry 3 -o "$tmp/serde-sarif.crate" \
        https://static.crates.io/crates/serde-sarif/serde-sarif-0.8.0.crate
    echo "$crate_sha  $tmp/serde-sarif.crate" | sha256sum -c --quiet -
    tar -xzf "$tmp/serde-sarif.crate" -C "$tmp" serde-sarif-0.8.0/src/schema.json
    echo "$schema_sha  $tmp/serde-sarif-0.8.0/src/schema.json" | sha256sum -c --quiet -
    mv "$tmp/serde-sarif-0.8.0/src/schema.json" "$schema"
fi

CPG_SARIF_TOOLS=$tools exec bash "$(dirname "$0")/setup-venv.sh" sarif CPG_SARIF_TOOLS jsonschema 4.26.0
