"""Rows of the influence figure: a training example and the test examples it influences most.

As in Feldman & Zhang (2020)'s figure of high-influence pairs, a row is one training example
(with its memorization) followed by the test examples it influences most. Rows come from the
high-influence pairs when there are any, otherwise from the top-k influence estimates (the
strongest pairs, whatever their class or memorization), so the figure always shows the
strongest influence the records hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ROWS = 8
PER_ROW = 5


@dataclass(frozen=True)
class InfluenceRow:
    """One training example and the test examples it influences most.

    Attributes:
        train_id: the training example.
        memorization, mem_low, mem_high: its memorization and interval (NaN when unknown).
        test_ids: int64 (m,), the test examples, strongest influence first.
        influence, ci_low, ci_high: float64 (m,), the influence of the training example on each.
    """

    train_id: int
    memorization: float
    mem_low: float
    mem_high: float
    test_ids: np.ndarray
    influence: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def influence_rows(train_idx, test_idx, influence, ci_low, ci_high, memorization=None, *,
                   max_rows: int = MAX_ROWS, per_row: int = PER_ROW) -> list[InfluenceRow]:
    """Group (train, test) pairs into rows, strongest influence first.

    Args:
        train_idx, test_idx, influence, ci_low, ci_high: arrays (m,), one entry per pair; pairs
            with a NaN estimate or a negative train id (top-k padding) are left out.
        memorization: None, or (estimate, ci_low, ci_high) of each pair's training example,
            arrays (m,).
        max_rows: rows kept, ordered by the largest influence of their training example.
        per_row: test examples kept per row, strongest first.
    """
    columns = [np.asarray(train_idx, dtype=np.int64), np.asarray(test_idx, dtype=np.int64)]
    columns += [np.asarray(a, dtype=np.float64) for a in (influence, ci_low, ci_high)]
    columns += [np.asarray(a, dtype=np.float64) for a in memorization] if memorization is not None \
        else [np.full(len(columns[0]), np.nan)] * 3
    keep = np.isfinite(columns[2]) & (columns[0] >= 0)
    train, test, infl, low, high, mem, mem_low, mem_high = (c[keep] for c in columns)
    order = np.lexsort((test, -infl))  # strongest first; ties by test id
    rows: list[InfluenceRow] = []
    for i in dict.fromkeys(train[order].tolist()):  # training examples by their strongest pair
        mine = order[train[order] == i][:per_row]
        first = mine[0]
        rows.append(InfluenceRow(int(i), float(mem[first]), float(mem_low[first]), float(mem_high[first]),
                                 test[mine], infl[mine], low[mine], high[mine]))
        if len(rows) == max_rows:
            break
    return rows


def rows_from_pairs(pairs, **limits) -> list[InfluenceRow]:
    """Rows of a :class:`~heldout_core.estimators.HighInfluencePairs` (each pair carries the
    memorization of its training example)."""
    return influence_rows(pairs.tr_idx, pairs.tt_idx, pairs.infl, pairs.infl_ci_low, pairs.infl_ci_high,
                          (pairs.mem, pairs.mem_ci_low, pairs.mem_ci_high), **limits)


def rows_from_topk(topk, memorization=None, **limits) -> list[InfluenceRow]:
    """Rows of an :class:`~heldout_core.estimators.InfluenceTopK` (its (n_test, k) entries);
    ``memorization`` (a result over the training set) labels the training examples."""
    train = topk.train_idx.ravel()
    test = np.broadcast_to(np.arange(topk.train_idx.shape[0])[:, None], topk.train_idx.shape).ravel()
    mem = None
    if memorization is not None:
        safe = np.maximum(train, 0)
        mem = (memorization.estimate[safe], memorization.ci_low[safe], memorization.ci_high[safe])
    return influence_rows(train, test, topk.estimate.ravel(), topk.ci_low.ravel(), topk.ci_high.ravel(), mem,
                          **limits)
