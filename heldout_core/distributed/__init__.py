"""Training and estimating on a Dask cluster (the ``dask`` extra: ``dask[distributed]`` and
``dask-jobqueue``).

Nothing here is imported by ``import heldout_core``: the command line loads it only when a
cluster flag (``--cluster``, ``--scheduler``, ``--scheduler-file``) is given, and a notebook
imports it with its own ``distributed.Client``:

- :func:`train_runs` (:mod:`.training`): :func:`heldout_core.training.train_runs` with every job
  (one run, or one batch of runs) a task on the cluster; workers build the experiment through
  the plugin registry and load its data once per process (:mod:`.worker_state`), and write the
  run folders to the shared ``out`` exactly as a local job does.
- :func:`influence_topk`, :func:`influence_pairs`, :func:`influence_matrix`
  (:mod:`.estimation`): the estimators of :mod:`heldout_core.estimators`, split into blocks of
  test examples that workers compute from the same records on a shared path; the results are
  bit-identical to the single-process ones, intervals included.
- :func:`open_cluster` (:mod:`.clusters`): the clusters of the command-line flags (local worker
  processes, an existing scheduler, or SLURM/PBS/SGE/LSF jobs through dask-jobqueue).

What must be shared between the client and every worker: the records (or the ``--out`` of a
training job) and the data path, on one file system; and the same installed packages (this
project and the plugins whose experiments are trained, found through their entry points).
"""

from __future__ import annotations

from .extra import INSTALL_HINT, require

require()

from .clusters import Cluster, ClusterRequest, open_cluster  # noqa: E402
from .estimation import Records, influence_matrix, influence_pairs, influence_topk  # noqa: E402
from .training import ClusterExecutor, train_runs  # noqa: E402

__all__ = ["Cluster", "ClusterExecutor", "ClusterRequest", "INSTALL_HINT", "Records", "influence_matrix",
           "influence_pairs", "influence_topk", "open_cluster", "require", "train_runs"]
