"""The dense influence matrix: estimates and Newcombe intervals written straight into float32 outputs.

One pass over the pair counts, tile by tile (the blocking of :mod:`.counts`): a thread counts a
TEST_BLOCK x TRAIN_TILE tile into its own int32 scratch, turns each count into its pair's
estimate and (optionally) Newcombe interval, and stores them as float32 into the caller's
arrays, which may be memory-mapped files. Nothing of the matrix's size is allocated here: per
thread, one count tile and the per-column Wilson terms of its TRAIN_TILE columns.

Values: the estimate is the correctly rounded (a R - total_correct b) / (b d) (see
:mod:`.counts`) rounded to float32; the limits are those of :mod:`.newcombe` (bit-identical to
:func:`heldout_core.intervals.mover_wilson` in float64) rounded to float32.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .config import njit_parallel, njit_serial
from .counts import TEST_BLOCK, TRAIN_TILE, block_counts
from .newcombe import newcombe_limits, wilson_offsets, wilson_terms

# rows of the per-column table: group sizes, the estimate's denominator, Wilson terms per group
_N_IN, _N_OUT, _IN_TIMES_OUT, _IN_TERMS, _OUT_TERMS = 0, 1, 2, 3, 7
_N_COLUMN_ROWS = 11


@njit_parallel
def influence_dense(in_bits, correct_bits, n_in, total_correct, n_runs, z, row0, estimate, ci_low, ci_high,
                    intervals):
    """Fill test rows row0 .. row0 + len(estimate) - 1 of the dense influence matrix.

    in_bits: uint64 (n_train, W); correct_bits: uint64 (n_test, W); n_in: int64 (n_train,) runs
    with i in; total_correct: int64 (n_test,) runs with j correct; z: normal quantile of the
    interval level. estimate, ci_low, ci_high: float32 (n_rows, n_train), written in place (row
    r is test example row0 + r); with ``intervals`` False only ``estimate`` is touched (the
    others may be empty). NaN columns: i never in or never out.
    """
    n_train = in_bits.shape[0]
    n_rows = estimate.shape[0]
    n_tiles = (n_train + TRAIN_TILE - 1) // TRAIN_TILE
    n_blocks = (n_rows + TEST_BLOCK - 1) // TEST_BLOCK
    runs = float(n_runs)
    # One task per (test block, training tile), so that a chunk of few rows still occupies every
    # thread; consecutive tasks share a test block, whose rows stay in L1 across its tiles.
    for task in prange(n_blocks * n_tiles):
        j0 = row0 + (task // n_tiles) * TEST_BLOCK
        j1 = min(j0 + TEST_BLOCK, row0 + n_rows)
        t0 = (task % n_tiles) * TRAIN_TILE
        width = min(TRAIN_TILE, n_train - t0)
        buf = np.empty((TEST_BLOCK, width), dtype=np.int32)
        block_counts(in_bits, correct_bits, j0, j1, t0, t0 + width, buf)
        col = np.empty((_N_COLUMN_ROWS, width))
        for ii in range(width):
            b = float(n_in[t0 + ii])
            d = runs - b
            col[_N_IN, ii] = b
            col[_N_OUT, ii] = d
            col[_IN_TIMES_OUT, ii] = b * d
            terms_in = wilson_terms(b, z)
            terms_out = wilson_terms(d, z)
            for k in range(4):
                col[_IN_TERMS + k, ii] = terms_in[k]
                col[_OUT_TERMS + k, ii] = terms_out[k]
        for jj in range(j1 - j0):
            tc = float(total_correct[j0 + jj])
            r = j0 + jj - row0
            if intervals:
                _estimate_and_limits_row(buf[jj], col, tc, runs, estimate[r, t0:t0 + width],
                                         ci_low[r, t0:t0 + width], ci_high[r, t0:t0 + width])
            else:
                _estimate_row(buf[jj], col, tc, runs, estimate[r, t0:t0 + width])


@njit_serial
def _estimate_row(counts, col, tc, runs, est_out):
    """est_out[i] = (a R - tc b) / (b d): branch-free, so the loop vectorizes (0 / 0 -> NaN)."""
    for ii in range(len(counts)):
        est_out[ii] = (counts[ii] * runs - tc * col[_N_IN, ii]) / col[_IN_TIMES_OUT, ii]


@njit_serial
def _estimate_and_limits_row(counts, col, tc, runs, est_out, low_out, high_out):
    """One row of a tile: estimate and Newcombe limits of each pair, in float64, stored as float32."""
    for ii in range(len(counts)):
        a = float(counts[ii])
        b = col[_N_IN, ii]
        d = col[_N_OUT, ii]
        est_out[ii] = (a * runs - tc * b) / col[_IN_TIMES_OUT, ii]
        p1, down1, up1 = wilson_offsets(a, b, col[_IN_TERMS, ii], col[_IN_TERMS + 1, ii],
                                        col[_IN_TERMS + 2, ii], col[_IN_TERMS + 3, ii])
        p2, down2, up2 = wilson_offsets(tc - a, d, col[_OUT_TERMS, ii], col[_OUT_TERMS + 1, ii],
                                        col[_OUT_TERMS + 2, ii], col[_OUT_TERMS + 3, ii])
        low_out[ii], high_out[ii] = newcombe_limits(p1, down1, up1, p2, down2, up2)
