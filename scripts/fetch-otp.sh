#!/usr/bin/env bash
# Fetch Debian's Erlang/OTP packages (compiled BEAM files and source) into
# ~/.cache/cpg/otp and print the OTP lib/ folder, for scripts/gen-stdlib.sh.
# Needs apt-get and dpkg-deb (Debian's mirrors); nothing is installed.
set -euo pipefail
dir="${CPG_OTP_CACHE:-$HOME/.cache/cpg/otp}"
packages=(erlang-base erlang-crypto erlang-public-key erlang-ssl erlang-inets
  erlang-asn1 erlang-mnesia erlang-runtime-tools erlang-os-mon erlang-xmerl
  erlang-syntax-tools erlang-tools erlang-ssh erlang-eldap erlang-parsetools
  erlang-ftp erlang-tftp erlang-src)
mkdir -p "$dir"
cd "$dir"
if [ ! -d root/usr/lib/erlang/lib ]; then
  apt-get download "${packages[@]}" >&2
  for deb in ./*.deb; do dpkg-deb -x "$deb" root; done
fi
echo "$dir/root/usr/lib/erlang/lib"
