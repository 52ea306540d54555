"""heldout-influence: memorization, influence and C-scores with confidence intervals from
subsampled training runs (Feldman & Zhang 2020; Jiang et al. 2021).

Importing this package loads numpy only; TensorFlow lives in the plugins, and the Numba kernels
are imported (and compile on first use) only by the estimators.

Modules, bottom up (each imports only the ones above it in this list):

- ``errors``, ``params``, ``resources``, ``schema``: user-error types, checks of shared
  parameters, memory budgets, typed checks of JSON read back;
- ``bitpack``, ``records``: bit-packed runs, :class:`Run`, :class:`RunSet`, :class:`RunSetBuilder`;
- ``atomic``, ``locks``, ``npz``: atomic writes and staging folders, file locks, safe ``.npz`` reading;
- ``aux_arrays``, ``layout``, ``store``, ``loading``, ``leftovers``: the per-run record file, the
  release folder layout (``run.json``, ``settings.json``), the compact store, :func:`load_runs`,
  and what interrupted jobs leave behind;
- ``kernels``, ``intervals``, ``estimators``: Numba counts, interval methods, the statistics;
- ``diagnostics``, ``reliability``, ``planning``, ``compare``: whether the models fit, how stable
  the scores are, how many runs an interval width needs, agreement with published scores;
- ``experiment``, ``hookspecs``, ``plugins``: the plugin contract and registry;
- ``training``, ``archive``, ``verify``, ``survey``: training runs, importing released archives,
  checking checkpoints, checking folders of records;
- ``example_images``, ``report``: figures and the HTML report (matplotlib, imported there only);
- ``distributed``: Dask execution (imported only with a cluster flag);
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
