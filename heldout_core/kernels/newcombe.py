"""Newcombe's interval of a difference of two proportions, per statistic, from its four counts.

Newcombe (1998), method 10: with Wilson score limits (l1, u1) of a/b and (l2, u2) of c/d,

    a/b - c/d - sqrt((a/b - l1)^2 + (u2 - c/d)^2)  <=  difference  <=  a/b - c/d + sqrt((u1 - a/b)^2 + (c/d - l2)^2)

These are the operations of :func:`heldout_core.intervals.mover_wilson` (its (in, out) form with
weights (1, -1)) in the same order, so a float64 limit computed here is bit-identical to the numpy
one (Numba keeps IEEE semantics: no fastmath, no fused multiply-add), and a float32 output is
its rounding. Undefined statistics (b or d is 0) come out NaN from 0 / 0, with no branch.

The Wilson terms that depend only on a group's size n are split off (:func:`wilson_terms`), so
a kernel whose pairs share a size per column (the dense matrix: n is the training example's
in- or out-count) computes them once per column rather than once per pair.
"""

from __future__ import annotations

import math

from numba import prange

from .config import njit_parallel, njit_serial


@njit_serial
def _unit_clip(x):
    """x clipped to [0, 1] as ``np.clip`` does (NaN stays NaN); selects, so loops still vectorize."""
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


@njit_serial
def wilson_terms(n, z):
    """The size-only terms of the Wilson interval for s/n: (z^2/(2n), 1 + z^2/n, z/(1 + z^2/n), z^2/(4n^2)).

    n: float64 trials; z: the normal quantile of the two-sided level (``scipy.special.ndtri``).
    """
    z2 = z * z
    denom = 1.0 + z2 / n
    return z2 / (2.0 * n), denom, z / denom, z2 / (4.0 * n * n)


@njit_serial
def wilson_offsets(s, n, shift, denom, scale, floor):
    """(p, p - low, high - p) of the Wilson score interval of p = s/n, float64.

    shift, denom, scale, floor: :func:`wilson_terms` of n.
    """
    p = s / n
    center = (p + shift) / denom
    half = scale * math.sqrt(p * (1.0 - p) / n + floor)
    return p, p - _unit_clip(center - half), _unit_clip(center + half) - p


@njit_serial
def newcombe_limits(p1, down1, up1, p2, down2, up2):
    """(low, high) of a/b - c/d from the two groups' :func:`wilson_offsets`."""
    centre = p1 - p2
    return centre - math.sqrt(down1 * down1 + up2 * up2), centre + math.sqrt(up1 * up1 + down2 * down2)


@njit_serial
def difference_estimate(a, b, c, d):
    """a/b - c/d as the one division of exact integers (a d - c b) / (b d); NaN when b or d is 0."""
    return (float(a) * d - float(c) * b) / (float(b) * d)


@njit_parallel
def difference_newcombe(correct_in, n_in, correct_out, n_out, z, estimate, ci_low, ci_high):
    """Estimate and Newcombe interval of correct_in/n_in - correct_out/n_out, per statistic.

    Counts: int64 (m,) each; z: normal quantile of the level. Writes float64 (m,) ``estimate``
    (the exact one-division value), ``ci_low`` and ``ci_high``; NaN where n_in or n_out is 0.
    """
    for t in prange(len(correct_in)):
        a, b, c, d = correct_in[t], float(n_in[t]), correct_out[t], float(n_out[t])
        estimate[t] = difference_estimate(a, b, c, d)
        shift, denom, scale, floor = wilson_terms(b, z)
        p1, down1, up1 = wilson_offsets(float(a), b, shift, denom, scale, floor)
        shift, denom, scale, floor = wilson_terms(d, z)
        p2, down2, up2 = wilson_offsets(float(c), d, shift, denom, scale, floor)
        ci_low[t], ci_high[t] = newcombe_limits(p1, down1, up1, p2, down2, up2)
