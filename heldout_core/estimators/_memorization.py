"""Memorization of each training example (Feldman & Zhang 2020)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..bitpack import all_runs_words
from ..intervals import interval_spec
from ..records import RunSet
from ._common import DifferenceEstimates, check_runs, difference_estimates


@dataclass(frozen=True)
class MemorizationResult(DifferenceEstimates):
    """Memorization per training example: ``estimate``, ``ci_low``, ``ci_high`` and the counts
    ``n_in``, ``n_out``, ``correct_in``, ``correct_out``, arrays of shape (n_train,);
    ``n_undefined`` counts the examples never trained on or never held out."""


def memorization(runs: RunSet, *, confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000,
                 seed: int | None = 0) -> MemorizationResult:
    """Memorization of each training example: accuracy on it when trained on it minus when not.

    Args:
        runs: runs at one subset ratio.
        confidence: two-sided level of the intervals.
        method: ``"newcombe"`` (default), ``"bootstrap"`` or ``"bca"``; see :mod:`heldout_core.intervals`.
        n_boot, seed: bootstrap replicates and seed (bootstrap methods only); the default seed 0
            makes a call reproducible, None draws a fresh one (not recorded).
    """
    runs = check_runs(runs)
    spec = interval_spec(confidence, method, n_boot, seed)
    n_in, correct_in, n_out, correct_out = kernels.holdout_counts(
        runs.train_mask_bits, runs.correct_train_bits, all_runs_words(runs.n_runs))
    return MemorizationResult(**difference_estimates(correct_in, n_in, correct_out, n_out, spec, np.arange(runs.n_train)))
