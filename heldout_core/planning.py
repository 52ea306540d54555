"""How many runs give intervals of a given width: predicted from pilot records, or from a bound.

From pilot records the prediction is per example (or per pair): each keeps the proportions its
pilot counts show (accuracy when in, when out) and the share of runs it was in, and the
Newcombe interval it would have with R runs is computed from the expected counts at R. The
Q-quantile of those widths over examples falls as R grows; the smallest R that brings it to the
wanted width is the answer. Without records, Feldman & Zhang (2020)'s bound on the expected
squared error of a memorization estimate from t runs at subset ratio r,
``1/(p t) + 1/((1 - p) t) + exp(-p t / 16) / 2`` with ``p = min(r, 1 - r)``, gives a
conservative answer: the smallest t whose normal-approximation width ``2 z sqrt(bound)`` is the
wanted width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from . import kernels, params
from .bitpack import all_runs_words, run_mask_words
from .errors import ParameterError
from .intervals import mover_wilson
from .records import RunSet

STATISTICS = ("memorization", "influence", "cscore")
MAX_PLANNED_RUNS = 10**7
# test examples whose pairs are sampled for influence (all training examples are paired with each)
_INFLUENCE_TEST_SAMPLE = 64


@dataclass(frozen=True)
class RunPlan:
    """A prediction of the runs needed for a target interval width.

    Attributes:
        statistic: "memorization", "influence" or "cscore".
        width: the target width of ``quantile`` of the intervals (0.5: the median).
        runs_needed: runs (per subset ratio) that reach it.
        runs_have: runs per ratio in the pilot (None without records).
        width_now: the ``quantile`` width of the pilot's own intervals (None without records).
        bound_runs: what Feldman & Zhang's bound asks for, for comparison (None: more than
            ``MAX_PLANNED_RUNS``).
        reasoning: the lines that explain the numbers.
    """

    statistic: str
    width: float
    confidence: float
    quantile: float
    ratios: tuple[float, ...]
    runs_needed: int
    runs_have: int | None
    width_now: float | None
    bound_runs: int | None
    reasoning: list[str] = field(default_factory=list)

    @property
    def more_runs(self) -> int | None:
        return None if self.runs_have is None else max(0, self.runs_needed - self.runs_have)


def bound_squared_error(runs: float, ratio: float) -> float:
    """Feldman & Zhang's bound on the expected squared error of memorization from ``runs`` runs."""
    p = min(ratio, 1.0 - ratio)
    return 1.0 / (p * runs) + 1.0 / ((1.0 - p) * runs) + math.exp(-p * runs / 16.0) / 2.0


def runs_from_bound(width: float, ratio: float, confidence: float) -> int:
    """Smallest t with ``2 z sqrt(bound(t)) <= width`` (see the module docstring)."""
    z = float(ndtri(0.5 + confidence / 2.0))
    needed = _smallest(lambda t: 2.0 * z * math.sqrt(bound_squared_error(t, ratio)) <= width)
    if needed is None:
        raise ParameterError("width", f"{{parameter}} {width:g} is not reached within {MAX_PLANNED_RUNS:,} runs by "
                                      "Feldman & Zhang's bound; ask for a wider interval.")
    return needed


def _smallest(ok, low: int = 2, high: int = MAX_PLANNED_RUNS) -> int | None:
    """The smallest integer in [low, high] where the monotone ``ok`` holds (None when none does)."""
    if ok(low):
        return low
    if not ok(high):
        return None
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if ok(mid) else (mid, high)
    return high


def _widths(successes, trials, weights, confidence):
    _, low, high = mover_wilson(successes, trials, weights, confidence)
    return high - low


def _quantile(widths: np.ndarray, q: float) -> float:
    finite = widths[np.isfinite(widths)]
    return float(np.quantile(finite, q)) if len(finite) else float("nan")


class _Profile:
    """Per statistic: its pilot proportions and, per group, the share of a ratio's runs it gets."""

    def __init__(self, proportions: np.ndarray, shares: np.ndarray, weights: np.ndarray, observed: tuple):
        self.proportions, self.shares, self.weights, self.observed = proportions, shares, weights, observed

    def widths(self, runs: int, confidence: float) -> np.ndarray:
        trials = self.shares * runs
        return _widths(self.proportions * trials, trials, self.weights, confidence)


def _difference_profile(a, b, c, d) -> _Profile:
    a, b, c, d = (np.asarray(x, dtype=np.float64) for x in (a, b, c, d))
    total = b + d
    with np.errstate(invalid="ignore", divide="ignore"):
        proportions = np.stack([a / b, c / d], axis=-1)
        shares = np.stack([b / total, d / total], axis=-1)
    return _Profile(proportions, shares, np.array([1.0, -1.0]), (np.stack([a, c], -1), np.stack([b, d], -1)))


