"""Influence of training examples on test examples (Feldman & Zhang 2020), in three forms.

- :func:`influence_topk`: the k most influential training examples per test example, streamed
  over tiles of the training set (memory O(n_test x k); the dense matrix is never built);
- :func:`influence_pairs`: every (test, train) pair whose estimate reaches a threshold;
- :func:`influence_matrix`: the dense (n_test, n_train) matrix, in memory or memory-mapped files.

:func:`influence` dispatches to one of them by its keyword arguments (kept for compatibility).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import kernels, params
from ..atomic import atomic_memmaps
from ..errors import HeldoutError, ParameterError
from ..intervals import IntervalSpec, interval_spec
from ..records import RunSet
from ._common import DifferenceEstimates, check_runs, difference_estimates, difference_intervals, influence_streams


def _counts_of(runs: RunSet):
    """The kernels' arguments: bits, runs in per train example, runs correct per test example."""
    n_in = kernels.row_popcounts(runs.train_mask_bits)
    total_correct = kernels.row_popcounts(runs.correct_test_bits)
    return (runs.train_mask_bits, runs.correct_test_bits, n_in, total_correct, runs.n_runs)


def _prepare(runs, confidence, method, n_boot, seed) -> tuple[RunSet, IntervalSpec]:
    return check_runs(runs, needs_test=True), interval_spec(confidence, method, n_boot, seed)


# ---------------------------------------------------------------------------- top-k
@dataclass(frozen=True)
class InfluenceTopK(DifferenceEstimates):
    """The k most influential training examples per test example; arrays (n_test, k).

    ``train_idx`` names them; rows are sorted by estimate, largest first (ties: smaller train
    index first). Where fewer than k training examples have a defined estimate, the row is
    padded with ``train_idx`` -1 and NaN. ``n_in``/``n_out``/``correct_in``/``correct_out`` are
    the counts of each pair.
    """

    train_idx: np.ndarray


def influence_topk(runs: RunSet, k: int, *, confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000,
                   seed: int | None = None) -> InfluenceTopK:
    """Per test example, the ``k`` training examples of largest influence, with intervals.

    Args:
        runs: runs at one subset ratio, with test correctness.
        k: training examples kept per test example (at most n_train).
        confidence, method, n_boot, seed: as in :func:`~heldout_core.estimators.memorization`.
    """
    runs, spec = _prepare(runs, confidence, method, n_boot, seed)
    k = params.integer(k, "top_k", minimum=1)
    if k > runs.n_train:
        raise ParameterError("top_k", f"{{parameter}}={k} exceeds the number of training examples ({runs.n_train}).")
    args = _counts_of(runs)
    n_in, total_correct, n_runs = args[2], args[3], args[4]
    idx, correct_in = kernels.influence_topk(*args, k)
    valid = idx >= 0
    pair_in = np.where(valid, n_in[np.maximum(idx, 0)], 0)
    pair_out = np.where(valid, n_runs - pair_in, 0)
    correct_out = np.where(valid, total_correct[:, None] - correct_in, 0)
    streams = influence_streams(np.arange(runs.n_test)[:, None], idx, runs.n_train)
    return InfluenceTopK(train_idx=idx, **difference_estimates(correct_in, pair_in, correct_out, pair_out, spec, streams))


# ---------------------------------------------------------------------------- threshold
@dataclass(frozen=True)
class InfluencePairs(DifferenceEstimates):
    """All (test, train) pairs whose estimate is at least ``threshold``; arrays (m,), sorted by
    ``test_idx``, then ``train_idx``."""

    test_idx: np.ndarray
    train_idx: np.ndarray
    threshold: float


def influence_pairs(runs: RunSet, threshold: float, *, confidence: float = 0.95, method: str = "newcombe",
                    n_boot: int = 2000, seed: int | None = None) -> InfluencePairs:
    """Every (test, train) pair with influence estimate >= ``threshold``, with intervals.

    Two streamed passes over the counts (count per row, then fill), so memory is the output.
    """
    runs, spec = _prepare(runs, confidence, method, n_boot, seed)
    threshold = params.influence_threshold(threshold)
    args = _counts_of(runs)
    n_in, total_correct, n_runs = args[2], args[3], args[4]
    test_idx, train_idx, correct_in = kernels.influence_threshold(*args, threshold)
    pair_in = n_in[train_idx]
    pair_out = n_runs - pair_in
    correct_out = total_correct[test_idx] - correct_in
    streams = influence_streams(test_idx, train_idx, runs.n_train)
    return InfluencePairs(test_idx=test_idx, train_idx=train_idx, threshold=threshold,
                          **difference_estimates(correct_in, pair_in, correct_out, pair_out, spec, streams))


