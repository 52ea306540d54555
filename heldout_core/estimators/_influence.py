"""Influence of training examples on test examples (Feldman & Zhang 2020), in three forms.

- :func:`influence_topk`: the k most influential training examples per test example, streamed
  over tiles of the training set (memory O(n_test x k); the dense matrix is never built);
- :func:`influence_pairs`: every (test, train) pair whose estimate reaches a threshold;
- :func:`influence_matrix`: the dense (n_test, n_train) matrix, in memory or memory-mapped files.

Each takes ``test_rows=range(start, stop)`` to compute those test examples alone: the result is
exactly those rows of the full call (same estimates, same intervals: every bootstrap stream is
named by its global (test, train) pair), which is how :mod:`heldout_core.distributed` splits
the work across a cluster.

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
from ..intervals import IntervalSpec, interval_spec, normal_quantile
from ..records import RunSet
from ._common import (BOOTSTRAP_CHUNK, DifferenceEstimates, check_runs, difference_estimates, difference_intervals,
                      influence_streams)


def _counts_of(runs: RunSet):
    """The kernels' arguments: bits, runs in per train example, runs correct per test example."""
    n_in = kernels.row_popcounts(runs.train_mask_bits)
    total_correct = kernels.row_popcounts(runs.correct_test_bits)
    return (runs.train_mask_bits, runs.correct_test_bits, n_in, total_correct, runs.n_runs)


def _prepare(runs, confidence, method, n_boot, seed, test_rows) -> tuple[RunSet, IntervalSpec, slice]:
    runs = check_runs(runs, needs_test=True)
    return runs, interval_spec(confidence, method, n_boot, seed), params.row_range(test_rows, runs.n_test)


