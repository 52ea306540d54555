"""What every estimator shares: the check of its ``runs`` argument, the interval of a difference
of two proportions from arrays of counts, and the bootstrap stream id of each statistic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..errors import ParameterError
from ..intervals import IntervalSpec, normal_quantile, weighted_proportion_intervals
from ..records import RunSet

DIFFERENCE = np.array([1.0, -1.0])
# Bootstrap stream ids: memorization uses the example index, a C-score CSCORE_STREAMS + index
# (one ratio's held-out accuracy: + (1 + ratio * 1e6) * n_train + index), an influence pair
# INFLUENCE_STREAMS + test * n_train + train, so no two statistics share one.
CSCORE_STREAMS = 1 << 61
INFLUENCE_STREAMS = 1 << 62
# Bootstrap intervals are computed this many statistics at a time: a few hundred bytes of numpy
# scratch each (about 15 MB per chunk), against a second or more of resampling per chunk, so the
# chunking bounds memory at no measurable cost in speed.
BOOTSTRAP_CHUNK = 1 << 16


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
    shape (broadcast together); ``streams`` identifies each statistic for the bootstrap.

    Returns (estimate, ci_low, ci_high, standard_error), float64 of the counts' shape. The
    estimate is computed as the kernels compute it, one division of exact integers, so a pair's
    value is bit-identical in every output form. Newcombe intervals come from one Numba pass
    with no temporaries (:func:`heldout_core.kernels.difference_newcombe`, bit-identical to
    :func:`heldout_core.intervals.mover_wilson`); bootstrap ones from chunks of
    ``BOOTSTRAP_CHUNK`` statistics, so their scratch memory is bounded however many there are.
    """
    counts = np.broadcast_arrays(correct_in, n_in, correct_out, n_out)
    shape = counts[0].shape
    a, b, c, d = (np.ascontiguousarray(x, dtype=np.int64).reshape(-1) for x in counts)
    estimate, ci_low, ci_high = (np.empty(a.size) for _ in range(3))
    kernels.difference_newcombe(a, b, c, d, normal_quantile(spec.confidence), estimate, ci_low, ci_high)
    standard_error = np.full(a.size, np.nan)
    if spec.method != "newcombe":
        streams = np.broadcast_to(np.asarray(streams, dtype=np.int64), shape).reshape(-1)
        for start in range(0, a.size, BOOTSTRAP_CHUNK):
            part = slice(start, start + BOOTSTRAP_CHUNK)
            iv = weighted_proportion_intervals(np.stack([a[part], c[part]], axis=-1), np.stack([b[part], d[part]], axis=-1),
                                               DIFFERENCE, spec, streams[part])
            ci_low[part], ci_high[part], standard_error[part] = iv.ci_low, iv.ci_high, iv.standard_error
    return tuple(x.reshape(shape) for x in (estimate, ci_low, ci_high, standard_error))


def difference_estimates(correct_in, n_in, correct_out, n_out, spec: IntervalSpec, streams) -> dict:
    """The fields of a :class:`DifferenceEstimates` for arrays of counts (see :func:`difference_intervals`)."""
    estimate, ci_low, ci_high, standard_error = difference_intervals(correct_in, n_in, correct_out, n_out, spec, streams)
    return dict(estimate=estimate, ci_low=ci_low, ci_high=ci_high, standard_error=standard_error,
                confidence=spec.confidence, method=spec.method, n_in=np.asarray(n_in), n_out=np.asarray(n_out),
                correct_in=np.asarray(correct_in), correct_out=np.asarray(correct_out))
