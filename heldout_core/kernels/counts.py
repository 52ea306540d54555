"""Counting kernels: popcounts over bit-packed runs, and the AND-popcount pair-count product.

Bit matrices are example-major ``uint64 (n, W)`` (see :mod:`heldout_core.bitpack`). Counts per
training example i and target j (Feldman & Zhang 2020)::

    a = #runs with i in and j correct      b = #runs with i in
    c = #runs with i out and j correct     d = #runs with i out = R - b
    estimate = a / b - c / d = (a d - c b) / (b d),  c = total_correct_j - a

The estimate is computed as one division of exact integers, (a R - total_correct_j b) / (b d):
the correctly rounded value, identical wherever it is computed, with no branch (0 / 0 gives NaN
exactly when i was never in or never out).

Layers (as in stumpy / pynndescent): small serial workers, ``parallel=True`` drivers that give
each thread its own output rows (``prange`` over rows, never ``+=`` into shared cells), and
plain-Python callers in :mod:`heldout_core.estimators` that validate and wrap.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .config import njit_parallel, njit_serial, popcount64


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
# each word loaded is used 4 times. Cache level: a thread takes TEST_BLOCK test rows at a time (its own
# output rows) and walks the training set in tiles of TRAIN_TILE rows (TRAIN_TILE x W words, 256 KB at
# 2,048 runs), so a training tile is read from L2 by all TEST_BLOCK / _BT register tiles instead of
# from L3 or memory once per 4 test rows.
_BT = 4
_BI = 4
TEST_BLOCK = 64
TRAIN_TILE = 1024


@njit_serial
def block_counts(in_bits, correct_bits, j0, j1, i0, i1, buf):
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
    for blk in prange((n_test + TEST_BLOCK - 1) // TEST_BLOCK):
        j0 = blk * TEST_BLOCK
        j1 = min(j0 + TEST_BLOCK, n_test)
        for t0 in range(0, n_train, TRAIN_TILE):
            t1 = min(t0 + TRAIN_TILE, n_train)
            block_counts(in_bits, correct_bits, j0, j1, t0, t1, out[j0:j1, t0:t1])
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
@njit_serial
def pair_estimate(a, b, total_correct, n_runs):
    """Influence estimate from counts (see the module docstring); NaN when b or R - b is 0."""
    return (float(a) * n_runs - float(total_correct) * b) / (float(b) * (n_runs - b))


# ---------------------------------------------------------------------------- per-run counts
@njit_parallel
def per_run_counts(mask_bits, correct_bits):
    """Per run, counts over examples: (n_in, correct_in, correct_out), each int64 (64 W,).

    Entry r counts the examples run r trained on, those of them it got right, and the held-out
    examples it got right (padding runs past R count 0). Each thread owns one word column, so
    64 runs' counters, and walks every example.
    """
    n, w = mask_bits.shape
    n_in = np.zeros(w * 64, dtype=np.int64)
    correct_in = np.zeros(w * 64, dtype=np.int64)
    correct_out = np.zeros(w * 64, dtype=np.int64)
    for k in prange(w):
        a = np.zeros(64, dtype=np.int64)
        b = np.zeros(64, dtype=np.int64)
        c = np.zeros(64, dtype=np.int64)
        for i in range(n):
            m = mask_bits[i, k]
            y = correct_bits[i, k]
            hit = m & y
            miss_out = ~m & y
            for bit in range(64):
                s = np.uint64(bit)
                # explicit casts: int64 += uint64 would go through float64 in Numba
                a[bit] += np.int64((m >> s) & np.uint64(1))
                b[bit] += np.int64((hit >> s) & np.uint64(1))
                c[bit] += np.int64((miss_out >> s) & np.uint64(1))
        for bit in range(64):
            n_in[k * 64 + bit] = a[bit]
            correct_in[k * 64 + bit] = b[bit]
            correct_out[k * 64 + bit] = c[bit]
    return n_in, correct_in, correct_out


@njit_parallel
def per_run_ones(bits):
    """Per run, the number of examples whose bit is set, int64 (64 W,) (e.g. test examples right)."""
    n, w = bits.shape
    out = np.zeros(w * 64, dtype=np.int64)
    for k in prange(w):
        acc = np.zeros(64, dtype=np.int64)
        for i in range(n):
            x = bits[i, k]
            for bit in range(64):
                acc[bit] += np.int64((x >> np.uint64(bit)) & np.uint64(1))
        for bit in range(64):
            out[k * 64 + bit] = acc[bit]
    return out
