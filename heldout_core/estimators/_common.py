"""What every estimator shares: the check of its ``runs`` argument, the interval of a difference
of two proportions from arrays of counts, and the bootstrap stream id of each statistic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..intervals import IntervalSpec, weighted_proportion_intervals
from ..records import RunSet

DIFFERENCE = np.array([1.0, -1.0])
# Bootstrap stream ids: memorization uses the example index, a C-score CSCORE_STREAMS + index
# (one ratio's held-out accuracy: + (1 + ratio * 1e6) * n_train + index), an influence pair
# INFLUENCE_STREAMS + test * n_train + train, so no two statistics share one.
CSCORE_STREAMS = 1 << 61
INFLUENCE_STREAMS = 1 << 62


@dataclass(frozen=True)
class Estimates:
    """Estimates with intervals, the fields every result has; arrays of one shape.

    ``standard_error`` is the bootstrap standard error (NaN for the analytic method);
    ``confidence`` the two-sided level and ``method`` the interval method.
    """

    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    standard_error: np.ndarray
    confidence: float
    method: str

    @property
    def n_undefined(self) -> int:
        """Statistics whose estimate is undefined (NaN): an empty in- or out-group."""
        return int(np.isnan(self.estimate).sum())


@dataclass(frozen=True)
class DifferenceEstimates(Estimates):
    """Estimates of correct_in/n_in - correct_out/n_out, with the four counts behind each
    (int64 arrays of the estimates' shape)."""

    n_in: np.ndarray
    n_out: np.ndarray
    correct_in: np.ndarray
    correct_out: np.ndarray


def check_runs(runs, *, needs_test: bool = False, one_ratio: bool = True) -> RunSet:
    """``runs`` as a RunSet fit for the estimator; ParameterError naming ``runs`` otherwise."""
    if not isinstance(runs, RunSet):
        raise ParameterError("runs", f"{{parameter}} must be a heldout_core.RunSet, got {type(runs).__name__}.")
    if one_ratio and len(runs.ratios) > 1:
        have = ", ".join(f"{r:g}" for r in runs.ratios)
        raise ParameterError("ratio", f"the runs mix subset ratios ({have}); memorization and influence are defined at "
                                      "one ratio: choose one with {parameter}.", spelled="runs.by_ratio(r)")
    if needs_test and runs.n_test == 0:
        raise ParameterError("runs", "the runs have no test correctness records (correct_test), which influence needs.")
    return runs


def influence_streams(test_idx, train_idx, n_train: int):
    """Bootstrap stream id of each (test, train) pair."""
    return INFLUENCE_STREAMS + np.asarray(test_idx, dtype=np.int64) * n_train + np.asarray(train_idx, dtype=np.int64)


def difference_intervals(correct_in, n_in, correct_out, n_out, spec: IntervalSpec, streams):
    """Estimate and interval of correct_in/n_in - correct_out/n_out for arrays of counts of any
    shape; ``streams`` (same shape) identifies each statistic for the bootstrap.

    Returns (estimate, ci_low, ci_high, standard_error), float64 of the counts' shape. The
    estimate is computed as the kernels compute it, one division of exact integers, so a pair's
    value is bit-identical in every output form.
    """
    shape = np.shape(correct_in)
    counts = lambda *a: np.stack([np.ravel(x) for x in a], axis=-1)  # noqa: E731
    iv = weighted_proportion_intervals(counts(correct_in, correct_out), counts(n_in, n_out), DIFFERENCE, spec,
                                       np.ravel(streams))
    a, b, c, d = (np.asarray(x, dtype=np.float64) for x in (correct_in, n_in, correct_out, n_out))
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = (a * d - c * b) / (b * d)
    return estimate, iv.ci_low.reshape(shape), iv.ci_high.reshape(shape), iv.standard_error.reshape(shape)


def difference_estimates(correct_in, n_in, correct_out, n_out, spec: IntervalSpec, streams) -> dict:
    """The fields of a :class:`DifferenceEstimates` for arrays of counts (see :func:`difference_intervals`)."""
    estimate, ci_low, ci_high, standard_error = difference_intervals(correct_in, n_in, correct_out, n_out, spec, streams)
    return dict(estimate=estimate, ci_low=ci_low, ci_high=ci_high, standard_error=standard_error,
                confidence=spec.confidence, method=spec.method, n_in=np.asarray(n_in), n_out=np.asarray(n_out),
                correct_in=np.asarray(correct_in), correct_out=np.asarray(correct_out))
