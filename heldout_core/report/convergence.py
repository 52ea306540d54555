"""How interval widths shrink with the number of runs, measured on the records themselves.

The runs are put in a random order and the statistic is estimated on nested prefixes of it (the
first 10 runs, the first 17, ..., all R), so each point is what a user would have had after
training that many runs. If the widths still fall like 1/sqrt(runs) at R, more runs would
narrow the intervals by that much; where many examples are still undefined at small counts, the
defined fraction shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import HeldoutError
from ..records import RunSet

MAX_EXAMPLES = 20_000  # examples sampled for the curve: the width distribution needs no more
POINTS = 8
FIRST = 10
PERCENTILES = (10.0, 90.0)
STATISTICS = ("memorization", "C-score")


@dataclass(frozen=True)
class IntervalWidthCurve:
    """Interval widths of one statistic on nested subsets of the runs.

    Attributes (P points):
        statistic: ``"memorization"`` or ``"C-score"``.
        n_runs: int64 (P,), runs in each nested subset, ascending; the last is all runs.
        median, low, high: float64 (P,), median and 10th / 90th percentiles of the interval
            widths (ci_high - ci_low) over the defined examples (NaN where none is defined).
        defined: float64 (P,), fraction of the sampled examples with a defined estimate.
        n_examples: examples the widths are taken over (all, or a random sample of
            :data:`MAX_EXAMPLES`).
        confidence, method: of the intervals.
    """

    statistic: str
    n_runs: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    defined: np.ndarray
    n_examples: int
    confidence: float
    method: str


def _sample_examples(runs: RunSet, max_examples: int, rng: np.random.Generator) -> RunSet:
    """The runs restricted to at most ``max_examples`` randomly chosen training examples."""
    if runs.n_train <= max_examples:
        return runs
    rows = np.sort(rng.choice(runs.n_train, max_examples, replace=False))
    return RunSet(train_mask_bits=runs.train_mask_bits[rows], correct_train_bits=runs.correct_train_bits[rows],
                  correct_test_bits=None, subset_ratio=runs.subset_ratio, run_id=runs.run_id, seed=runs.seed,
                  experiment=runs.experiment)


def run_counts(total: int, points: int = POINTS, first: int = FIRST) -> np.ndarray:
    """Nested subset sizes from ``min(first, total)`` to ``total``, evenly spaced on a log scale."""
    if total < 2:
        return np.array([total], dtype=np.int64)
    start = min(first, total)
    return np.unique(np.round(np.geomspace(start, total, points)).astype(np.int64))


def interval_width_curve(runs: RunSet, statistic: str = "memorization", *, confidence: float = 0.95,
                         method: str = "newcombe", seed: int = 0, points: int = POINTS,
                         max_examples: int = MAX_EXAMPLES) -> IntervalWidthCurve:
    """Widths of the ``statistic``'s intervals on nested random subsets of ``runs``.

    Args:
        runs: at one subset ratio for memorization; any ratios for C-scores (a prefix holds the
            ratios in the proportions of the whole).
        statistic: ``"memorization"`` or ``"C-score"``.
        confidence, method: the interval (bootstrap methods work but cost n_boot per point).
        seed: order of the runs and the sample of examples.
        points: subset sizes, log-spaced from 10 runs (or fewer, when there are fewer) to all.
        max_examples: widths are taken over at most this many examples (a random sample).
    """
    from ..estimators import consistency, memorization

    if statistic not in STATISTICS:
        raise HeldoutError(f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}.")
    estimator = memorization if statistic == "memorization" else consistency
    rng = np.random.default_rng(seed)
    sample = _sample_examples(runs, max_examples, rng)
    order = rng.permutation(runs.n_runs)
    counts = run_counts(runs.n_runs, points)
    median, low, high, defined = (np.full(len(counts), np.nan) for _ in range(4))
    for p, count in enumerate(counts):
        result = estimator(sample.select(np.sort(order[:count])), confidence=confidence, method=method, seed=seed)
        width = (result.ci_high - result.ci_low)[np.isfinite(result.estimate)]
        defined[p] = width.size / sample.n_train
        if width.size:
            median[p] = np.median(width)
            low[p], high[p] = np.percentile(width, PERCENTILES)
    return IntervalWidthCurve(statistic, counts, median, low, high, defined, sample.n_train, confidence, method)
