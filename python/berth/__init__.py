"""berth: NVFlare's Docker job launcher, re-implemented with no lost exit codes.

Switch a site to berth by changing the launcher component's class path in
``local/resources.json`` to ``berth.nvflare.ClientDockerJobLauncher`` or
``berth.nvflare.ServerDockerJobLauncher``; see :mod:`berth.nvflare`.

Importing this package needs neither NVFlare nor the native part (``berth._native``); the
native part is loaded on the first launch only, so a job container that shares the
site's ``resources.json`` can build the launcher component from the pure-Python files.
"""

import pkgutil

# A pure-Python copy of berth (for instance under a site's local/custom, which job
# containers get on their PYTHONPATH) may come first on sys.path in a parent whose
# installed berth has the native part: let both directories serve the package.
__path__ = pkgutil.extend_path(__path__, __name__)

__all__ = ["__version__", "native_available"]


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python >= 3.10 always has it
        return "unknown"
    try:
        return version("berth")
    except PackageNotFoundError:
        return "unknown"


__version__ = _version()


def native_available() -> bool:
    """Whether the native part (``berth._native``) can be imported here."""
    try:
        from berth import _native  # noqa: F401
    except ImportError:
        return False
    return True
