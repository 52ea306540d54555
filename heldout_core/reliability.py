"""Split-half reliability: would another set of runs rank the examples the same way?

The runs are split into two disjoint halves, deterministically (within each subset ratio, runs
in run-id order go alternately to the first and the second half), and every statistic is
estimated on each half. The rank correlation (Spearman) of the two halves' estimates over
examples says how stable the ranking is with half the runs; the Spearman-Brown formula
``2 r / (1 + r)`` projects it to the full number of runs (the reliability of a test of doubled
length, Spearman 1910, Brown 1910). For influence, the overlap of each test example's top-k sets
between the halves is reported, beside what chance would give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from . import params
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
        influence_overlap: mean over test examples of the fraction of the top-k training
            examples that both halves name (None without test records); influence_chance: what
            two random top-k sets would share (k / n_train); top_k: k.
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
            parts.append(f"top-{self.top_k} influence sets share {self.influence_overlap:.0%} "
                         f"(chance {self.influence_chance:.1%})")
        return f"split-half reliability ({self.n_runs[0]} + {self.n_runs[1]} runs): " + ", ".join(parts)

    def as_dict(self) -> dict:
        return {"n_runs": list(self.n_runs), "memorization": self.memorization, "memorization_full": self.memorization_full,
                "cscore": self.cscore, "cscore_full": self.cscore_full, "influence_overlap": self.influence_overlap,
                "influence_chance": self.influence_chance, "top_k": self.top_k}


def spearman_brown(r: float, factor: float = 2.0) -> float:
    """Reliability of a measurement ``factor`` times as long as one of reliability ``r``."""
    if not np.isfinite(r) or r <= -1.0:
        return float("nan")
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


def split_half_reliability(runs: RunSet, *, ratio: float | None = None, top_k: int = 10) -> Reliability:
    """Estimate every statistic on two disjoint halves of ``runs`` and compare (see the module docstring).

    Args:
        runs: runs at one or several subset ratios (C-scores use every ratio).
        ratio: the ratio for memorization and influence (needed when the runs have several).
        top_k: the size of the influence sets compared.
    """
    from .estimators import consistency, influence_topk, memorization
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
    halves = (one.select(a), one.select(b))
    mem = [memorization(h).estimate for h in halves]
    r_mem = _rank_correlation(*mem)
    ca, cb = split_halves(runs)
    cs = [consistency(runs.select(p)).estimate for p in (ca, cb)]
    r_cs = _rank_correlation(*cs)
    overlap = chance = None
    k = min(top_k, one.n_train)
    if one.n_test:
        tops = [influence_topk(h, k).train_idx for h in halves]
        shared = [len(set(x[x >= 0]) & set(y[y >= 0])) for x, y in zip(*tops)]
        overlap = float(np.mean(shared)) / k
        chance = k / one.n_train
    return Reliability((len(a), len(b)), r_mem, spearman_brown(r_mem), r_cs, spearman_brown(r_cs), overlap, chance, k)