def _global_rows(rows: slice) -> np.ndarray:
    """The test example ids of ``rows`` (int64), for bootstrap streams and pair ids."""
    return np.arange(rows.start, rows.stop, dtype=np.int64)


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
                   seed: int | None = 0, test_rows=None) -> InfluenceTopK:
    """Per test example, the ``k`` training examples of largest influence, with intervals.

    Args:
        runs: runs at one subset ratio, with test correctness.
        k: training examples kept per test example (at most n_train).
        confidence, method, n_boot, seed: as in :func:`~heldout_core.estimators.memorization`.
        test_rows: ``range(start, stop)`` to compute only those test examples (row r of the
            result is test example start + r, identical to that row of the full result).
    """
    runs, spec, rows = _prepare(runs, confidence, method, n_boot, seed, test_rows)
    k = params.integer(k, "top_k", minimum=1)
    if k > runs.n_train:
        raise ParameterError("top_k", f"{{parameter}}={k} exceeds the number of training examples ({runs.n_train}).")
    in_bits, test_bits, n_in, total_correct, n_runs = _counts_of(runs)
    total_correct = total_correct[rows]
    idx, correct_in = kernels.influence_topk(in_bits, test_bits[rows], n_in, total_correct, n_runs, k)
    valid = idx >= 0
    pair_in = np.where(valid, n_in[np.maximum(idx, 0)], 0)
    pair_out = np.where(valid, n_runs - pair_in, 0)
    correct_out = np.where(valid, total_correct[:, None] - correct_in, 0)
    streams = influence_streams(_global_rows(rows)[:, None], idx, runs.n_train)
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
                    n_boot: int = 2000, seed: int | None = 0, test_rows=None) -> InfluencePairs:
    """Every (test, train) pair with influence estimate >= ``threshold``, with intervals.

    Two streamed passes over the counts (count per row, then fill), so memory is the output.
    ``test_rows=range(start, stop)``: only the pairs of those test examples (``test_idx`` stays
    the global id).
    """
    runs, spec, rows = _prepare(runs, confidence, method, n_boot, seed, test_rows)
    threshold = params.influence_threshold(threshold)
    in_bits, test_bits, n_in, total_correct, n_runs = _counts_of(runs)
    local_idx, train_idx, correct_in = kernels.influence_threshold(in_bits, test_bits[rows], n_in, total_correct[rows],
                                                                   n_runs, threshold)
    test_idx = local_idx + rows.start
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
    counts the estimates rest on (NaN columns: never in or never out). Computed with
    ``intervals=False``, ``ci_low``, ``ci_high``, ``confidence`` and ``method`` are None."""

    estimate: np.ndarray
    ci_low: np.ndarray | None
    ci_high: np.ndarray | None
    n_in: np.ndarray
    n_out: np.ndarray
    total_correct: np.ndarray
    confidence: float | None
    method: str | None

    @property
    def n_undefined(self) -> int:
        """Training examples never trained on or never held out (NaN columns)."""
        return int(((self.n_in == 0) | (self.n_out == 0)).sum())


def dense_output_paths(out: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``PATH.npy`` -> (PATH.npy, PATH.ci_low.npy, PATH.ci_high.npy)."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".npy" else out
    return Path(f"{stem}.npy"), Path(f"{stem}.ci_low.npy"), Path(f"{stem}.ci_high.npy")


def _chunks(n_rows: int, rows: int):
    """Slices of ``rows`` consecutive rows (the last one shorter) covering 0 .. n_rows - 1."""
    for row0 in range(0, n_rows, rows):
        yield slice(row0, min(row0 + rows, n_rows))


def _fill_closed_form(args, spec: IntervalSpec, matrices, rows_per_chunk: int | None, first: int) -> None:
    """Estimates (and Newcombe intervals when three matrices are given) straight from the kernel
    into ``matrices``, float32 (n_rows, n_train) each, in memory or memory-mapped; row r is test
    example ``first + r``."""
    in_bits, test_bits, n_in, total_correct, n_runs = args
    intervals = len(matrices) == 3
    none = np.empty((0, 0), dtype=np.float32)
    z = normal_quantile(spec.confidence)
    n_rows = matrices[0].shape[0]
    for rows in _chunks(n_rows, rows_per_chunk or max(n_rows, 1)):
        parts = [np.asarray(m[rows]) for m in matrices] + [none, none][:3 - len(matrices)]
        kernels.influence_dense(in_bits, test_bits, n_in, total_correct, n_runs, z, first + rows.start, *parts,
                                intervals)


def _fill_bootstrap(args, spec: IntervalSpec, matrices, rows_per_chunk: int | None, first: int) -> None:
    """Bootstrap intervals, streamed: rows of at most BOOTSTRAP_CHUNK pairs (one row at least) at
    a time, so scratch memory is bounded by the chunk, not the matrix; row r is test example
    ``first + r``."""
    in_bits, test_bits, n_in, total_correct, n_runs = args
    n_train = len(n_in)
    rows_per = max(1, BOOTSTRAP_CHUNK // max(n_train, 1))
    for rows in _chunks(matrices[0].shape[0], min(rows_per, rows_per_chunk or rows_per)):
        test = slice(first + rows.start, first + rows.stop)
        counts = kernels.pair_counts(in_bits, test_bits[test])
        streams = influence_streams(_global_rows(test)[:, None], np.arange(n_train), n_train)
        values = difference_intervals(counts, n_in, total_correct[test, None] - counts, n_runs - n_in, spec, streams)
        for matrix, value in zip(matrices, values):
            matrix[rows] = value


def influence_matrix(runs: RunSet, *, out: str | os.PathLike | None = None, rows_per_chunk: int | None = None,
                     intervals: bool = True, confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000,
                     seed: int | None = 0, test_rows=None) -> InfluenceMatrix:
    """The dense influence matrix with intervals, float32 (n_test, n_train) each.

    Newcombe intervals are computed inside the count kernel, pair by pair, and stored straight
    into the float32 outputs: no float64 matrix is built, and the extra memory is a count tile
    per thread. With ``out=PATH.npy`` the matrices are written to ``PATH.npy``,
    ``PATH.ci_low.npy`` and ``PATH.ci_high.npy`` (memory-mapped, so memory stays at what is
    being written however large the matrix), atomically, and returned memory-mapped read-only.
    The bootstrap methods resample every pair (O(n_boot) each: hours at CIFAR scale), streamed
    in chunks of bounded memory.

    Args:
        intervals: False for the estimates alone (about 60% of the time of the Newcombe form, and
            one output instead of three; with ``out`` only ``PATH.npy`` is written).
        rows_per_chunk: at most this many test rows per kernel call (default: all rows at once
            for the closed form; rows of at most 65,536 pairs for the bootstrap methods).
        test_rows: ``range(start, stop)`` for those test examples alone: matrices of shape
            (stop - start, n_train), row r being test example start + r (``total_correct`` too).
    """
    runs, spec, rows = _prepare(runs, confidence, method, n_boot, seed, test_rows)
    intervals = params.flag(intervals, "intervals")
    if rows_per_chunk is not None:
        rows_per_chunk = params.integer(rows_per_chunk, "rows_per_chunk", minimum=1)
    args = _counts_of(runs)
    n_in, total_correct = args[2], args[3][rows]
    shape = (rows.stop - rows.start, runs.n_train)
    count = 3 if intervals else 1
    fill = _fill_bootstrap if intervals and spec.method != "newcombe" else _fill_closed_form

    if out is None:
        matrices = tuple(np.empty(shape, dtype=np.float32) for _ in range(count))
        fill(args, spec, matrices, rows_per_chunk, rows.start)
    else:
        paths = dense_output_paths(out)[:count]
        with atomic_memmaps(paths, shape, np.float32) as maps:
            fill(args, spec, maps, rows_per_chunk, rows.start)
        matrices = tuple(np.load(p, mmap_mode="r") for p in paths)
    estimate, ci_low, ci_high = (matrices + (None, None))[:3]
    return InfluenceMatrix(estimate, ci_low, ci_high, n_in, runs.n_runs - n_in, total_correct,
                           spec.confidence if intervals else None, spec.method if intervals else None)


# ---------------------------------------------------------------------------- dispatcher
def influence(runs: RunSet, *, top_k: int | None = None, threshold: float | None = None, full: bool = False,
              confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000, seed: int | None = 0,
              out=None, rows_per_chunk: int | None = None, intervals: bool = True, test_rows=None):
    """Influence of training example i on test example j: accuracy on j when trained on i minus when not.

    Exactly one form: ``top_k=k`` (:func:`influence_topk`), ``threshold=t``
    (:func:`influence_pairs`) or ``full=True`` (:func:`influence_matrix`, which takes ``out``,
    ``rows_per_chunk`` and ``intervals``); ``test_rows`` limits any form to a range of test
    examples. Other arguments as in
    :func:`~heldout_core.estimators.memorization`.
    """
    chosen = [name for name, on in (("top_k", top_k is not None), ("threshold", threshold is not None),
                                    ("full", bool(full))) if on]
    if len(chosen) != 1:
        raise HeldoutError(
            "choose exactly one of top_k=k (the k most influential training examples per test example), "
            f"threshold=t (all pairs with influence >= t) or full=True (the dense matrix); got {', '.join(chosen) or 'none'}.")
    options = dict(confidence=confidence, method=method, n_boot=n_boot, seed=seed, test_rows=test_rows)
    if not full and not params.flag(intervals, "intervals"):
        raise ParameterError("intervals", "{parameter} applies to the dense matrix (full=True) only; the top-k and "
                                          "threshold forms always carry their intervals.")
    if top_k is not None:
        return influence_topk(runs, top_k, **options)
    if threshold is not None:
        return influence_pairs(runs, threshold, **options)
    return influence_matrix(runs, out=out, rows_per_chunk=rows_per_chunk, intervals=intervals, **options)
