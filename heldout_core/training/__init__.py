"""Training: subset designs and the run driver (no framework import; experiments bring their own).

- :mod:`.subsets`: which examples each run trains on (random and balanced designs).
- :mod:`.data`: the data a job trains on (loaded, checked, label noise, ``labels.npz``).
- :mod:`.driver`: :func:`train_runs`, which plans and trains runs and writes them, resuming after
  interruptions; one :class:`~.driver.JobRunner` trains a job, in this process or on a cluster
  worker (:mod:`heldout_core.distributed`).
- :mod:`.quickstart`: the digits-with-flipped-labels demonstration behind ``heldout quickstart``.
"""

from ..layout import is_finished
from .driver import TrainSummary, train_runs
from .subsets import DESIGNS, random_subset, run_seed, subset

__all__ = ["DESIGNS", "TrainSummary", "is_finished", "random_subset", "run_seed", "subset", "train_runs"]