# ---------------------------------------------------------------------------- dense
@dataclass(frozen=True)
class InfluenceMatrix:
    """Dense influence: ``estimate``, ``ci_low``, ``ci_high`` float32 (n_test, n_train), row j
    is test example j. ``n_in``/``n_out`` (n_train,) and ``total_correct`` (n_test,) are the
    counts the estimates rest on (NaN columns: never in or never out)."""

    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    total_correct: np.ndarray
    confidence: float
    method: str

    @property
    def n_undefined(self) -> int:
        """Training examples never trained on or never held out (NaN columns)."""
        return int(((self.n_in == 0) | (self.n_out == 0)).sum())


def dense_output_paths(out: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``PATH.npy`` -> (PATH.npy, PATH.ci_low.npy, PATH.ci_high.npy)."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".npy" else out
    return Path(f"{stem}.npy"), Path(f"{stem}.ci_low.npy"), Path(f"{stem}.ci_high.npy")


def influence_matrix(runs: RunSet, *, out: str | os.PathLike | None = None, rows_per_chunk: int = 256,
                     confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000,
                     seed: int | None = None) -> InfluenceMatrix:
    """The dense influence matrix with intervals, float32 (n_test, n_train) each.

    With ``out=PATH.npy`` the three matrices are written to ``PATH.npy``, ``PATH.ci_low.npy`` and
    ``PATH.ci_high.npy`` chunk by chunk (memory-mapped, so memory stays at one chunk of rows
    however large the matrix), atomically, and returned memory-mapped read-only.

    Args:
        rows_per_chunk: test rows per chunk (bounds the temporaries).
    """
    runs, spec = _prepare(runs, confidence, method, n_boot, seed)
    rows_per_chunk = params.integer(rows_per_chunk, "rows_per_chunk", minimum=1)
    in_bits, test_bits, n_in, total_correct, n_runs = _counts_of(runs)
    n_out = n_runs - n_in
    shape = (runs.n_test, runs.n_train)

    def fill(estimate, ci_low, ci_high):
        for row0 in range(0, runs.n_test, rows_per_chunk):
            rows = slice(row0, min(row0 + rows_per_chunk, runs.n_test))
            counts = kernels.pair_counts(in_bits, test_bits[rows])
            tc = total_correct[rows, None]
            streams = influence_streams(np.arange(rows.start, rows.stop)[:, None], np.arange(runs.n_train), runs.n_train)
            est, lo, hi, _ = difference_intervals(counts, np.broadcast_to(n_in, counts.shape), tc - counts,
                                                  np.broadcast_to(n_out, counts.shape), spec, streams)
            estimate[rows], ci_low[rows], ci_high[rows] = est, lo, hi

    if out is None:
        matrices = tuple(np.empty(shape, dtype=np.float32) for _ in range(3))
        fill(*matrices)
    else:
        paths = dense_output_paths(out)
        with atomic_memmaps(paths, shape, np.float32) as maps:
            fill(*maps)
        matrices = tuple(np.load(p, mmap_mode="r") for p in paths)
    return InfluenceMatrix(*matrices, n_in, n_out, total_correct, spec.confidence, spec.method)


# ---------------------------------------------------------------------------- dispatcher
def influence(runs: RunSet, *, top_k: int | None = None, threshold: float | None = None, full: bool = False,
              confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000, seed: int | None = None,
              out=None, rows_per_chunk: int = 256):
    """Influence of training example i on test example j: accuracy on j when trained on i minus when not.

    Exactly one form: ``top_k=k`` (:func:`influence_topk`), ``threshold=t``
    (:func:`influence_pairs`) or ``full=True`` (:func:`influence_matrix`, which takes ``out`` and
    ``rows_per_chunk``). Other arguments as in :func:`~heldout_core.estimators.memorization`.
    """
    chosen = [name for name, on in (("top_k", top_k is not None), ("threshold", threshold is not None),
                                    ("full", bool(full))) if on]
    if len(chosen) != 1:
        raise HeldoutError(
            "choose exactly one of top_k=k (the k most influential training examples per test example), "
            f"threshold=t (all pairs with influence >= t) or full=True (the dense matrix); got {', '.join(chosen) or 'none'}.")
    options = dict(confidence=confidence, method=method, n_boot=n_boot, seed=seed)
    if top_k is not None:
        return influence_topk(runs, top_k, **options)
    if threshold is not None:
        return influence_pairs(runs, threshold, **options)
    return influence_matrix(runs, out=out, rows_per_chunk=rows_per_chunk, **options)
