#!/usr/bin/env bash
# Regenerate partition/src/library/stdlib.tsv: what Elixir's own applications
# export (functions and macros by arity) and what `use` of their modules
# injects, from the Elixir 1.14 corpus (source and Debian's compiled BEAM
# files, see fetch-corpus.sh) and from the source of a newer release; and
# what the common OTP applications export (Debian's Erlang/OTP BEAM files
# and source, see fetch-otp.sh).
#
# Usage: scripts/gen-stdlib.sh NEWER_VERSION NEWER_LIB_DIR
#   e.g. scripts/gen-stdlib.sh 1.20.3 /path/to/elixir-1.20.3/lib
# (the lib/ folder of a release's source, as in the GitHub repository's tag).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ] || [ ! -d "$2/elixir/lib" ]; then
  echo "usage: $0 NEWER_VERSION NEWER_LIB_DIR (a release's lib/, holding elixir/lib)" >&2
  exit 2
fi
corpus_lib=$(bash scripts/fetch-corpus.sh)
beam="$(dirname "$(dirname "$corpus_lib")")/beam"
otp_lib=$(bash scripts/fetch-otp.sh)
otp_release=$(find "$otp_lib/../releases" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -1)
otp_full=$(cat "$otp_lib/../releases/$otp_release/OTP_VERSION")
cargo run --release -q -p partition --example gen_stdlib -- \
  --source "1.14.0=$corpus_lib" --beam "1.14.0=$beam" --source "$1=$2" \
  --otp "$otp_full=$otp_lib" \
  > partition/src/library/stdlib.tsv.new
mv partition/src/library/stdlib.tsv.new partition/src/library/stdlib.tsv
wc -l partition/src/library/stdlib.tsv
