"""Split-half reliability: would another set of runs rank the examples the same way?

The runs are split into two disjoint halves, deterministically (within each subset ratio, runs
in run-id order go alternately to the first and the second half), and every statistic is
estimated on each half. The rank correlation (Spearman) of the two halves' estimates over
examples says how stable the ranking is with half the runs; the Spearman-Brown formula
``2 r / (1 + r)`` projects it to the full number of runs (the reliability of a test of doubled
length, Spearman 1910, Brown 1910). For influence, the overlap of each test example's top-k sets
between the halves is reported (over all test examples, or 1,000 evenly spaced ones of a larger
test set), beside what chance would give.

Ties at the k-th place are broken at random, in expectation: the overlap counts each training
example by the chance that both halves' sets hold it. Breaking them by index instead would make
a test example right in every run (all its estimates exactly 0) "agree" perfectly between the
halves; with random tie-breaking it agrees as often as chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from . import kernels, params
from .bitpack import run_mask_words
from .errors import ParameterError
from .records import RunSet


@dataclass(frozen=True)
class Reliability:
    """Split-half reliability of the estimates of one set of runs.

    Attributes:
        n_runs: runs in the two halves (the ratio used for memorization and influence).
        memorization: Spearman correlation of the halves' memorization over examples defined in
            both; memorization_full: its Spearman-Brown projection to all runs.
        cscore, cscore_full: the same for C-scores (over every ratio of the runs).
        influence_overlap: mean over test examples (at most 1,000, evenly spaced) of the
            expected fraction of the top-k training examples both halves name, ties at the k-th
            place broken at random (None without test records); influence_chance: what two
            random top-k sets would share (k / n_train); top_k: k.
    """

    n_runs: tuple[int, int]
    memorization: float
    memorization_full: float
    cscore: float
    cscore_full: float
    influence_overlap: float | None
    influence_chance: float | None
    top_k: int

    def summary(self) -> str:
        """One line, e.g. ``split-half reliability (2 x 200 runs): memorization rank correlation 0.91 ...``."""
        parts = [f"memorization rank correlation {self.memorization:.2f} (projected to all runs {self.memorization_full:.2f})",
                 f"C-score {self.cscore:.2f} ({self.cscore_full:.2f})"]
        if self.influence_overlap is not None:
            parts.append(f"top-{self.top_k} influence sets share {_percent(self.influence_overlap)} "
                         f"(chance {_percent(self.influence_chance)})")
        return f"split-half reliability ({self.n_runs[0]} + {self.n_runs[1]} runs): " + ", ".join(parts)

    def as_dict(self) -> dict:
        return {"n_runs": list(self.n_runs), "memorization": self.memorization, "memorization_full": self.memorization_full,
                "cscore": self.cscore, "cscore_full": self.cscore_full, "influence_overlap": self.influence_overlap,
                "influence_chance": self.influence_chance, "top_k": self.top_k}


def _percent(x: float) -> str:
    """53%, or 0.8% below 10% (where whole percents would hide a difference from chance)."""
    return f"{x:.0%}" if x >= 0.1 else f"{x:.1%}"


def spearman_brown(r: float, factor: float = 2.0) -> float:
    """Reliability of a measurement ``factor`` times as long as one of reliability ``r``.

    A negative ``r`` (a reliability of about zero, estimated with noise) projects to 0: the
    formula is only meaningful for ``r >= 0`` (below -1/3 it would leave [-1, 1]).
    """
    if not np.isfinite(r):
        return float("nan")
    r = max(float(r), 0.0)
    return float(factor * r / (1.0 + (factor - 1.0) * r))


def split_halves(runs: RunSet) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the runs of the two halves: within each ratio, alternate runs by run id."""
    first, second = [], []
    for ratio in runs.ratios:
        members = np.flatnonzero(np.isclose(runs.subset_ratio, ratio, rtol=0, atol=1e-9))
        ordered = members[np.argsort(runs.run_id[members], kind="stable")]
        first += ordered[0::2].tolist()
        second += ordered[1::2].tolist()
    return np.array(first, dtype=np.int64), np.array(second, dtype=np.int64)


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < 3 or np.ptp(a[both]) == 0 or np.ptp(b[both]) == 0:
        return float("nan")
    return float(spearmanr(a[both], b[both]).statistic)


def _selection_words(runs: RunSet, positions: np.ndarray) -> np.ndarray:
    selected = np.zeros(runs.n_runs, dtype=bool)
    selected[positions] = True
    return run_mask_words(selected)


def _memorization_of(counts: tuple) -> np.ndarray:
    """Memorization estimates from a half's :func:`kernels.holdout_counts` (no copy of the bits)."""
    n_in, correct_in, n_out, correct_out = counts
    with np.errstate(invalid="ignore", divide="ignore"):
        return (correct_in * n_out.astype(np.float64) - correct_out * n_in.astype(np.float64)) / (n_in * n_out.astype(np.float64))


