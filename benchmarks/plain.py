"""The plain-numpy references the benchmarks time the project against.

What a researcher writes without this project, after the original demonstration: dense 0/1
float32 matrices of shape (runs, examples), masked means by matrix products (one with the mask,
one with the inverted mask), ``argpartition`` for the top k, and the Newcombe / Wilson formulas
vectorized in float64. Nothing here uses the project's kernels or interval code.
"""

from __future__ import annotations

import csv
import io

import numpy as np
from scipy.special import ndtri


def unpack(bits: np.ndarray, n_runs: int) -> np.ndarray:
    """Example-major uint64 (n, W) bits -> dense bool (n_runs, n), as records are kept in numpy."""
    return np.unpackbits(bits.view(np.uint8), axis=1, count=n_runs, bitorder="little").T.astype(bool)


def two_matmul_influence(mask, correct_test):
    """Influence estimates float32 (n_test, n_train) by two float32 matrix products."""
    in_mean = (correct_test.T @ mask) / mask.sum(axis=0)
    out_mean = (correct_test.T @ (1.0 - mask)) / (1.0 - mask).sum(axis=0)
    return in_mean - out_mean


def wilson(s, n, z):
    s, n = np.asarray(s, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def newcombe(a, b, c, d, confidence=0.95):
    """(estimate, low, high) of a/b - c/d, Newcombe's method 10, float64 arrays."""
    z = ndtri(0.5 + confidence / 2)
    p1, l1, u1 = wilson(a, b, z)
    p2, l2, u2 = wilson(c, d, z)
    est = p1 - p2
    return est, est - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), est + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def memorization(mask, correct, confidence=0.95):
    """Memorization with Newcombe intervals from dense bool (R, n) records."""
    b = mask.sum(axis=0)
    a = (mask & correct).sum(axis=0)
    c = (~mask & correct).sum(axis=0)
    return newcombe(a, b, c, len(mask) - b, confidence)


def heldout_accuracy(mask, correct, confidence=0.95):
    """C-score at one ratio: held-out accuracy with its Wilson interval."""
    d = (~mask).sum(axis=0)
    c = (~mask & correct).sum(axis=0)
    return wilson(c, d, ndtri(0.5 + confidence / 2))


def topk_influence(mask_f, correct_test_f, k, rows, confidence=0.95):
    """Top-k influence with Newcombe intervals for test rows ``rows``, from one dense chunk of
    both count products (float32: exact counts below 2^24 runs)."""
    y = correct_test_f[:, rows]
    in_counts = y.T @ mask_f
    out_counts = y.T @ (1.0 - mask_f)
    b = mask_f.sum(axis=0)
    d = len(mask_f) - b
    est = in_counts / b - out_counts / d
    ranked = np.where(np.isnan(est), -np.inf, est)
    top = np.argpartition(-ranked, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(ranked, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)
    a = np.take_along_axis(in_counts, top, 1)
    c = np.take_along_axis(out_counts, top, 1)
    return (top, *newcombe(a, b[top], c, d[top], confidence)), est


def high_influence(est, rows, mem, labels_train, labels_test, infl=0.15, mem_threshold=0.25):
    """The paper's pairs among test rows ``rows`` of a dense chunk of estimates."""
    same = labels_test[rows][:, None] == labels_train[None, :]
    jj, ii = np.nonzero((est >= infl) & (mem[None, :] >= mem_threshold) & same)
    return rows[jj], ii


def write_outputs(folder, mem, top, cscore):
    """The files ``heldout estimate`` writes, with np.savez and the csv module."""
    np.savez(folder / "memorization.npz", estimate=mem[0], ci_low=mem[1], ci_high=mem[2])
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["index", "memorization", "ci_low", "ci_high"])
    for i in range(len(mem[0])):
        writer.writerow([i, f"{mem[0][i]:.6g}", f"{mem[1][i]:.6g}", f"{mem[2][i]:.6g}"])
    (folder / "memorization.csv").write_text(text.getvalue())
    np.savez(folder / "influence_topk.npz", train_idx=top[0], estimate=top[1], ci_low=top[2], ci_high=top[3])
    np.savez(folder / "cscore.npz", estimate=cscore[0], ci_low=cscore[1], ci_high=cscore[2])


def _chance_in_topk(mask_f, correct_test_f, k, rows):
    """Per test row of ``rows`` and training example, the chance it is in the row's top-k set,
    ties at place k broken at random: 1 above the k-th estimate, (k - #above) / #at at it.
    (Estimates in the single-division form, so that equal fractions are equal floats.)"""
    y = correct_test_f[:, rows].astype(np.float64)
    m = mask_f.astype(np.float64)
    n, b = len(m), m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = ((y.T @ m) * n - y.sum(axis=0)[:, None] * b) / (b * (n - b))
    ranked = np.where(np.isnan(est), -np.inf, est)
    cut = -np.partition(-ranked, k - 1, axis=1)[:, k - 1:k]
    above, at = ranked > cut, (ranked == cut) & np.isfinite(ranked)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(at.any(axis=1), (k - above.sum(axis=1)) / at.sum(axis=1), 0.0)
    return above + at * q[:, None]


def split_half(mask, correct, mask_f, correct_test_f, k, rows):
    """Split-half reliability as ``heldout estimate`` reports it: alternate runs into two halves,
    memorization and held-out accuracy on each, their Spearman correlations, and the expected
    overlap of the halves' top-k influence sets for test rows ``rows`` (ties broken at random)."""
    from scipy.stats import spearmanr

    halves = (np.arange(0, len(mask), 2), np.arange(1, len(mask), 2))
    mem = [memorization(mask[h], correct[h])[0] for h in halves]
    held = [heldout_accuracy(mask[h], correct[h])[0] for h in halves]
    shared = []
    for chunk in np.array_split(rows, max(1, len(rows) // 100)):     # 100 rows at a time bounds the memory
        p_a, p_b = (_chance_in_topk(mask_f[h], correct_test_f[h], k, chunk) for h in halves)
        shared.append((p_a * p_b).sum(axis=1))
    ok = np.isfinite(mem[0]) & np.isfinite(mem[1])
    shared = np.mean(np.concatenate(shared)) / k
    return spearmanr(mem[0][ok], mem[1][ok]).statistic, spearmanr(held[0], held[1]).statistic, shared
