"""Memorization, influence and consistency (C-)scores, each with confidence intervals.

Every public function validates its input (``_*_iv``), computes counts with the Numba kernels,
and returns a small frozen dataclass defined just above it. Nothing here prints.

Definitions (Feldman & Zhang 2020; Jiang et al. 2021; DESIGN.md section 1), for training
example i and target j (i itself for memorization, a test example for influence):

    estimate = (#runs with i in and j correct) / (#runs with i in)
             - (#runs with i out and j correct) / (#runs with i out)

C-score(i) = unweighted mean over subset ratios of (#runs at that ratio with i out and i
correct) / (#runs at that ratio with i out).

Intervals: see :mod:`heldout_core.intervals` (default ``"newcombe"``). An estimate whose
in- or out-group is empty is NaN with a NaN interval, and is counted in ``n_undefined``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import kernels
from .errors import HeldoutError
from .intervals import IntervalSpec, interval_spec, weighted_proportion_intervals
from .records import RunSet

_DIFFERENCE = np.array([1.0, -1.0])
# Bootstrap stream ids: memorization uses the example index, a C-score _CSCORE_STREAMS + index
# (one ratio's held-out accuracy: + (1 + ratio * 1e6) * n_train + index), an influence pair
# _INFLUENCE_STREAMS + test * n_train + train, so no two statistics share one.
_CSCORE_STREAMS = 1 << 61
_INFLUENCE_STREAMS = 1 << 62


def _all_runs(n_runs: int) -> np.ndarray:
    words = np.zeros((n_runs + 63) // 64, dtype=np.uint64)
    full, rest = divmod(n_runs, 64)
    words[:full] = np.uint64(0xFFFFFFFFFFFFFFFF)
    if rest:
        words[full] = np.uint64((1 << rest) - 1)
    return words


def _runs_iv(runs, *, needs_test: bool = False, one_ratio: bool = True) -> RunSet:
    if not isinstance(runs, RunSet):
        raise HeldoutError(f"runs must be a heldout_core.RunSet, got {type(runs).__name__}.")
    if one_ratio and len(runs.ratios) > 1:
        have = ", ".join(f"{r:g}" for r in runs.ratios)
        raise HeldoutError(
            f"the runs mix subset ratios ({have}); memorization and influence are defined at one ratio: "
            "select one with runs.by_ratio(r) (--ratio on the command line)."
        )
    if needs_test and runs.n_test == 0:
        raise HeldoutError("the runs have no test correctness records (correct_test), which influence needs.")
    return runs


def _pairs_intervals(correct_in, n_in, correct_out, n_out, spec: IntervalSpec, streams):
    """Difference-of-proportions intervals for arrays of counts of any shape; ``streams`` (same
    shape) identifies each statistic for the bootstrap (see weighted_proportion_intervals)."""
    shape = np.shape(correct_in)
    counts = lambda *a: np.stack([np.ravel(x) for x in a], axis=-1)  # noqa: E731
    iv = weighted_proportion_intervals(counts(correct_in, correct_out), counts(n_in, n_out), _DIFFERENCE, spec,
                                       np.ravel(streams))
    # The estimate as the kernels compute it, one division of exact integers, so a pair's value
    # is bit-identical in every output form.
    a, b, c, d = (np.asarray(x, dtype=np.float64) for x in (correct_in, n_in, correct_out, n_out))
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = (a * d - c * b) / (b * d)
    return estimate, iv.ci_low.reshape(shape), iv.ci_high.reshape(shape), iv.standard_error.reshape(shape)


# ---------------------------------------------------------------------------- memorization
@dataclass(frozen=True)
class MemorizationResult:
    """Memorization per training example; float64 / int64 arrays of shape (n_train,).

    ``standard_error`` is the bootstrap standard error (NaN for the analytic method).
    """

    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    correct_in: np.ndarray
    correct_out: np.ndarray
    standard_error: np.ndarray
    confidence: float
    method: str

    @property
    def n_undefined(self) -> int:
        """Examples never trained on or never held out (NaN estimate)."""
        return int(np.isnan(self.estimate).sum())


def memorization(runs: RunSet, *, confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000,
                 seed: int | None = None) -> MemorizationResult:
    """Memorization of each training example: accuracy on it when trained on it minus when not.

    Args:
        runs: runs at one subset ratio.
        confidence: two-sided level of the intervals.
        method: ``"newcombe"`` (default), ``"bootstrap"`` or ``"bca"``; see :mod:`heldout_core.intervals`.
        n_boot, seed: bootstrap replicates and seed (bootstrap methods only).
    """
    runs = _runs_iv(runs)
    spec = interval_spec(confidence, method, n_boot, seed)
    n_in, correct_in, n_out, correct_out = kernels.holdout_counts(
        runs.train_mask_bits, runs.correct_train_bits, _all_runs(runs.n_runs))
    est, lo, hi, se = _pairs_intervals(correct_in, n_in, correct_out, n_out, spec, np.arange(runs.n_train))
    return MemorizationResult(est, lo, hi, n_in, n_out, correct_in, correct_out, se, spec.confidence, spec.method)


# ---------------------------------------------------------------------------- influence
@dataclass(frozen=True)
class InfluenceTopK:
    """The k most influential training examples per test example; arrays (n_test, k).

    Rows are sorted by estimate, largest first (ties: smaller train index first). Where fewer
    than k training examples have a defined estimate, the row is padded with ``train_idx`` -1
    and NaN. ``n_in``/``n_out``/``correct_in``/``correct_out`` are the counts of each pair.
    """

    train_idx: np.ndarray
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    correct_in: np.ndarray
    correct_out: np.ndarray
    standard_error: np.ndarray
    confidence: float
    method: str


@dataclass(frozen=True)
class InfluencePairs:
    """All (test, train) pairs whose estimate is at least ``threshold``; arrays (m,), sorted by
    test index, then train index."""

    test_idx: np.ndarray
    train_idx: np.ndarray
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    correct_in: np.ndarray
    correct_out: np.ndarray
    standard_error: np.ndarray
    threshold: float
    confidence: float
    method: str


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


def _influence_iv(top_k, threshold, full, n_train):
    chosen = [name for name, on in (("top_k", top_k is not None), ("threshold", threshold is not None),
                                    ("full", bool(full))) if on]
    if len(chosen) != 1:
        raise HeldoutError(
            "choose exactly one of top_k=k (the k most influential training examples per test example), "
            f"threshold=t (all pairs with influence >= t) or full=True (the dense matrix); got {', '.join(chosen) or 'none'}."
        )
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise HeldoutError(f"top_k must be a positive integer, got {top_k!r}.")
        if top_k > n_train:
            raise HeldoutError(f"top_k={top_k} exceeds the number of training examples ({n_train}).")
    if threshold is not None:
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise HeldoutError(f"threshold must be a number, got {threshold!r}.") from None
        if not -1.0 <= threshold <= 1.0:
            raise HeldoutError(f"threshold must be in [-1, 1] (influence is a difference of accuracies), got {threshold}.")
    return threshold


def influence(runs: RunSet, *, top_k: int | None = None, threshold: float | None = None, full: bool = False,
              confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000, seed: int | None = None,
              out=None, rows_per_chunk: int = 256):
    """Influence of training example i on test example j: accuracy on j when trained on i minus when not.

    Choose one output form:
        top_k=k: :class:`InfluenceTopK`, streamed over tiles of the training set, so memory is
            O(n_test x k) and the dense matrix is never built.
        threshold=t: :class:`InfluencePairs` with every pair of estimate >= t.
        full=True: :class:`InfluenceMatrix`, dense float32 (n_test, n_train) estimate and interval.
            With ``out=PATH.npy`` the three matrices are written to ``PATH.npy``,
            ``PATH.ci_low.npy`` and ``PATH.ci_high.npy`` chunk by chunk (memory-mapped, so memory
            stays at one chunk of rows however large the matrix) and returned memory-mapped.

    Args:
        runs: runs at one subset ratio, with test correctness.
        confidence, method, n_boot, seed: as in :func:`memorization`.
        rows_per_chunk: test rows per chunk when filling the dense matrix (bounds temporaries).
    """
    runs = _runs_iv(runs, needs_test=True)
    threshold = _influence_iv(top_k, threshold, full, runs.n_train)
    if isinstance(rows_per_chunk, bool) or not isinstance(rows_per_chunk, (int, np.integer)) or rows_per_chunk < 1:
        raise HeldoutError(f"rows_per_chunk must be a positive integer, got {rows_per_chunk!r}.")
    spec = interval_spec(confidence, method, n_boot, seed)
    n_runs = runs.n_runs
    n_in = kernels.row_popcounts(runs.train_mask_bits)
    total_correct = kernels.row_popcounts(runs.correct_test_bits)
    args = (runs.train_mask_bits, runs.correct_test_bits, n_in, total_correct, n_runs)

    if top_k is not None:
        idx, correct_in = kernels.influence_topk(*args, int(top_k))
        valid = idx >= 0
        pair_in = np.where(valid, n_in[np.maximum(idx, 0)], 0)
        pair_out = np.where(valid, n_runs - pair_in, 0)
        correct_out = np.where(valid, total_correct[:, None] - correct_in, 0)
        streams = _INFLUENCE_STREAMS + np.arange(runs.n_test)[:, None] * runs.n_train + idx
        est, lo, hi, se = _pairs_intervals(correct_in, pair_in, correct_out, pair_out, spec, streams)
        return InfluenceTopK(idx, est, lo, hi, pair_in, pair_out, correct_in, correct_out, se,
                             spec.confidence, spec.method)

    if threshold is not None:
        test_idx, train_idx, correct_in = kernels.influence_threshold(*args, threshold)
        pair_in = n_in[train_idx]
        pair_out = n_runs - pair_in
        correct_out = total_correct[test_idx] - correct_in
        est, lo, hi, se = _pairs_intervals(correct_in, pair_in, correct_out, pair_out, spec,
                                           _INFLUENCE_STREAMS + test_idx * runs.n_train + train_idx)
        return InfluencePairs(test_idx, train_idx, est, lo, hi, pair_in, pair_out, correct_in, correct_out, se,
                              threshold, spec.confidence, spec.method)

    shape = (runs.n_test, runs.n_train)
    with _dense_outputs(out, shape) as (estimate, ci_low, ci_high):
        n_out = n_runs - n_in
        for row0 in range(0, runs.n_test, rows_per_chunk):
            rows = min(rows_per_chunk, runs.n_test - row0)
            counts = kernels.pair_counts(runs.train_mask_bits, runs.correct_test_bits[row0:row0 + rows])
            tc = total_correct[row0:row0 + rows, None]
            streams = _INFLUENCE_STREAMS + np.arange(row0, row0 + rows)[:, None] * runs.n_train + np.arange(runs.n_train)
            est, lo, hi, _ = _pairs_intervals(counts, np.broadcast_to(n_in, counts.shape), tc - counts,
                                              np.broadcast_to(n_out, counts.shape), spec, streams)
            estimate[row0:row0 + rows] = est
            ci_low[row0:row0 + rows] = lo
            ci_high[row0:row0 + rows] = hi
    if out is not None:
        estimate, ci_low, ci_high = (np.load(p, mmap_mode="r") for p in dense_output_paths(out))
    return InfluenceMatrix(estimate, ci_low, ci_high, n_in, n_out, total_correct, spec.confidence, spec.method)


def dense_output_paths(out) -> tuple[Path, Path, Path]:
    """``PATH.npy`` -> (PATH.npy, PATH.ci_low.npy, PATH.ci_high.npy)."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".npy" else out
    return Path(f"{stem}.npy"), Path(f"{stem}.ci_low.npy"), Path(f"{stem}.ci_high.npy")


