#!/usr/bin/env bash
# Makes this machine able to build and run the deploy/ containers without a
# Docker engine or an image registry: podman and podman-compose, podman's
# settings for a sandbox without systemd, and the Debian base image the
# Dockerfile starts from, built from Debian's packages (debootstrap) and
# named as the Dockerfile names it. Idempotent: what is there is kept.
#
# Usage: scripts/setup-containers.sh   (as root, or with sudo)
set -euo pipefail

say() { echo "setup-containers: $*" >&2; }
. "$(dirname "$0")/common.sh"

install_missing podman:podman debootstrap:debootstrap runc:runc strip:binutils pip3:python3-pip
if ! command -v podman-compose >/dev/null; then
    say "installing podman-compose"
    as_root pip3 install -q --break-system-packages podman-compose 2>/dev/null \
        || as_root pip3 install -q podman-compose
fi

# No systemd and no cgroup delegation here: cgroupfs, runc, no default ulimits.
conf=/etc/containers/containers.conf
if ! grep -qs 'cgroup_manager = "cgroupfs"' "$conf"; then
    say "writing $conf"
    as_root mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n' \
        | as_root tee "$conf" >/dev/null
fi

base=docker.io/library/debian:bookworm-slim
if ! podman image exists "$base"; then
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d)
    trap 'as_root rm -rf "$rootfs"' EXIT
    say "building $base from $mirror (debootstrap, about 30 s)"
    as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    as_root tar -C "$rootfs" -c . | podman import -q - "$base" >/dev/null
fi
say "ready: $(podman --version), $(podman-compose --version 2>/dev/null | tail -1)"
