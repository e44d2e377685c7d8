#!/usr/bin/env bash
# A minimal Debian root filesystem with Python 3, built with debootstrap from Debian's
# packages and cached as a tarball keyed by its inputs. Prints the tarball's path.
#
#   e2e/rootfs.sh            (needs root and debootstrap: apt-get install debootstrap)
#
# Environment: BERTH_E2E_CACHE (default ~/.cache/berth-e2e), DEBIAN_SUITE (bookworm),
# DEBIAN_MIRROR (http://deb.debian.org/debian), DEBIAN_PACKAGES (comma-separated packages
# added to debootstrap's minbase; default: Python 3 with venv, ca-certificates, procps).
set -euo pipefail

suite="${DEBIAN_SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${BERTH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-e2e}"
packages="${DEBIAN_PACKAGES:-python3,python3-venv,ca-certificates,procps}"
# Bump when the recipe below changes.
recipe=1

key="$(printf '%s\n' "$recipe" "$suite" "$mirror" "$packages" "$(uname -m)" | sha256sum | cut -c1-16)"
tarball="$cache/rootfs-$suite-$key.tar"
if [ -s "$tarball" ]; then
    echo "$tarball"
    exit 0
fi

command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/rootfs-work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "building the $suite root filesystem with debootstrap (cached as $tarball)" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -30 "$work/debootstrap.log" >&2
    exit 1
}
# Smaller image: no apt lists or package caches.
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/var/cache/apt/archives/"*.deb
tar -C "$work/root" --numeric-owner -cf "$work/rootfs.tar" .
mv "$work/rootfs.tar" "$tarball"
echo "$tarball"
