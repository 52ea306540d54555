"""Selection kernels: the top-k and threshold forms of influence (streamed over tiles, never
building the dense matrix), and quantiles of bootstrap replicates by bucket selection."""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .config import njit_parallel, njit_serial
from .counts import TEST_BLOCK, TRAIN_TILE, block_counts, pair_estimate


@njit_serial
def _ranks_above(e1, i1, e2, i2):
    """Ranking order: larger estimate first, smaller train index first among ties."""
    return e1 > e2 or (e1 == e2 and i1 < i2)


@njit_serial
def _swap(keys, idx, cnt, a, b):
    """Exchange heap entries a and b (estimate, train index and count together)."""
    keys[a], keys[b] = keys[b], keys[a]
    idx[a], idx[b] = idx[b], idx[a]
    cnt[a], cnt[b] = cnt[b], cnt[a]


@njit_serial
def _sift_down(keys, idx, cnt, pos, size):
    """Restore a min-heap (worst-ranked at the root) after replacing the root."""
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and _ranks_above(keys[child], idx[child], keys[right], idx[right]):
            child = right
        if _ranks_above(keys[child], idx[child], keys[pos], idx[pos]):
            return
        _swap(keys, idx, cnt, pos, child)
        pos = child


@njit_serial
def _sift_up(keys, idx, cnt, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if _ranks_above(keys[pos], idx[pos], keys[parent], idx[parent]):
            return
        _swap(keys, idx, cnt, pos, parent)
        pos = parent


@njit_parallel
def influence_topk(in_bits, correct_bits, n_in, total_correct, n_runs, k):
    """Per test example, the k training examples of largest influence, streamed over tiles.

    Peak scratch memory per thread is one TEST_BLOCK x TRAIN_TILE count tile plus TEST_BLOCK
    heaps; the dense matrix is never built. Examples with undefined estimates (never in or never out) are
    skipped; rows with fewer than k defined candidates are padded with index -1.

    Returns (train_idx int64 (n_test, k), correct_in int64 (n_test, k)), each row sorted by
    estimate descending, ties by train index ascending.
    """
    n_train = in_bits.shape[0]
    n_test = correct_bits.shape[0]
    top_idx = np.full((n_test, k), -1, dtype=np.int64)
    top_cnt = np.zeros((n_test, k), dtype=np.int64)
    if k == 0:
        return top_idx, top_cnt
    for blk in prange((n_test + TEST_BLOCK - 1) // TEST_BLOCK):
        j0 = blk * TEST_BLOCK
        j1 = min(j0 + TEST_BLOCK, n_test)
        buf = np.empty((TEST_BLOCK, min(TRAIN_TILE, n_train)), dtype=np.int32)
        keys = np.empty((TEST_BLOCK, k), dtype=np.float64)
        idx = np.empty((TEST_BLOCK, k), dtype=np.int64)
        cnt = np.empty((TEST_BLOCK, k), dtype=np.int64)
        size = np.zeros(TEST_BLOCK, dtype=np.int64)
        for t0 in range(0, n_train, TRAIN_TILE):
            t1 = min(t0 + TRAIN_TILE, n_train)
            block_counts(in_bits, correct_bits, j0, j1, t0, t1, buf)
            for jj in range(j1 - j0):
                tc = total_correct[j0 + jj]
                for i in range(t0, t1):
                    a = buf[jj, i - t0]
                    e = pair_estimate(a, n_in[i], tc, n_runs)
                    if np.isnan(e):
                        continue
                    s = size[jj]
                    if s < k:
                        keys[jj, s] = e
                        idx[jj, s] = i
                        cnt[jj, s] = a
                        _sift_up(keys[jj], idx[jj], cnt[jj], s)
                        size[jj] = s + 1
                    elif _ranks_above(e, i, keys[jj, 0], idx[jj, 0]):
                        keys[jj, 0] = e
                        idx[jj, 0] = i
                        cnt[jj, 0] = a
                        _sift_down(keys[jj], idx[jj], cnt[jj], 0, k)
        for jj in range(j1 - j0):
            # Pop the heap from worst to best, filling the output row from the back.
            s = size[jj]
            while s > 0:
                top_idx[j0 + jj, s - 1] = idx[jj, 0]
                top_cnt[j0 + jj, s - 1] = cnt[jj, 0]
                s -= 1
                keys[jj, 0] = keys[jj, s]
                idx[jj, 0] = idx[jj, s]
                cnt[jj, 0] = cnt[jj, s]
                _sift_down(keys[jj], idx[jj], cnt[jj], 0, s)
    return top_idx, top_cnt


@njit_parallel
def _threshold_pass(in_bits, correct_bits, n_in, total_correct, n_runs, threshold, offsets, fill,
                    out_test, out_train, out_cnt):
    n_train = in_bits.shape[0]
    n_test = correct_bits.shape[0]
    for blk in prange((n_test + TEST_BLOCK - 1) // TEST_BLOCK):
        j0 = blk * TEST_BLOCK
        j1 = min(j0 + TEST_BLOCK, n_test)
        buf = np.empty((TEST_BLOCK, min(TRAIN_TILE, n_train)), dtype=np.int32)
        pos = np.zeros(TEST_BLOCK, dtype=np.int64)
        if fill:
            for jj in range(j1 - j0):
                pos[jj] = offsets[j0 + jj]
        for t0 in range(0, n_train, TRAIN_TILE):
            t1 = min(t0 + TRAIN_TILE, n_train)
            block_counts(in_bits, correct_bits, j0, j1, t0, t1, buf)
            for jj in range(j1 - j0):
                tc = total_correct[j0 + jj]
                for i in range(t0, t1):
                    a = buf[jj, i - t0]
                    if pair_estimate(a, n_in[i], tc, n_runs) >= threshold:
                        if fill:
                            p = pos[jj]
                            out_test[p] = j0 + jj
                            out_train[p] = i
                            out_cnt[p] = a
                            pos[jj] = p + 1
                        else:
                            offsets[j0 + jj + 1] += 1


def influence_threshold(in_bits, correct_bits, n_in, total_correct, n_runs, threshold):
    """All (test j, train i) pairs with estimate >= threshold, in (j, i) order.

    Two passes over the counts (count per row, then fill), so memory is the output alone.
    Returns (test_idx int64 (m,), train_idx int64 (m,), correct_in int64 (m,)).
    """
    n_test = correct_bits.shape[0]
    offsets = np.zeros(n_test + 1, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    _threshold_pass(in_bits, correct_bits, n_in, total_correct, n_runs, threshold, offsets, False,
                    empty, empty, empty)
    offsets = np.cumsum(offsets)
    m = int(offsets[-1])
    out_test, out_train, out_cnt = (np.empty(m, dtype=np.int64) for _ in range(3))
    _threshold_pass(in_bits, correct_bits, n_in, total_correct, n_runs, threshold, offsets, True,
                    out_test, out_train, out_cnt)
    return out_test, out_train, out_cnt


_N_BUCKETS = 256


@njit_serial
def _order_statistic(x, bucket, counts, k, scratch):
    """The k-th smallest element of x (0-based), given each element's bucket and bucket counts."""
    cum = 0
    target = 0
    for g in range(len(counts)):
        if cum + counts[g] > k:
            target = g
            break
        cum += counts[g]
    m = 0
    for r in range(len(x)):
        if bucket[r] == target:
            scratch[m] = x[r]
            m += 1
    part = scratch[:m]
    part.sort()
    return part[k - cum]


@njit_serial
def quantile_pair(x, q_lo, q_hi, bucket, scratch):
    """Quantiles q_lo and q_hi of x with linear interpolation (numpy's default method).

    Bucket selection instead of a sort: one pass assigns each value to one of 256 equal-width
    buckets between min and max, then only the bucket holding the wanted rank is sorted. That
    is O(n) and several times cheaper than sorting the replicates. ``bucket`` (int64) and
    ``scratch`` (float64) are scratch arrays of len(x). Returns (value at q_lo, value at q_hi).
    """
    n = len(x)
    lo = x[0]
    hi = x[0]
    for r in range(1, n):
        v = x[r]
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    if hi == lo:
        return lo, hi
    counts = np.zeros(_N_BUCKETS, dtype=np.int64)
    scale = _N_BUCKETS / (hi - lo)
    for r in range(n):
        g = min(int((x[r] - lo) * scale), _N_BUCKETS - 1)
        bucket[r] = g
        counts[g] += 1
    out = np.empty(2)
    for t in range(2):
        h = (n - 1) * (q_lo if t == 0 else q_hi)
        k = int(math.floor(h))
        v = _order_statistic(x, bucket, counts, k, scratch)
        if k < n - 1 and h > k:
            v = v + (h - k) * (_order_statistic(x, bucket, counts, k + 1, scratch) - v)
        out[t] = v
    return out[0], out[1]


# ---------------------------------------------------------------------------- top-k set overlap
@njit_serial
def kth_estimates(top_idx, top_cnt, n_in, total_correct, n_runs, k):
    """Per test row, the k-th largest estimate of an :func:`influence_topk` result (computed as
    the kernels compute every estimate, so it compares exactly), or -inf where fewer than k
    training examples have an estimate."""
    n_test = top_idx.shape[0]
    out = np.full(n_test, -np.inf)
    for j in range(n_test):
        i = top_idx[j, k - 1]
        if i >= 0:
            out[j] = pair_estimate(top_cnt[j, k - 1], n_in[i], total_correct[j], n_runs)
    return out


@njit_parallel
def cut_counts(in_bits, bits_a, bits_b, n_in_a, n_in_b, total_a, total_b, runs_a, runs_b, cut_a, cut_b):
    """Where the training examples fall about two estimates of the same test rows (two halves of
    the runs), each against its own cut (a half's k-th largest estimate).

    The training bits are shared; each half has its own test bits (masked to its runs), counts
    n_in_h, totals total_h and run count runs_h. Per test row j the int64 (n_test, 8) result
    holds |above_a|, |at_a|, |above_b|, |at_b|, |above_a & above_b|, |above_a & at_b|,
    |at_a & above_b|, |at_a & at_b|, where above_h = {i : estimate_h(i) > cut_h[j]} and
    at_h = {i : estimate_h(i) == cut_h[j]} (undefined estimates fall in neither).
    """
    n_train = in_bits.shape[0]
    n_test = bits_a.shape[0]
    out = np.zeros((n_test, 8), dtype=np.int64)
    for blk in prange((n_test + TEST_BLOCK - 1) // TEST_BLOCK):
        j0 = blk * TEST_BLOCK
        j1 = min(j0 + TEST_BLOCK, n_test)
        buf_a = np.empty((TEST_BLOCK, min(TRAIN_TILE, n_train)), dtype=np.int32)
        buf_b = np.empty((TEST_BLOCK, min(TRAIN_TILE, n_train)), dtype=np.int32)
        for t0 in range(0, n_train, TRAIN_TILE):
            t1 = min(t0 + TRAIN_TILE, n_train)
            block_counts(in_bits, bits_a, j0, j1, t0, t1, buf_a)
            block_counts(in_bits, bits_b, j0, j1, t0, t1, buf_b)
            for jj in range(j1 - j0):
                j = j0 + jj
                for i in range(t0, t1):
                    ea = pair_estimate(buf_a[jj, i - t0], n_in_a[i], total_a[j], runs_a)
                    eb = pair_estimate(buf_b[jj, i - t0], n_in_b[i], total_b[j], runs_b)
                    sa = 2 if ea > cut_a[j] else (1 if ea == cut_a[j] else 0)   # NaN: 0
                    sb = 2 if eb > cut_b[j] else (1 if eb == cut_b[j] else 0)
                    if sa == 2:
                        out[j, 0] += 1
                    elif sa == 1:
                        out[j, 1] += 1
                    if sb == 2:
                        out[j, 2] += 1
                    elif sb == 1:
                        out[j, 3] += 1
                    if sa > 0 and sb > 0:
                        out[j, 4 + 2 * (2 - sa) + (2 - sb)] += 1
    return out
