#!/usr/bin/env bash
# The berth CLI as one fully static x86_64 executable (glibc linked statically, SQLite
# bundled), copyable onto any x86_64 Linux host. Checks that the file really is static and
# prints its path.
#
#   scripts/build-static-cli.sh [OUTPUT_DIR]     (default: target/static)
#
# Needs the x86_64-unknown-linux-gnu target and glibc's static libraries (libc6-dev).
# Environment: BERTH_STATIC_PROFILE (cargo profile: release, the default, or dev),
# CARGO_TARGET_DIR.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/target/static}"
profile="${BERTH_STATIC_PROFILE:-release}"
target=x86_64-unknown-linux-gnu
target_dir="${CARGO_TARGET_DIR:-$repo/target}"

# --target keeps RUSTFLAGS off build scripts and proc macros, which must stay dynamic.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --manifest-path "$repo/Cargo.toml" --locked -p berth-cli --bin berth \
    --profile "$profile" --target "$target" >&2
case "$profile" in dev) dir=debug ;; *) dir="$profile" ;; esac
mkdir -p "$out"
cp "$target_dir/$target/$dir/berth" "$out/berth"

# Line tables are for the developer's build; the file handed to sites carries no symbols.
strip "$out/berth"

# `file` and `ldd` must both say static: no program interpreter, no shared library.
description="$(file -b "$out/berth")"
case "$description" in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) echo "error: $out/berth is not static: $description" >&2; exit 1 ;;
esac
# ldd exits 0 with "statically linked" for a static PIE, 1 with "not a dynamic executable"
# for a static non-PIE; a dynamic file lists libraries as "name => path".
ldd_out="$(ldd "$out/berth" 2>&1 || true)"
case "$ldd_out" in
    *"=>"*) echo "error: ldd lists shared libraries for $out/berth:" >&2; echo "$ldd_out" >&2; exit 1 ;;
    *"statically linked"* | *"not a dynamic executable"*) ;;
    *) echo "error: unexpected ldd output for $out/berth: $ldd_out" >&2; exit 1 ;;
esac
echo "static: $description; ldd: $(echo $ldd_out)" >&2
echo "$out/berth"
