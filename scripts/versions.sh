# The Python and the pinned PyPI releases that berth's scripts and end-to-end runs install,
# in one place; sourced by scripts/build-wheel.sh, scripts/python-tests.sh and e2e/lib.sh.

python="${PYTHON:-python3}"
# The NVFlare release the drop-in is verified against.
nvflare_version="2.9.0"
maturin_version="1.16.0"
pytest_version="9.2.0"
numpy_version="2.4.6"
ziglang_version="0.13.0"
auditwheel_version="6.8.2"