@contextlib.contextmanager
def _dense_outputs(out, shape):
    """Three float32 matrices: in memory, or memory-mapped .npy files renamed into place on success."""
    if out is None:
        yield tuple(np.empty(shape, dtype=np.float32) for _ in range(3))
        return
    finals = dense_output_paths(out)
    temps = [p.with_name(f".{p.name}.partial") for p in finals]
    finals[0].parent.mkdir(parents=True, exist_ok=True)
    try:
        maps = [np.lib.format.open_memmap(t, mode="w+", dtype=np.float32, shape=shape) for t in temps]
        yield tuple(maps)
        for m in maps:
            m.flush()
        del maps
        for t, f in zip(temps, finals):
            os.replace(t, f)
    finally:
        for t in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(t)


# ---------------------------------------------------------------------------- high-influence pairs
@dataclass(frozen=True)
class HighInfluencePairs:
    """Pairs with influence >= infl_threshold whose training example has memorization >=
    mem_threshold (and, with same_class, the same label); arrays (m,), released key names
    ``tr_idx``, ``tt_idx``, ``infl``, ``mem``, plus intervals for both numbers."""

    tr_idx: np.ndarray
    tt_idx: np.ndarray
    infl: np.ndarray
    infl_ci_low: np.ndarray
    infl_ci_high: np.ndarray
    mem: np.ndarray
    mem_ci_low: np.ndarray
    mem_ci_high: np.ndarray
    infl_threshold: float
    mem_threshold: float
    confidence: float
    method: str


