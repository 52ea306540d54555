"""Resampling kernels: percentile and BCa bootstrap intervals of weighted sums of proportions,
computed from counts (a binomial draw per group, O(n_boot) per statistic, never O(n_boot x R))."""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .config import njit_parallel, njit_serial
from .rng import next_uniform, stream_state
from .selection import quantile_pair


# ---------------------------------------------------------------------------- normal distribution
@njit_serial
def normal_cdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@njit_serial
def normal_ppf(p):
    """Inverse standard normal CDF (Acklam's rational approximation + one Halley step)."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    a1, a2, a3 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
    a4, a5, a6 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
    b1, b2, b3 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
    b4, b5 = 6.680131188771972e01, -1.328068155288572e01
    c1, c2, c3 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
    c4, c5, c6 = -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
    d1, d2, d3, d4 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / ((((d1 * q + d2) * q + d3) * q + d4) * q + 1.0)
    elif p <= 1.0 - 0.02425:
        q = p - 0.5
        r = q * q
        x = (((((a1 * r + a2) * r + a3) * r + a4) * r + a5) * r + a6) * q / (((((b1 * r + b2) * r + b3) * r + b4) * r + b5) * r + 1.0)
    else:
        q = math.sqrt(-2.0 * math.log(1.0 - p))
        x = -(((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / ((((d1 * q + d2) * q + d3) * q + d4) * q + 1.0)
    e = normal_cdf(x) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


# ---------------------------------------------------------------------------- bootstrap
# The table stops where the pmf falls below this fraction of its peak. The pmf is log-concave,
# so the mass left out on either side is below n * _PMF_CUTOFF, under the 2^-53 resolution of
# the uniforms that index the table.
_PMF_CUTOFF = 1e-30


@njit_serial
def binomial_table(n, p, cdf, guide):
    """Fill ``cdf`` with the CDF of Binomial(n, p) over [lo, lo + size), the support where the
    pmf is at least 1e-30 of its peak, computed by the pmf recurrence outward from the mode.

    ``guide[g]`` is the first table entry whose CDF exceeds g / size (Chen & Asau's guide
    table), so a draw costs O(1) expected steps. Returns (lo, size).
    """
    q = 1.0 - p
    mode = min(n, int(math.floor((n + 1) * p)))
    odds = p / q
    lo = mode
    rel_lo = 1.0  # pmf(lo) / pmf(mode)
    while lo > 0:
        nxt = rel_lo * lo / ((n - lo + 1) * odds)
        if nxt < _PMF_CUTOFF:
            break
        rel_lo = nxt
        lo -= 1
    hi = mode
    rel = 1.0
    while hi < n:
        rel *= (n - hi) / (hi + 1.0) * odds
        if rel < _PMF_CUTOFF:
            break
        hi += 1
    size = hi - lo + 1
    pmf = rel_lo
    total = 0.0
    for t in range(size):
        total += pmf
        cdf[t] = total
        x = lo + t
        pmf *= (n - x) / (x + 1.0) * odds
    g = 0
    for t in range(size):
        cdf[t] /= total
        while g < size and g < cdf[t] * size:
            guide[g] = t
            g += 1
    cdf[size - 1] = 1.0
    while g < size:
        guide[g] = size - 1
        g += 1
    return lo, size


@njit_serial
def bootstrap_replicates(successes, trials, weights, n_boot, state, out, cdf, guide):
    """Fill ``out`` (n_boot,) with replicates of sum_k weights[k] * successes[k] / trials[k].

    Each group k is resampled on its own (runs drawn with replacement within the group), which
    from counts alone is a Binomial(trials[k], successes[k] / trials[k]) draw. Returns the new
    random state. ``cdf``/``guide`` are scratch of at least max(trials) + 1 entries.
    """
    out[:] = 0.0
    for k in range(len(successes)):
        n = trials[k]
        s = successes[k]
        w = weights[k] / n
        if s == 0 or s == n:
            for r in range(n_boot):
                out[r] += w * s
            continue
        lo, size = binomial_table(n, s / n, cdf, guide)
        for r in range(n_boot):
            state, u = next_uniform(state)
            t = guide[int(u * size)]
            while cdf[t] <= u:
                t += 1
            out[r] += w * (lo + t)
    return state


@njit_serial
def jackknife_acceleration(successes, trials, weights):
    """BCa acceleration of sum_k w_k s_k / n_k from its delete-one-run jackknife, in closed form.

    Deleting a run of group k changes only that group's proportion, to (s-1)/(n-1) (a correct
    run, s times) or s/(n-1) (a wrong run, n-s times), so the jackknife needs no loop over runs.
    """
    est = 0.0
    total = 0.0
    for k in range(len(successes)):
        est += weights[k] * successes[k] / trials[k]
        total += trials[k]
    # jackknife values theta_(r) = est + delta, with multiplicities
    mean_delta = 0.0
    for k in range(len(successes)):
        n, s, w = trials[k], successes[k], weights[k]
        if n < 2:
            return np.nan
        p = s / n
        mean_delta += s * w * ((s - 1) / (n - 1) - p) + (n - s) * w * (s / (n - 1) - p)
    mean_delta /= total
    num = 0.0
    den = 0.0
    for k in range(len(successes)):
        n, s, w = trials[k], successes[k], weights[k]
        p = s / n
        d1 = mean_delta - w * ((s - 1) / (n - 1) - p)
        d2 = mean_delta - w * (s / (n - 1) - p)
        num += s * d1 ** 3 + (n - s) * d2 ** 3
        den += s * d1 ** 2 + (n - s) * d2 ** 2
    if den == 0.0:
        return 0.0
    return num / (6.0 * den ** 1.5)


@njit_parallel
def bootstrap_intervals(successes, trials, weights, streams, n_boot, seed, alpha, bca):
    """Percentile or BCa bootstrap intervals of a weighted sum of proportions, per example.

    successes, trials: int64 (n, K) counts per example and group; weights: float64 (K,).
    Memorization and influence are K = 2 with weights (1, -1) over (in, out); a C-score is
    K = #ratios with weights 1/K. alpha: two-sided level, e.g. 0.05. streams: int64 (n,) the
    random stream of each row (e.g. the example's index), so a statistic's interval depends on
    its counts, its stream and the seed alone, not on which other rows are computed with it.
    Returns float64 (n,) arrays (low, high, standard error); NaN where a group is empty.
    """
    n, n_groups = successes.shape
    low = np.empty(n)
    high = np.empty(n)
    se = np.empty(n)
    max_trials = 1
    for i in range(n):
        for k in range(n_groups):
            max_trials = max(max_trials, trials[i, k])
    z_lo = normal_ppf(alpha / 2.0)
    z_hi = normal_ppf(1.0 - alpha / 2.0)
    for i in prange(n):
        defined = True
        for k in range(n_groups):
            if trials[i, k] == 0:
                defined = False
        if not defined:
            low[i] = high[i] = se[i] = np.nan
            continue
        reps = np.empty(n_boot)
        bucket = np.empty(n_boot, dtype=np.int64)
        scratch = np.empty(n_boot)
        cdf = np.empty(max_trials + 1)
        guide = np.empty(max_trials + 1, dtype=np.int64)
        bootstrap_replicates(successes[i], trials[i], weights, n_boot, stream_state(seed, streams[i]), reps, cdf, guide)
        mean = reps.mean()
        se[i] = math.sqrt(((reps - mean) ** 2).sum() / max(n_boot - 1, 1))
        q_lo = alpha / 2.0
        q_hi = 1.0 - alpha / 2.0
        if bca:
            est = 0.0
            for k in range(n_groups):
                est += weights[k] * successes[i, k] / trials[i, k]
            below = 0
            at_or_below = 0
            for r in range(n_boot):
                below += reps[r] < est
                at_or_below += reps[r] <= est
            # Half weight for replicates equal to the estimate (the statistic lives on a lattice),
            # kept off 0 and 1 so z0 stays finite when every replicate falls on one side.
            frac = (below + at_or_below) / (2.0 * n_boot)
            frac = min(max(frac, 0.5 / n_boot), 1.0 - 0.5 / n_boot)
            z0 = normal_ppf(frac)
            acc = jackknife_acceleration(successes[i], trials[i], weights)
            if np.isnan(acc):
                acc = 0.0
            q_lo = normal_cdf(z0 + (z0 + z_lo) / (1.0 - acc * (z0 + z_lo)))
            q_hi = normal_cdf(z0 + (z0 + z_hi) / (1.0 - acc * (z0 + z_hi)))
        low[i], high[i] = quantile_pair(reps, q_lo, q_hi, bucket, scratch)
    return low, high, se
