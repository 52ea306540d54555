"""Confidence intervals for weighted sums of independent binomial proportions, from counts.

Every statistic here is ``sum_k w_k * s_k / n_k`` over independent groups of runs: memorization
and influence are (in, out) with weights (1, -1); a C-score is the mean over K subset ratios of
the held-out accuracy, weights 1/K. Conditional on which runs held an example in or out, the
correct counts of the groups are independent binomials, so one interval family serves all:

* ``"newcombe"`` (default): MOVER-Wilson, Newcombe's hybrid score interval (Newcombe 1998,
  method 10) generalised to weighted sums by the MOVER construction (Zou & Donner 2008). Each
  group's Wilson score limits are combined in quadrature. Closed form, no randomness, and close
  to nominal coverage even for proportions near 0 and 1, where Wald and percentile-bootstrap
  intervals collapse to a point (a group that is always correct has zero bootstrap variance).
* ``"bootstrap"``: percentile bootstrap over runs, resampling runs with replacement within each
  group, computed from the counts (O(n_boot) per example, never O(n_boot x R)).
* ``"bca"``: bias-corrected and accelerated bootstrap (Efron 1987) with the jackknife
  acceleration in closed form from the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from . import kernels, params, resources
from .errors import ParameterError

METHODS = params.INTERVAL_METHODS


@dataclass(frozen=True)
class IntervalSpec:
    """Validated interval options shared by all estimators."""

    confidence: float = 0.95
    method: str = "newcombe"
    n_boot: int = 2000
    seed: int = 0


# Scratch bytes per bootstrap replicate and thread: the replicates, their buckets and a copy.
_BYTES_PER_REPLICATE = 24


def max_n_boot() -> int:
    """The most bootstrap replicates whose scratch memory (per thread, all threads at once) fits
    in a quarter of the memory available now."""
    import numba

    return max(2, resources.available_memory_bytes() // 4 // (_BYTES_PER_REPLICATE * numba.get_num_threads()))


def interval_spec(confidence: float, method: str, n_boot: int, seed: int | None) -> IntervalSpec:
    """Validate interval options; errors name the parameter. A ``seed`` of None draws one (the
    estimators default to 0, so that their bootstrap intervals are reproducible)."""
    confidence = params.confidence(confidence)
    method = params.choice(method, "method", METHODS)
    n_boot = params.integer(n_boot, "n_boot", minimum=2)
    cap = max_n_boot()
    if n_boot > cap:
        import numba

        need = resources.format_bytes(n_boot * _BYTES_PER_REPLICATE * numba.get_num_threads())
        raise ParameterError("n_boot", f"{{parameter}}={n_boot} bootstrap replicates need {need} of scratch memory; "
                                       f"at most {cap} fit in the memory available.")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    return IntervalSpec(confidence, method, n_boot, params.seed(seed))


def normal_quantile(confidence: float) -> float:
    """z with P(|Z| <= z) = confidence for a standard normal Z: the Wilson intervals' quantile,
    computed once here and passed to the kernels (:mod:`heldout_core.kernels.newcombe`)."""
    return float(ndtri(0.5 + confidence / 2.0))


def wilson(successes, trials, confidence: float):
    """Wilson score interval for s/n, elementwise. Returns (low, high); NaN where n == 0."""
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = normal_quantile(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / n
        denom = 1.0 + z * z / n
        center = (p + z * z / (2.0 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


def mover_wilson(successes, trials, weights, confidence: float):
    """MOVER interval of sum_k w_k s_k/n_k from per-group Wilson limits.

    successes, trials: (..., K) counts; weights: (K,). Returns (estimate, low, high) of shape
    (...). For w = (1, -1) this is exactly Newcombe's hybrid score interval.
    """
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    lo, hi = wilson(s, n, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / n
    est = (w * p).sum(axis=-1)
    # A positive weight takes its lower limit into the lower bound, a negative one its upper.
    down = np.where(w > 0, p - lo, hi - p) * np.abs(w)
    up = np.where(w > 0, hi - p, p - lo) * np.abs(w)
    low = est - np.sqrt((down * down).sum(axis=-1))
    high = est + np.sqrt((up * up).sum(axis=-1))
    return est, low, high


@dataclass(frozen=True)
class Intervals:
    """Estimates and intervals for m statistics (float64 (m,) each); ``standard_error`` only
    for bootstrap methods (NaN otherwise)."""

    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    standard_error: np.ndarray


def weighted_proportion_intervals(successes, trials, weights, spec: IntervalSpec, streams=None) -> Intervals:
    """Intervals of sum_k w_k s_k/n_k for each row of (m, K) count arrays, by ``spec.method``.

    ``streams`` (m,) names each row's bootstrap random stream (default: the row number); give
    the statistic's identity (an example index, a flat pair index) so its interval does not
    depend on what else is computed with it. Rows where any group has n_k == 0 get NaN.
    """
    s = np.ascontiguousarray(successes, dtype=np.int64)
    n = np.ascontiguousarray(trials, dtype=np.int64)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    est, low, high = mover_wilson(s, n, w, spec.confidence)
    undefined = (n == 0).any(axis=-1)
    se = np.full(est.shape, np.nan)
    if spec.method != "newcombe" and s.shape[0]:
        streams = np.arange(s.shape[0]) if streams is None else np.ascontiguousarray(streams, dtype=np.int64)
        low, high, se = kernels.bootstrap_intervals(s, n, w, streams, spec.n_boot, spec.seed,
                                                    1.0 - spec.confidence, spec.method == "bca")
    for arr in (est, low, high):
        arr[undefined] = np.nan
    return Intervals(est, low, high, se)
