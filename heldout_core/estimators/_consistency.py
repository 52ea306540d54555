"""Consistency (C-)scores of training examples (Jiang et al. 2021)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..bitpack import run_mask_words
from ..intervals import interval_spec, weighted_proportion_intervals
from ..records import RunSet
from ._common import CSCORE_STREAMS, Estimates, check_runs


@dataclass(frozen=True)
class ConsistencyResult(Estimates):
    """C-scores per training example.

    ``estimate``/``ci_low``/``ci_high`` (n_train,): unweighted mean over ``ratios`` (K,) of the
    held-out accuracy; ``per_ratio``/``per_ratio_ci_low``/``per_ratio_ci_high`` (n_train, K):
    held-out accuracy at each ratio with a Wilson (or bootstrap) interval; ``n_out`` /
    ``correct_out`` (n_train, K): the counts behind them. ``n_undefined`` counts the examples
    never held out at one or more of the ratios.
    """

    ratios: np.ndarray
    per_ratio: np.ndarray
    per_ratio_ci_low: np.ndarray
    per_ratio_ci_high: np.ndarray
    n_out: np.ndarray
    correct_out: np.ndarray


def consistency(runs: RunSet, *, confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000,
                seed: int | None = 0) -> ConsistencyResult:
    """C-score of each training example from runs at one or several subset ratios.

    C-score(i) = unweighted mean over subset ratios of (#runs at that ratio with i out and i
    correct) / (#runs at that ratio with i out). The held-out accuracy at each ratio has a Wilson
    score interval (``"newcombe"``; a bootstrap interval for the bootstrap methods); the mean
    over ratios has the MOVER-Wilson interval, since runs at different ratios are independent.
    They are when trained here (seeded by seed, ratio and run id); records whose run i shares
    its seed across ratios (the original C-score demo's ``RandomState(i)``, nested subsets) get
    intervals that are too narrow.
    """
    runs = check_runs(runs, one_ratio=False)
    spec = interval_spec(confidence, method, n_boot, seed)
    ratios = runs.ratios
    n_out = np.empty((runs.n_train, len(ratios)), dtype=np.int64)
    correct_out = np.empty_like(n_out)
    for k, ratio in enumerate(ratios):
        selected = run_mask_words(np.isclose(runs.subset_ratio, ratio, rtol=0, atol=1e-9))
        _, _, n_out[:, k], correct_out[:, k] = kernels.holdout_counts(runs.train_mask_bits, runs.correct_train_bits,
                                                                      selected)
    # a ratio's interval for example i has its own stream, whatever other ratios are present
    per_streams = CSCORE_STREAMS + (1 + np.round(ratios * 1e6).astype(np.int64))[None, :] * runs.n_train \
        + np.arange(runs.n_train)[:, None]
    per = weighted_proportion_intervals(correct_out.reshape(-1, 1), n_out.reshape(-1, 1), [1.0], spec,
                                        per_streams.reshape(-1))
    mean = weighted_proportion_intervals(correct_out, n_out, np.full(len(ratios), 1.0 / len(ratios)), spec,
                                         CSCORE_STREAMS + np.arange(runs.n_train))
    shape = n_out.shape
    return ConsistencyResult(
        estimate=mean.estimate, ci_low=mean.ci_low, ci_high=mean.ci_high, standard_error=mean.standard_error,
        confidence=spec.confidence, method=spec.method, ratios=ratios, per_ratio=per.estimate.reshape(shape),
        per_ratio_ci_low=per.ci_low.reshape(shape), per_ratio_ci_high=per.ci_high.reshape(shape),
        n_out=n_out, correct_out=correct_out)