def high_influence_pairs(runs: RunSet, *, infl_threshold: float = 0.15, mem_threshold: float = 0.25,
                         same_class: bool = True, confidence: float = 0.95, method: str = "newcombe",
                         n_boot: int = 2000, seed: int | None = None,
                         memorization_result: MemorizationResult | None = None) -> HighInfluencePairs:
    """The high-influence pairs of Feldman & Zhang (2020): infl >= 0.15, mem >= 0.25, same class.

    Only training examples above the memorization threshold are scanned, one class at a time,
    so the cost is a small fraction of the full influence matrix. Pass ``memorization_result``
    to reuse memorization already computed on the same runs.
    """
    runs = _runs_iv(runs, needs_test=True)
    for name, value in (("infl_threshold", infl_threshold), ("mem_threshold", mem_threshold)):
        if not isinstance(value, (int, float, np.number)) or not -1.0 <= float(value) <= 1.0:
            raise HeldoutError(f"{name} must be a number in [-1, 1], got {value!r}.")
    if same_class and (runs.labels_train is None or runs.labels_test is None):
        raise HeldoutError("same_class=True needs class labels for the training and test sets "
                           "(RunSet labels_train/labels_test; --labels on the command line).")
    mem = memorization_result or memorization(runs, confidence=confidence, method=method, n_boot=n_boot, seed=seed)
    if mem.estimate.shape != (runs.n_train,):
        raise HeldoutError("memorization_result does not belong to these runs (wrong number of training examples).")
    spec = interval_spec(confidence, method, n_boot, seed)
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero(mem.estimate >= mem_threshold)
    if same_class:
        groups = [(candidates[runs.labels_train[candidates] == k], np.flatnonzero(runs.labels_test == k))
                  for k in np.unique(runs.labels_train[candidates])]
    else:
        groups = [(candidates, np.arange(runs.n_test))]
    n_in_all = kernels.row_popcounts(runs.train_mask_bits)
    total_all = kernels.row_popcounts(runs.correct_test_bits)
    tr, tt, a = [], [], []
    for train_rows, test_rows in groups:
        if not len(train_rows) or not len(test_rows):
            continue
        t_idx, i_idx, cnt = kernels.influence_threshold(
            np.ascontiguousarray(runs.train_mask_bits[train_rows]), np.ascontiguousarray(runs.correct_test_bits[test_rows]),
            n_in_all[train_rows], total_all[test_rows], runs.n_runs, float(infl_threshold))
        tr.append(train_rows[i_idx])
        tt.append(test_rows[t_idx])
        a.append(cnt)
    tr_idx = np.concatenate(tr) if tr else np.empty(0, dtype=np.int64)
    tt_idx = np.concatenate(tt) if tt else np.empty(0, dtype=np.int64)
    correct_in = np.concatenate(a) if a else np.empty(0, dtype=np.int64)
    order = np.lexsort((tr_idx, tt_idx))
    tr_idx, tt_idx, correct_in = tr_idx[order], tt_idx[order], correct_in[order]
    n_in = n_in_all[tr_idx]
    infl, lo, hi, _ = _pairs_intervals(correct_in, n_in, total_all[tt_idx] - correct_in, runs.n_runs - n_in, spec,
                                       _INFLUENCE_STREAMS + tt_idx * runs.n_train + tr_idx)
    return HighInfluencePairs(tr_idx, tt_idx, infl, lo, hi, mem.estimate[tr_idx], mem.ci_low[tr_idx],
                              mem.ci_high[tr_idx], float(infl_threshold), float(mem_threshold),
                              spec.confidence, spec.method)


