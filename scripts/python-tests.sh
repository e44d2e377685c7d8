#!/usr/bin/env bash
# berth's Python test suite: a virtual environment with NVFlare from PyPI, pytest, and
# berth installed from this repository with pip (maturin builds the native part), then
# pytest over python/tests.
#
#   scripts/python-tests.sh [pytest args...]
#
# Environment:
#   BERTH_VENV            the venv to create or reuse (default: target/python-venv)
#   BERTH_PY_PROFILE      cargo profile for the native part: dev (default, quicker to
#                         build) or release
#   CARGO_TARGET_DIR      cargo's target dir (default: target, shared with cargo test)
#   BERTH_REQUIRE_DOCKER  1: a missing engine fails the engine tests instead of skipping
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/versions.sh"
venv="${BERTH_VENV:-$repo/target/python-venv}"
profile="${BERTH_PY_PROFILE:-dev}"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv"
    "$python" -m venv "$venv"
fi
echo "== installing nvflare==$nvflare_version, pytest, maturin"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "nvflare==$nvflare_version" "pytest==$pytest_version" \
    "maturin==$maturin_version"

echo "== building and installing berth from $repo (cargo profile $profile)"
start=$(date +%s)
# --no-build-isolation: build with the venv's pinned maturin instead of fetching one.
PATH="$venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile $profile" \
    "$venv/bin/python" -m pip install --quiet --no-build-isolation --force-reinstall --no-deps "$repo"
echo "   built and installed in $(( $(date +%s) - start ))s"
"$venv/bin/python" -c 'import berth, berth.nvflare; assert berth.native_available(); print("   berth", berth.__version__, "native part OK")'

echo "== pytest"
cd "$repo/python"
exec "$venv/bin/python" -m pytest tests -p no:cacheprovider "$@"