def _profile(runs: RunSet, statistic: str, ratio: float | None) -> tuple[_Profile, tuple[float, ...], int]:
    if statistic == "cscore":
        ratios = tuple(float(r) for r in runs.ratios)
        counts = [kernels.holdout_counts(runs.train_mask_bits, runs.correct_train_bits,
                                         run_mask_words(np.isclose(runs.subset_ratio, r, rtol=0, atol=1e-9)))
                  for r in ratios]
        n_per = [int(np.isclose(runs.subset_ratio, r, rtol=0, atol=1e-9).sum()) for r in ratios]
        d = np.stack([c[2] for c in counts], -1).astype(np.float64)
        c = np.stack([c[3] for c in counts], -1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            profile = _Profile(c / d, d / np.array(n_per, dtype=np.float64), np.full(len(ratios), 1.0 / len(ratios)), (c, d))
        return profile, ratios, min(n_per)
    if ratio is None:
        if len(runs.ratios) > 1:
            raise ParameterError("ratio", "the runs have several subset ratios; choose the one to plan for with {parameter}.")
        ratio = float(runs.ratios[0])
    one = runs.by_ratio(ratio)
    if statistic == "memorization":
        b, a, d, c = kernels.holdout_counts(one.train_mask_bits, one.correct_train_bits, all_runs_words(one.n_runs))
        return _difference_profile(a, b, c, d), (ratio,), one.n_runs
    if not one.n_test:
        raise ParameterError("statistic", "the runs have no test records, so {parameter}='influence' cannot be planned.")
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(one.n_test, size=min(_INFLUENCE_TEST_SAMPLE, one.n_test), replace=False))
    n_in = kernels.row_popcounts(one.train_mask_bits)
    total = kernels.row_popcounts(one.correct_test_bits)[rows]
    a = kernels.pair_counts(one.train_mask_bits, np.ascontiguousarray(one.correct_test_bits[rows])).astype(np.int64)
    b = np.broadcast_to(n_in, a.shape)
    return _difference_profile(a, b, total[:, None] - a, one.n_runs - b), (ratio,), one.n_runs


def plan_runs(runs: RunSet | None, *, width: float, statistic: str = "memorization", confidence: float = 0.95,
              quantile: float = 0.5, ratio: float | None = None) -> RunPlan:
    """How many runs give a ``quantile`` interval width of ``width`` (see the module docstring).

    Args:
        runs: pilot records, or None to use the bound alone (then ``ratio`` is needed).
        width: the wanted width, in (0, 2] (memorization and influence lie in [-1, 1]).
        statistic: "memorization", "influence" (pairs of a sample of test examples with every
            training example) or "cscore" (runs per ratio, over the pilot's ratios).
        confidence: the intervals' level.
        quantile: which quantile of the widths over examples must reach ``width`` (0.5: median).
        ratio: the subset ratio, when the runs have several (or when there are no runs).
    """
    width = params.number(width, "width", low=0.0, high=2.0, open_low=True)
    statistic = params.choice(statistic, "statistic", STATISTICS)
    confidence = params.confidence(confidence)
    quantile = params.number(quantile, "quantile", low=0.0, high=1.0, open_low=True, open_high=True)
    level = f"{confidence:.0%}"
    which = "median" if quantile == 0.5 else f"{quantile:g}-quantile"
    if runs is None:
        if ratio is None:
            raise ParameterError("ratio", "without pilot records the subset ratio is needed ({parameter}).")
        ratio = params.subset_ratio(ratio)
        needed = runs_from_bound(width, ratio, confidence)
        p = min(ratio, 1 - ratio)
        reasoning = [f"no pilot records: Feldman & Zhang's bound on the squared error of an estimate from t runs at "
                     f"ratio {ratio:g} is 1/({p:g} t) + 1/({1 - p:g} t) + exp(-{p:g} t / 16) / 2;",
                     f"a {level} normal interval of that error is {width:g} wide at t = {needed} runs. The bound is "
                     f"for the worst example; pilot records usually give a smaller, sharper answer."]
        return RunPlan(statistic, width, confidence, quantile, (ratio,), needed, None, None, needed, reasoning)
    profile, ratios, have = _profile(runs, statistic, ratio)
    per = " per ratio" if len(ratios) > 1 else ""
    now = _quantile(_widths(*profile.observed, profile.weights, confidence), quantile)
    if not np.isfinite(now):
        raise ParameterError("runs", f"no {'pair' if statistic == 'influence' else 'example'} of the pilot records has a "
                                     f"defined {statistic} (each needs runs with it in and runs with it out), so "
                                     "they say nothing about the width more runs would give.")
    predicted_now = _quantile(profile.widths(have, confidence), quantile)
    needed = _smallest(lambda r: _quantile(profile.widths(r, confidence), quantile) <= width)
    if needed is None:
        raise ParameterError("width", f"{{parameter}} {width:g} is not reached within {MAX_PLANNED_RUNS:,} runs{per}: "
                                      f"the {which} width would still be "
                                      f"{_quantile(profile.widths(MAX_PLANNED_RUNS, confidence), quantile):.2g}; "
                                      "ask for a wider interval.")
    try:
        bound = min(runs_from_bound(width, r, confidence) for r in ratios)
    except ParameterError:
        bound = None
    reasoning = [
        f"pilot: {have} runs{per} at ratio{'s' if len(ratios) > 1 else ''} {', '.join(f'{r:g}' for r in ratios)}; "
        f"the {which} {level} interval width of {statistic} is {now:.3f} now "
        f"(predicted from the counts alone: {predicted_now:.3f}).",
        f"each {'pair' if statistic == 'influence' else 'example'} keeps its pilot proportions and share of runs; "
        f"its Newcombe interval with R runs comes from the expected counts at R, and the {which} of those widths "
        f"reaches {width:g} at R = {needed} runs{per}.",
        f"Feldman & Zhang's worst-case bound would ask for {bound} runs{per}." if bound is not None else
        f"Feldman & Zhang's worst-case bound would ask for more than {MAX_PLANNED_RUNS:,} runs{per}.",
    ]
    return RunPlan(statistic, width, confidence, quantile, ratios, needed, have, now, bound, reasoning)
