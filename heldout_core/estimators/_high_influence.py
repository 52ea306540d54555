"""The high-influence pairs of Feldman & Zhang (2020): influence >= 0.15 on a test example of the
same class, from a training example with memorization >= 0.25."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels, params
from ..errors import ParameterError
from ..intervals import interval_spec
from ..records import RunSet
from ._common import check_runs, difference_intervals, influence_streams
from ._memorization import MemorizationResult, memorization


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
                         n_boot: int = 2000, seed: int | None = 0,
                         memorization_result: MemorizationResult | None = None) -> HighInfluencePairs:
    """The high-influence pairs: infl >= ``infl_threshold``, mem >= ``mem_threshold``, same class.

    Only training examples above the memorization threshold are scanned, one class at a time,
    so the cost is a small fraction of the full influence matrix. Pass ``memorization_result``
    to reuse memorization already computed on the same runs.
    """
    runs = check_runs(runs, needs_test=True)
    infl_threshold = params.influence_threshold(infl_threshold, "infl_threshold")
    mem_threshold = params.influence_threshold(mem_threshold, "mem_threshold")
    if same_class and (runs.labels_train is None or runs.labels_test is None):
        raise ParameterError("labels", "same_class=True needs class labels for the training and test sets "
                                       "({parameter}).", spelled="RunSet labels_train/labels_test")
    spec = interval_spec(confidence, method, n_boot, seed)
    mem = memorization_result or memorization(runs, confidence=confidence, method=method, n_boot=n_boot, seed=seed)
    if mem.estimate.shape != (runs.n_train,):
        raise ParameterError("memorization_result", "{parameter} does not belong to these runs (wrong number of "
                                                    "training examples).")
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
            n_in_all[train_rows], total_all[test_rows], runs.n_runs, infl_threshold)
        tr.append(train_rows[i_idx])
        tt.append(test_rows[t_idx])
        a.append(cnt)
    empty = np.empty(0, dtype=np.int64)
    tr_idx, tt_idx, correct_in = (np.concatenate(x) if x else empty for x in (tr, tt, a))
    order = np.lexsort((tr_idx, tt_idx))
    tr_idx, tt_idx, correct_in = tr_idx[order], tt_idx[order], correct_in[order]
    n_in = n_in_all[tr_idx]
    infl, lo, hi, _ = difference_intervals(correct_in, n_in, total_all[tt_idx] - correct_in, runs.n_runs - n_in, spec,
                                           influence_streams(tt_idx, tr_idx, runs.n_train))
    return HighInfluencePairs(tr_idx, tt_idx, infl, lo, hi, mem.estimate[tr_idx], mem.ci_low[tr_idx],
                              mem.ci_high[tr_idx], infl_threshold, mem_threshold, spec.confidence, spec.method)
