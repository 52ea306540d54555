"""All Numba code: pure functions over arrays. No I/O, no validation, no Python objects.

Layers (as in stumpy / pynndescent): small serial ``@njit`` workers, ``parallel=True`` drivers
that give each thread its own output rows (``prange`` over rows, never ``+=`` into shared
cells), and plain-Python callers in :mod:`heldout_core.estimators` that validate and wrap.

Bit matrices are example-major ``uint64 (n, W)`` (see :mod:`heldout_core.bitpack`).
Counts per training example i and target j (DESIGN.md section 1)::

    a = #runs with i in and j correct      b = #runs with i in
    c = #runs with i out and j correct     d = #runs with i out = R - b
    estimate = a / b - c / d = (a d - c b) / (b d),  c = total_correct_j - a

The estimate is computed as one division of exact integers, (a R - total_correct_j b) / (b d):
the correctly rounded value, identical wherever it is computed, with no branch (0 / 0 gives NaN
exactly when i was never in or never out).

Randomness is explicit: the bootstrap draws from a per-example SplitMix64 stream seeded with
(seed, example), so results do not depend on the number of threads.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
from numba import prange
from numba.core import types
from numba.extending import intrinsic


def _prefer_512_bit_vectors() -> None:
    """On CPUs with AVX-512 popcount, let LLVM vectorize with 512-bit registers.

    LLVM prefers 256-bit vectors on Intel by default; the AND-popcount loops run about twice as
    fast with 512-bit ``vpopcntq`` (measured in benchmarks/). This keeps the host's own CPU
    features and only lifts that preference, so it must run before Numba compiles anything in
    the process; it does nothing if the user set NUMBA_CPU_FEATURES, or HELDOUT_WIDE_VECTORS=0.
    """
    if numba.config.CPU_FEATURES is not None or os.environ.get("HELDOUT_WIDE_VECTORS", "1") == "0":
        return
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    if "+avx512vpopcntdq" in features.split(","):
        numba.config.CPU_FEATURES = features + ",-prefer-256-bit"


_prefer_512_bit_vectors()

# Numba options live here and nowhere else. Kernels are cached on disk after the first compile.
_SERIAL = dict(nogil=True, cache=True, error_model="numpy")
_PARALLEL = dict(_SERIAL, parallel=True)

njit_serial = numba.njit(**_SERIAL)
njit_parallel = numba.njit(**_PARALLEL)


@intrinsic
def popcount64(typingctx, x):
    """Hardware population count (LLVM ``ctpop``) of a uint64."""
    if x != types.uint64:
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


# ---------------------------------------------------------------------------- row counts
@njit_parallel
def row_popcounts(bits):
    """(n, W) uint64 -> (n,) int64: number of set bits (runs) per example."""
    n, w = bits.shape
    out = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        total = 0
        for k in range(w):
            total += popcount64(bits[i, k])
        out[i] = total
    return out


@njit_parallel
def holdout_counts(mask_bits, correct_bits, run_words):
    """Per example, counts over the runs selected by ``run_words`` (uint64 (W,) bit mask):

    (n_in, correct_in, n_out, correct_out), each int64 (n,). With every run selected these are
    memorization's b, a, d, c; restricted to the runs of one subset ratio, n_out and
    correct_out give that ratio's held-out accuracy (the C-score).
    """
    n, w = mask_bits.shape
    n_in = np.zeros(n, dtype=np.int64)
    correct_in = np.zeros(n, dtype=np.int64)
    n_out = np.zeros(n, dtype=np.int64)
    correct_out = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        b = 0
        a = 0
        d = 0
        c = 0
        for k in range(w):
            runs = run_words[k]
            m = mask_bits[i, k] & runs
            out = ~mask_bits[i, k] & runs
            y = correct_bits[i, k]
            b += popcount64(m)
            a += popcount64(m & y)
            d += popcount64(out)
            c += popcount64(out & y)
        n_in[i] = b
        correct_in[i] = a
        n_out[i] = d
        correct_out[i] = c
    return n_in, correct_in, n_out, correct_out


@njit_serial
def _and_popcount(x, i, y, j, w):
    total = 0
    for k in range(w):
        total += popcount64(x[i, k] & y[j, k])
    return total


# ---------------------------------------------------------------------------- pair counts
# Blocking. Register level: a tile of _BT test rows x _BI train rows is computed together so
# each word loaded is used 4 times. Cache level: a thread takes _BJ test rows at a time (its own
# output rows) and walks the training set in tiles of _TILE rows (_TILE x W words, 256 KB at
# 2,048 runs), so a training tile is read from L2 by all _BJ / _BT register tiles instead of
# from L3 or memory once per 4 test rows.
_BT = 4
_BI = 4
_BJ = 64
_TILE = 1024


@njit_serial
def _block_counts(in_bits, correct_bits, j0, j1, i0, i1, buf):
    """buf[j - j0, i - i0] = popcount(in_bits[i] & correct_bits[j]) for j0 <= j < j1, i0 <= i < i1."""
    w = in_bits.shape[1]
    for jb in range(j0, j1, _BT):
        je = min(jb + _BT, j1)
        if je - jb == _BT:
            i = i0
            while i + _BI <= i1:
                _tile_4x4(in_bits, correct_bits, i, jb, w, buf[jb - j0:], i - i0)
                i += _BI
            for ii in range(i, i1):
                for j in range(jb, je):
                    buf[j - j0, ii - i0] = _and_popcount(in_bits, ii, correct_bits, j, w)
        else:
            for j in range(jb, je):
                for ii in range(i0, i1):
                    buf[j - j0, ii - i0] = _and_popcount(in_bits, ii, correct_bits, j, w)


@njit_parallel
def pair_counts(in_bits, correct_bits):
    """AND-popcount product: out[j, i] = popcount(in_bits[i] & correct_bits[j]).

    in_bits: uint64 (n_train, W); correct_bits: uint64 (n_test, W) -> int32 (n_test, n_train).
    """
    n_train = in_bits.shape[0]
    n_test = correct_bits.shape[0]
    out = np.empty((n_test, n_train), dtype=np.int32)
    for blk in prange((n_test + _BJ - 1) // _BJ):
        j0 = blk * _BJ
        j1 = min(j0 + _BJ, n_test)
        for t0 in range(0, n_train, _TILE):
            t1 = min(t0 + _TILE, n_train)
            _block_counts(in_bits, correct_bits, j0, j1, t0, t1, out[j0:j1, t0:t1])
    return out


@njit_serial
def _tile_4x4(in_bits, correct_bits, i, j, w, out, col):
    """out[0:4, col:col+4] = counts of test rows j..j+3 x train rows i..i+3, from one pass over the W words of 4 train and 4 test rows."""
    s00 = s01 = s02 = s03 = 0
    s10 = s11 = s12 = s13 = 0
    s20 = s21 = s22 = s23 = 0
    s30 = s31 = s32 = s33 = 0
    for k in range(w):
        x0 = in_bits[i, k]
        x1 = in_bits[i + 1, k]
        x2 = in_bits[i + 2, k]
        x3 = in_bits[i + 3, k]
        y = correct_bits[j, k]
        s00 += popcount64(x0 & y)
        s01 += popcount64(x1 & y)
        s02 += popcount64(x2 & y)
        s03 += popcount64(x3 & y)
        y = correct_bits[j + 1, k]
        s10 += popcount64(x0 & y)
        s11 += popcount64(x1 & y)
        s12 += popcount64(x2 & y)
        s13 += popcount64(x3 & y)
        y = correct_bits[j + 2, k]
        s20 += popcount64(x0 & y)
        s21 += popcount64(x1 & y)
        s22 += popcount64(x2 & y)
        s23 += popcount64(x3 & y)
        y = correct_bits[j + 3, k]
        s30 += popcount64(x0 & y)
        s31 += popcount64(x1 & y)
        s32 += popcount64(x2 & y)
        s33 += popcount64(x3 & y)
    out[0, col] = s00
    out[0, col + 1] = s01
    out[0, col + 2] = s02
    out[0, col + 3] = s03
    out[1, col] = s10
    out[1, col + 1] = s11
    out[1, col + 2] = s12
    out[1, col + 3] = s13
    out[2, col] = s20
    out[2, col + 1] = s21
    out[2, col + 2] = s22
    out[2, col + 3] = s23
    out[3, col] = s30
    out[3, col + 1] = s31
    out[3, col + 2] = s32
    out[3, col + 3] = s33


# ---------------------------------------------------------------------------- influence
# Training examples are processed in tiles of _TILE columns, so a thread's scratch space is
# _BJ x _TILE counts however large n_train is.


@njit_serial
def _estimate(a, b, total_correct, n_runs):
    """Influence estimate from counts (see the module docstring); NaN when b or R - b is 0."""
    return (float(a) * n_runs - float(total_correct) * b) / (float(b) * (n_runs - b))


@njit_parallel
def influence_dense(in_bits, correct_bits, n_in, total_correct, n_runs, row0, n_rows):
    """Dense float32 influence estimates for test rows row0 .. row0 + n_rows - 1.

    n_in: int64 (n_train,) runs with i in; total_correct: int64 (n_test,) runs with j correct.
    Returns float32 (n_rows, n_train); NaN where i was never in or never out.
    """
    n_train = in_bits.shape[0]
    out = np.empty((n_rows, n_train), dtype=np.float32)
    n_in_f = n_in.astype(np.float64)
    in_times_out = n_in_f * (n_runs - n_in_f)
    for blk in prange((n_rows + _BJ - 1) // _BJ):
        j0 = row0 + blk * _BJ
        j1 = min(j0 + _BJ, row0 + n_rows)
        buf = np.empty((_BJ, min(_TILE, n_train)), dtype=np.int32)
        for t0 in range(0, n_train, _TILE):
            t1 = min(t0 + _TILE, n_train)
            _block_counts(in_bits, correct_bits, j0, j1, t0, t1, buf)
            for j in range(j0, j1):
                tc = float(total_correct[j])
                for i in range(t0, t1):
                    # branch-free so the loop vectorizes; 0 / 0 -> NaN for undefined columns
                    out[j - row0, i] = (buf[j - j0, i - t0] * float(n_runs) - tc * n_in_f[i]) / in_times_out[i]
    return out


@njit_serial
def _ranks_above(e1, i1, e2, i2):
    """Ranking order: larger estimate first, smaller train index first among ties."""
    return e1 > e2 or (e1 == e2 and i1 < i2)


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
        keys[pos], keys[child] = keys[child], keys[pos]
        idx[pos], idx[child] = idx[child], idx[pos]
        cnt[pos], cnt[child] = cnt[child], cnt[pos]
        pos = child


@njit_serial
def _sift_up(keys, idx, cnt, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if _ranks_above(keys[pos], idx[pos], keys[parent], idx[parent]):
            return
        keys[pos], keys[parent] = keys[parent], keys[pos]
        idx[pos], idx[parent] = idx[parent], idx[pos]
        cnt[pos], cnt[parent] = cnt[parent], cnt[pos]
        pos = parent


@njit_parallel
def influence_topk(in_bits, correct_bits, n_in, total_correct, n_runs, k):
    """Per test example, the k training examples of largest influence, streamed over tiles.

    Peak scratch memory per thread is one _BJ x _TILE count tile plus _BJ heaps; the dense
    matrix is never built. Examples with undefined estimates (never in or never out) are
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
    for blk in prange((n_test + _BJ - 1) // _BJ):
        j0 = blk * _BJ
        j1 = min(j0 + _BJ, n_test)
        buf = np.empty((_BJ, min(_TILE, n_train)), dtype=np.int32)
        keys = np.empty((_BJ, k), dtype=np.float64)
        idx = np.empty((_BJ, k), dtype=np.int64)
        cnt = np.empty((_BJ, k), dtype=np.int64)
        size = np.zeros(_BJ, dtype=np.int64)
        for t0 in range(0, n_train, _TILE):
            t1 = min(t0 + _TILE, n_train)
            _block_counts(in_bits, correct_bits, j0, j1, t0, t1, buf)
            for jj in range(j1 - j0):
                tc = total_correct[j0 + jj]
                for i in range(t0, t1):
                    a = buf[jj, i - t0]
                    e = _estimate(a, n_in[i], tc, n_runs)
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
    for blk in prange((n_test + _BJ - 1) // _BJ):
        j0 = blk * _BJ
        j1 = min(j0 + _BJ, n_test)
        buf = np.empty((_BJ, min(_TILE, n_train)), dtype=np.int32)
        pos = np.zeros(_BJ, dtype=np.int64)
        if fill:
            for jj in range(j1 - j0):
                pos[jj] = offsets[j0 + jj]
        for t0 in range(0, n_train, _TILE):
            t1 = min(t0 + _TILE, n_train)
            _block_counts(in_bits, correct_bits, j0, j1, t0, t1, buf)
            for jj in range(j1 - j0):
                tc = total_correct[j0 + jj]
                for i in range(t0, t1):
                    a = buf[jj, i - t0]
                    if _estimate(a, n_in[i], tc, n_runs) >= threshold:
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


# ---------------------------------------------------------------------------- randomness
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@njit_serial
def _mix64(z):
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit_serial
def stream_state(seed, stream):
    """Initial SplitMix64 state of stream ``stream`` (e.g. an example index) under ``seed``."""
    return _mix64(np.uint64(seed) ^ _mix64(np.uint64(stream) + _GOLDEN))


@njit_serial
def next_uniform(state):
    """SplitMix64 step: (new state, uniform float64 in [0, 1))."""
    state = np.uint64(state) + _GOLDEN  # the cast keeps int64 + uint64 from promoting to float
    return state, (_mix64(state) >> _S11) * (1.0 / 9007199254740992.0)


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
