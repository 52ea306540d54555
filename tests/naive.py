"""Slow, obviously correct numpy versions of every kernel and estimator, for tests only.

Everything works on dense boolean (R runs, n examples) matrices with plain loops or the plain
two-matmul formulation of the original demonstration.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm


def difference(a, b, c, d):
    """a/b - c/d as the correctly rounded (a d - c b) / (b d); NaN where b or d is 0."""
    a, b, c, d = (np.asarray(x, dtype=np.float64) for x in (a, b, c, d))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a * d - c * b) / (b * d)
    return np.where((b == 0) | (d == 0), np.nan, out)


def memorization_counts(mask, correct):
    """(a, b, c, d) per training example by looping over runs."""
    n = mask.shape[1]
    a, b, c, d = (np.zeros(n, dtype=np.int64) for _ in range(4))
    for r in range(mask.shape[0]):
        for i in range(n):
            if mask[r, i]:
                b[i] += 1
                a[i] += correct[r, i]
            else:
                d[i] += 1
                c[i] += correct[r, i]
    return a, b, c, d


def pair_counts(mask, correct_test):
    """a[j, i] = #runs with train i in and test j correct, as an integer matrix product."""
    return correct_test.T.astype(np.int64) @ mask.astype(np.int64)


def influence_two_matmul(mask, correct_test):
    """The plain formulation: two float32 products, correctness by mask and by inverted mask."""
    m = mask.astype(np.float32)
    y = correct_test.astype(np.float32)
    in_counts = m.sum(axis=0)
    out_counts = (1 - m).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = (y.T @ m) / in_counts - (y.T @ (1 - m)) / out_counts
    est[:, (in_counts == 0) | (out_counts == 0)] = np.nan
    return est


def influence_dense(mask, correct_test):
    a = pair_counts(mask, correct_test)
    b = mask.sum(axis=0)
    tc = correct_test.sum(axis=0)
    return difference(a, b[None, :], tc[:, None] - a, mask.shape[0] - b[None, :])


def topk(dense, k):
    """Per row, indices of the k largest non-NaN entries (ties: smaller index), padded with -1."""
    out = np.full((dense.shape[0], k), -1, dtype=np.int64)
    for j, row in enumerate(dense):
        ranked = sorted((i for i in range(len(row)) if not np.isnan(row[i])), key=lambda i: (-row[i], i))
        out[j, : min(k, len(ranked))] = ranked[:k]
    return out


def threshold_pairs(dense, t):
    """(test j, train i) with dense[j, i] >= t, in row-major order."""
    jj, ii = np.nonzero(np.nan_to_num(dense, nan=-np.inf) >= t)
    return jj, ii


def holdout_accuracy(mask, correct, runs):
    """Per example, (#held-out runs among ``runs``, #of those correct)."""
    m = mask[runs]
    y = correct[runs]
    return (~m).sum(axis=0), ((~m) & y).sum(axis=0)


def wilson(s, n, confidence):
    """Wilson score interval, scalar, straight from the formula."""
    z = norm.ppf(0.5 + confidence / 2)
    p = s / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(a, b, c, d, confidence):
    """Newcombe (1998) method 10 for a/b - c/d, scalar."""
    p1, p2 = a / b, c / d
    l1, u1 = wilson(a, b, confidence)
    l2, u2 = wilson(c, d, confidence)
    est = p1 - p2
    return est, est - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), est + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
