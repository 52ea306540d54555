"""heldout-influence: memorization, influence and C-scores with confidence intervals from
subsampled training runs (Feldman & Zhang 2020; Jiang et al. 2021).

Importing this package loads numpy only; TensorFlow lives in the plugins, and the Numba kernels
are imported (and compile on first use) only by the estimators.

Modules, bottom up (each imports only the ones above it in this list):

- ``errors``, ``params``: the user-error types and the checks of shared parameters;
- ``bitpack``, ``records``: bit-packed runs, :class:`Run`, :class:`RunSet`, :class:`RunSetBuilder`;
- ``atomic``, ``npz``: atomic writes, safe ``.npz`` reading;
- ``aux_arrays``, ``layout``, ``store``, ``loading``: the per-run record file, the release
  folder layout, the compact store, and :func:`load_runs`;
- ``kernels``, ``intervals``, ``estimators``: Numba counts, interval methods, the statistics;
- ``experiment``, ``example_images``, ``hookspecs``, ``plugins``: the plugin contract (and
  pictures of examples for figures) and the registry;
- ``training``, ``archive``, ``verify``, ``survey``: training runs, importing released archives,
  checking checkpoints, checking folders of records;
- ``distributed``: training and estimating on a Dask cluster (the ``dask`` extra, imported only
  there, by a cluster flag or by a notebook that asks for it);
- ``report``: figures and the HTML report (matplotlib, imported only there);
- ``cli``: the ``heldout`` command, one module per command.
"""

from .aux_arrays import read_aux_arrays, write_aux_arrays
from .errors import HeldoutError, ParameterError
from .hookspecs import hookimpl  # noqa: F401  (plugins write `from heldout_core import hookimpl`)
from .layout import write_release_layout
from .loading import load_runs
from .records import Run, RunSet, RunSetBuilder
from .store import read_store, write_store
from .version import __version__

__all__ = [
    "HeldoutError",
    "ParameterError",
    "Run",
    "RunSet",
    "RunSetBuilder",
    "__version__",
    "load_runs",
    "read_aux_arrays",
    "read_store",
    "write_aux_arrays",
    "write_release_layout",
    "write_store",
]
