"""Bit-packing of 0/1 run records, example-major: the one vocabulary for packed runs.

A (R runs, n examples) boolean matrix is stored as (n, W) ``uint64`` words with
``W = ceil(R / 64)``: bit ``r % 64`` of word ``r // 64`` in row ``i`` is the value for run ``r``
and example ``i``. Padding bits past run R-1 are always zero, so popcounts over a row count runs.
This is the layout the kernels read: one row per example, words contiguous over runs.

- :func:`pack_runs` / :func:`unpack_runs`: dense (R, n) <-> words (n, W).
- :class:`BitColumns`: packs runs one at a time as they arrive (records streamed from files).
- :func:`run_mask_words`: a selection of runs as one (W,) word mask (all runs, one ratio's runs).
- :func:`padding_is_zero`: the invariant every bit matrix must keep.
- :func:`select_runs`, :func:`concat_runs`: repacking on words.
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


def run_mask_words(selected: np.ndarray) -> np.ndarray:
    """A boolean selection over R runs as (ceil(R/64),) uint64 words (bit r set: run r selected)."""
    return pack_runs(np.asarray(selected, dtype=bool)[:, None])[0]


def all_runs_words(n_runs: int) -> np.ndarray:
    """The word mask selecting every one of ``n_runs`` runs."""
    return run_mask_words(np.ones(int(n_runs), dtype=bool))


def padding_is_zero(words: np.ndarray, n_runs: int) -> bool:
    """Whether every bit past run ``n_runs - 1`` is zero (the invariant popcounts rely on)."""
    rest = int(n_runs) % WORD_BITS
    if not rest or not len(words):
        return True
    return not (words[:, -1] >> np.uint64(rest)).any()


class BitColumns:
    """Packs one boolean (n,) row per run, as runs arrive, into example-major words.

    Memory is the packed matrix plus one word column being filled, however many runs there are
    (ImageNet: 1.28 million examples), never a dense block of runs.
    """

    def __init__(self, n: int):
        self.n = int(n)
        self.n_runs = 0
        self._columns: list[np.ndarray] = []
        self._current = np.zeros(self.n, dtype=np.uint64)

    def append(self, values: np.ndarray) -> None:
        """Add the next run's (n,) values."""
        bit = self.n_runs % WORD_BITS
        self._current |= np.asarray(values, dtype=bool).astype(np.uint64) << np.uint64(bit)
        self.n_runs += 1
        if bit == WORD_BITS - 1:
            self._columns.append(self._current)
            self._current = np.zeros(self.n, dtype=np.uint64)

    def words(self) -> np.ndarray:
        """(n, ceil(R/64)) uint64 words of the runs added so far."""
        columns = self._columns + ([self._current] if self.n_runs % WORD_BITS else [])
        if not columns:
            return np.zeros((self.n, 0), dtype=np.uint64)
        return np.stack(columns, axis=1)


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
