"""heldout-influence: memorization, influence and C-scores with confidence intervals from
subsampled training runs (Feldman & Zhang 2020; Jiang et al. 2021).

Importing this package loads numpy only; TensorFlow lives in the plugins, and the Numba kernels
compile on first use.
"""

from .errors import HeldoutError
from .hookspecs import hookimpl  # noqa: F401  (plugins write `from heldout_core import hookimpl`)
from .io import load_runs, read_aux_arrays, write_aux_arrays, write_release_layout
from .records import Run, RunSet
from .store import read_store, write_store

__version__ = "0.1.0"

__all__ = [
    "HeldoutError",
    "Run",
    "RunSet",
    "load_runs",
    "read_aux_arrays",
    "read_store",
    "write_aux_arrays",
    "write_release_layout",
    "write_store",
]
