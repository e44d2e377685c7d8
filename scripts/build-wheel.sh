#!/usr/bin/env bash
# berth's portable wheel: abi3 (CPython >= 3.10), linked with zig against glibc 2.17 so it
# carries the manylinux2014 tag (manylinux_2_17_x86_64) that older distributions accept.
# `auditwheel show` must confirm that tag; prints the wheel's path.
#
#   scripts/build-wheel.sh [OUTPUT_DIR]     (default: target/wheels)
#
# Build tools (maturin, ziglang, auditwheel) come from PyPI, pinned, into a venv cached
# under BERTH_E2E_CACHE (default ~/.cache/berth-e2e). Environment: BERTH_WHEEL_PROFILE
# (cargo profile: release, the default, or dev), CARGO_TARGET_DIR (default
# target/manylinux, apart from the host build's so each keeps its own artifacts).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/versions.sh"
out="${1:-$repo/target/wheels}"
profile="${BERTH_WHEEL_PROFILE:-release}"
cache="${BERTH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-e2e}"
# manylinux2014 = glibc 2.17: the oldest glibc a Rust toolchain of this era links against.
platform_tag="manylinux_2_17_x86_64"

tools="$cache/wheel-tools-$maturin_version-$ziglang_version-$auditwheel_version"
if [ ! -f "$tools/.complete" ]; then
    echo "creating the wheel tools venv ($tools)" >&2
    rm -rf "$tools"
    "$python" -m venv "$tools"
    "$tools/bin/pip" install -q "maturin==$maturin_version" "ziglang==$ziglang_version" \
        "auditwheel==$auditwheel_version" >&2
    touch "$tools/.complete"
fi

rm -rf "$out"
mkdir -p "$out"
# The venv first on PATH: maturin runs zig as `python3 -m ziglang` from it.
(cd "$repo" && PATH="$tools/bin:$PATH" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/manylinux}" \
    "$tools/bin/maturin" build --locked --profile "$profile" --zig --compatibility manylinux2014 \
    -o "$out" >&2)
wheels=("$out"/berth-*.whl)
[ "${#wheels[@]}" = 1 ] && [ -f "${wheels[0]}" ] || { echo "error: expected one wheel in $out" >&2; exit 1; }
wheel="${wheels[0]}"

case "$(basename "$wheel")" in
    *-cp310-abi3-*"$platform_tag"*) ;;
    *) echo "error: $(basename "$wheel") is not a cp310-abi3 $platform_tag wheel" >&2; exit 1 ;;
esac
# auditwheel reads the symbol versions the extension really needs, not the file name.
report="$("$tools/bin/auditwheel" show "$wheel")"
echo "$report" >&2
if ! grep -q "\"$platform_tag\"" <<<"$report"; then
    echo "error: auditwheel does not place $(basename "$wheel") under $platform_tag" >&2
    exit 1
fi
echo "$wheel"