def _cscore_of(runs: RunSet, positions: np.ndarray) -> np.ndarray:
    """C-scores (mean held-out accuracy over ratios) from the runs at ``positions`` alone."""
    per_ratio = []
    for ratio in runs.ratios:
        at = positions[np.isclose(runs.subset_ratio[positions], ratio, rtol=0, atol=1e-9)]
        _, _, n_out, correct_out = kernels.holdout_counts(runs.train_mask_bits, runs.correct_train_bits,
                                                          _selection_words(runs, at))
        with np.errstate(invalid="ignore", divide="ignore"):
            per_ratio.append(correct_out / n_out)
    return np.mean(per_ratio, axis=0)


# Test examples whose top-k sets are compared: the overlap is a mean over test examples, which a
# sample of 1,000 gives to about a percent, at a fraction of the cost for large test sets.
INFLUENCE_SAMPLE = 1000


def influence_sample(n_test: int) -> np.ndarray:
    """The test examples the influence overlap is measured on: all, or 1,000 evenly spaced."""
    return np.unique(np.linspace(0, n_test - 1, min(n_test, INFLUENCE_SAMPLE)).round().astype(np.int64))


def _half_for_influence(runs: RunSet, words: np.ndarray, n_in: np.ndarray, n_selected: int, k: int,
                        rows: np.ndarray):
    """A half's test bits for ``rows`` (masked to its runs: a small copy; the training bits are
    used as they are), its totals, and each row's k-th largest estimate."""
    test_bits = np.ascontiguousarray(runs.correct_test_bits[rows] & words[None, :])
    total = kernels.row_popcounts(test_bits)
    idx, cnt = kernels.influence_topk(runs.train_mask_bits, test_bits, n_in, total, n_selected, k)
    return test_bits, total, kernels.kth_estimates(idx, cnt, n_in, total, n_selected, k)


def expected_overlap(counts: np.ndarray, k: int) -> np.ndarray:
    """Expected number of training examples two top-k sets share, ties at the k-th place broken
    at random, from :func:`heldout_core.kernels.cut_counts` (n_test, 8) -> float64 (n_test,).

    Each half's set holds every example above its cut and a random k - |above| of those at it,
    so an example at the cut is in it with probability q = (k - |above|) / |at|.
    """
    above_a, at_a, above_b, at_b, both, above_at, at_above, at_at = counts.T.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_a = np.where(at_a > 0, (k - above_a) / at_a, 0.0)
        q_b = np.where(at_b > 0, (k - above_b) / at_b, 0.0)
    return both + q_b * above_at + q_a * at_above + q_a * q_b * at_at


def split_half_reliability(runs: RunSet, *, ratio: float | None = None, top_k: int = 10) -> Reliability:
    """Estimate every statistic on two disjoint halves of ``runs`` and compare (see the module docstring).

    The halves are never copied: their counts come from the kernels with a mask over runs, so
    the memory is a few arrays of the examples' size (ImageNet's records are not duplicated).

    Args:
        runs: runs at one or several subset ratios (C-scores use every ratio).
        ratio: the ratio for memorization and influence (needed when the runs have several).
        top_k: the size of the influence sets compared.
    """
    from .estimators._common import check_runs

    runs = check_runs(runs, one_ratio=False)
    top_k = params.integer(top_k, "top_k", minimum=1)
    if ratio is None:
        if len(runs.ratios) > 1:
            raise ParameterError("ratio", "the runs have several subset ratios; choose the one for memorization and "
                                          "influence with {parameter}.")
        ratio = float(runs.ratios[0])
    one = runs.by_ratio(ratio)
    a, b = split_halves(one)
    if len(a) < 2 or len(b) < 2:
        raise ParameterError("runs", f"split-half reliability needs at least 4 runs at ratio {ratio:g}, got {one.n_runs}.")
    words = [_selection_words(one, h) for h in (a, b)]
    counts = [kernels.holdout_counts(one.train_mask_bits, one.correct_train_bits, w) for w in words]
    r_mem = _rank_correlation(*(_memorization_of(c) for c in counts))
    r_cs = _rank_correlation(*(_cscore_of(runs, h) for h in split_halves(runs)))
    overlap = chance = None
    k = min(top_k, one.n_train)
    if one.n_test:
        rows = influence_sample(one.n_test)
        n_in_a, n_in_b = counts[0][0], counts[1][0]
        (bits_a, total_a, cut_a), (bits_b, total_b, cut_b) = (
            _half_for_influence(one, w, n_in, len(h), k, rows) for w, n_in, h in zip(words, (n_in_a, n_in_b), (a, b)))
        where = kernels.cut_counts(one.train_mask_bits, bits_a, bits_b, n_in_a, n_in_b, total_a, total_b,
                                   len(a), len(b), cut_a, cut_b)
        overlap = float(np.mean(expected_overlap(where, k))) / k
        chance = k / one.n_train
    return Reliability((len(a), len(b)), r_mem, spearman_brown(r_mem), r_cs, spearman_brown(r_cs), overlap, chance, k)
