"""The check that the dask extra is installed, worded as a user error."""

from __future__ import annotations

from importlib.util import find_spec

from ..errors import HeldoutError

INSTALL_HINT = 'pip install "heldout-influence[dask]" (from a checkout: pip install -e ".[dask]")'


def require(module: str = "distributed") -> None:
    """HeldoutError, one line naming the ``pip install`` to run, when ``module`` (Dask's
    ``distributed`` or ``dask_jobqueue``) cannot be imported."""
    try:
        found = find_spec(module) is not None
    except (ImportError, ValueError):  # a module hidden as None in sys.modules, a broken install
        found = False
    if not found:
        raise HeldoutError(f"running on a cluster needs the dask extra ({module} is not installed): {INSTALL_HINT}.")
