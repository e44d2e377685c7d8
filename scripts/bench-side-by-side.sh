#!/usr/bin/env bash
# berth's NVFlare drop-in against NVFlare's own Docker job launcher, in one Python process
# (python/bench/nvflare_side_by_side.py). Sets up the Python suite's virtual environment
# with berth's native part built in release mode (scripts/python-tests.sh, collection only),
# then runs the benchmark with the given options.
#
#   scripts/bench-side-by-side.sh --out bench-results/side-by-side [--samples 20] ...
#
# Not part of CI: a full run takes about 10 minutes and its figures need a quiet machine.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BERTH_VENV:-$repo/target/python-venv}"
export BERTH_VENV="$venv"
BERTH_PY_PROFILE="${BERTH_PY_PROFILE:-release}" "$repo/scripts/python-tests.sh" --collect-only -q >/dev/null
exec "$venv/bin/python" "$repo/python/bench/nvflare_side_by_side.py" "$@"
