"""Bit-packing of 0/1 run records, example-major.

A (R runs, n examples) boolean matrix is stored as (n, W) ``uint64`` words with
``W = ceil(R / 64)``: bit ``r % 64`` of word ``r // 64`` in row ``i`` is the value for run ``r``
and example ``i``. Padding bits past run R-1 are always zero, so popcounts over a row count runs.
This is the layout the kernels read: one row per example, words contiguous over runs.
"""

from __future__ import annotations

import numpy as np

WORD_BITS = 64


def n_words(n_runs: int) -> int:
    """Number of 64-bit words that hold ``n_runs`` bits."""
    return (int(n_runs) + WORD_BITS - 1) // WORD_BITS


def pack_runs(matrix: np.ndarray) -> np.ndarray:
    """Pack a boolean (R, n) matrix into (n, ceil(R/64)) uint64 words, example-major."""
    matrix = np.asarray(matrix, dtype=bool)
    n_runs, n = matrix.shape
    w = n_words(n_runs)
    packed = np.packbits(matrix.T, axis=1, bitorder="little")  # (n, ceil(R/8)) uint8
    padded = np.zeros((n, w * 8), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view("<u8").astype(np.uint64, copy=False).reshape(n, w)


def unpack_runs(words: np.ndarray, n_runs: int) -> np.ndarray:
    """Inverse of :func:`pack_runs`: (n, W) uint64 words -> boolean (R, n) matrix."""
    words = np.ascontiguousarray(words, dtype="<u8")
    n = words.shape[0]
    as_bytes = words.view(np.uint8).reshape(n, words.shape[1] * 8)
    bits = np.unpackbits(as_bytes, axis=1, count=n_runs, bitorder="little")
    return bits.T.astype(bool)


# Examples handled at once when repacking, so memory stays at a block of dense runs however
# large the training set (ImageNet: 1.28 million examples).
_ROWS_PER_BLOCK = 1 << 16


def select_runs(words: np.ndarray, n_runs: int, runs: np.ndarray) -> np.ndarray:
    """Repack only the given runs (indices into 0..R-1, in the given order)."""
    runs = np.asarray(runs, dtype=np.int64)
    out = np.zeros((words.shape[0], n_words(len(runs))), dtype=np.uint64)
    for start in range(0, words.shape[0], _ROWS_PER_BLOCK):
        block = slice(start, start + _ROWS_PER_BLOCK)
        out[block] = pack_runs(unpack_runs(words[block], n_runs)[runs])
    return out


def concat_runs(parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Join bit matrices of the same examples along runs: [(words (n, W_k), R_k), ...] ->
    (n, ceil(sum R_k / 64)), with the runs of each part after those of the parts before it.

    Works on the words directly (shifts), never unpacking to one byte per bit.
    """
    n = parts[0][0].shape[0]
    total = sum(r for _, r in parts)
    out = np.zeros((n, n_words(total)), dtype=np.uint64)
    offset = 0
    for words, n_runs in parts:
        first, shift = divmod(offset, WORD_BITS)
        w = n_words(n_runs)
        if shift == 0:
            out[:, first:first + w] = words[:, :w]
        else:
            out[:, first:first + w] |= words[:, :w] << np.uint64(shift)
            # the high bits of each word spill into the next output word
            spill = words[:, :w] >> np.uint64(WORD_BITS - shift)
            end = min(first + 1 + w, out.shape[1])
            out[:, first + 1:end] |= spill[:, : end - first - 1]
        offset += n_runs
    return out