# ---------------------------------------------------------------------------- consistency
@dataclass(frozen=True)
class ConsistencyResult:
    """C-scores per training example.

    ``estimate``/``ci_low``/``ci_high`` (n_train,): unweighted mean over ``ratios`` (K,) of the
    held-out accuracy; ``per_ratio``/``per_ratio_ci_low``/``per_ratio_ci_high`` (n_train, K):
    held-out accuracy at each ratio with a Wilson (or bootstrap) interval; ``n_out`` /
    ``correct_out`` (n_train, K): the counts behind them.
    """

    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ratios: np.ndarray
    per_ratio: np.ndarray
    per_ratio_ci_low: np.ndarray
    per_ratio_ci_high: np.ndarray
    n_out: np.ndarray
    correct_out: np.ndarray
    standard_error: np.ndarray
    confidence: float
    method: str

    @property
    def n_undefined(self) -> int:
        """Examples never held out at one or more of the ratios (NaN estimate)."""
        return int(np.isnan(self.estimate).sum())


def consistency(runs: RunSet, *, confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000,
                seed: int | None = None) -> ConsistencyResult:
    """C-score of each training example from runs at one or several subset ratios (Jiang et al. 2021).

    The held-out accuracy at each ratio has a Wilson score interval (``"newcombe"``; a
    bootstrap interval for the bootstrap methods); the mean over ratios has the MOVER-Wilson
    interval, since runs at different ratios are independent.
    """
    runs = _runs_iv(runs, one_ratio=False)
    spec = interval_spec(confidence, method, n_boot, seed)
    ratios = runs.ratios
    n_out = np.empty((runs.n_train, len(ratios)), dtype=np.int64)
    correct_out = np.empty_like(n_out)
    for k, ratio in enumerate(ratios):
        selected = np.isclose(runs.subset_ratio, ratio, rtol=0, atol=1e-9)
        words = np.packbits(selected, bitorder="little")
        words = np.pad(words, (0, (-len(words)) % 8)).view("<u8").astype(np.uint64)
        _, _, n_out[:, k], correct_out[:, k] = kernels.holdout_counts(runs.train_mask_bits, runs.correct_train_bits, words)
    # a ratio's interval for example i has its own stream, whatever other ratios are present
    per_streams = _CSCORE_STREAMS + (1 + np.round(ratios * 1e6).astype(np.int64))[None, :] * runs.n_train \
        + np.arange(runs.n_train)[:, None]
    per = weighted_proportion_intervals(correct_out.reshape(-1, 1), n_out.reshape(-1, 1), [1.0], spec,
                                        per_streams.reshape(-1))
    mean = weighted_proportion_intervals(correct_out, n_out, np.full(len(ratios), 1.0 / len(ratios)), spec,
                                         _CSCORE_STREAMS + np.arange(runs.n_train))
    shape = n_out.shape
    return ConsistencyResult(
        mean.estimate, mean.ci_low, mean.ci_high, ratios,
        per.estimate.reshape(shape), per.ci_low.reshape(shape), per.ci_high.reshape(shape),
        n_out, correct_out, mean.standard_error, spec.confidence, spec.method,
    )


__all__ = [
    "ConsistencyResult", "HighInfluencePairs", "InfluenceMatrix", "InfluencePairs", "InfluenceTopK",
    "MemorizationResult", "consistency", "high_influence_pairs", "influence", "memorization",
]
