"""The scores a report shows: read from ``heldout estimate``'s files when they fit the records,
computed from the records otherwise.

``heldout estimate`` writes ``memorization.npz``, ``cscore.npz``, ``influence_topk.npz`` and
``high_infl_pairs.npz`` (see :mod:`heldout_core.cli.estimate`). A report on the same records
reads them instead of recomputing, but only when ``memorization.npz`` was computed from exactly
these records (same training set size, subset ratio, number of runs and per-example counts): a
folder of scores from before more runs were trained, or of other runs, is stale, and the report
says so and recomputes. A score
file that exists but cannot be read, lacks a key, or has the wrong shape is an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HeldoutError
from ..estimators import (ConsistencyResult, HighInfluencePairs, InfluenceTopK, MemorizationResult, consistency,
                          high_influence_pairs, influence_topk, memorization)
from .. import kernels
from ..bitpack import all_runs_words
from ..npz import load_npz
from ..records import RunSet

MEMORIZATION_FILE, CSCORE_FILE = "memorization.npz", "cscore.npz"
TOPK_FILE, PAIRS_FILE = "influence_topk.npz", "high_infl_pairs.npz"
INFL_THRESHOLD, MEM_THRESHOLD = 0.15, 0.25  # the paper's, and heldout estimate's defaults


@dataclass
class Scores:
    """The results a report draws, and where each came from.

    Attributes:
        memorization, cscore: results over the training set (possibly undefined, NaN, for
            every example; never None).
        topk: top-1.. influence per test example, or None without test records.
        pairs: the high-influence pairs, or None without labels or test records.
        sources: statistic -> "computed from the records" or "read from <file>".
        notes: what the reader should know (stale files, thresholds assumed).
    """

    memorization: MemorizationResult
    cscore: ConsistencyResult
    topk: InfluenceTopK | None
    pairs: HighInfluencePairs | None
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# what each key heldout estimate writes must hold: whole numbers, numbers, or a name
_INTEGER_KEYS = {"n_in", "n_out", "correct_in", "correct_out", "train_idx", "tr_idx", "tt_idx"}
_TEXT_KEYS = {"method"}
_NUMBER_KEYS = {"estimate", "ci_low", "ci_high", "standard_error", "ratio", "ratios", "confidence", "per_ratio",
                "per_ratio_ci_low", "per_ratio_ci_high", "infl", "mem", "infl_ci_low", "infl_ci_high", "mem_ci_low",
                "mem_ci_high", "infl_threshold", "mem_threshold"}


def _read(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrays = load_npz(path, str(path))
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise HeldoutError(f"{path} has no key '{missing[0]}'; is it a file written by heldout estimate?")
    for key, value in arrays.items():
        kind = value.dtype.kind
        if key in _INTEGER_KEYS and kind not in "iu":
            raise HeldoutError(f"{path}: '{key}' must hold whole numbers, got {value.dtype}.")
        if key in _NUMBER_KEYS and kind not in "iuf":
            raise HeldoutError(f"{path}: '{key}' must hold numbers, got {value.dtype}.")
        if key in _TEXT_KEYS and (kind != "U" or value.shape != ()):
            raise HeldoutError(f"{path}: '{key}' must be one name, got {value.dtype} {value.shape}.")
        if key in ("ratio", "confidence") and value.shape != ():
            raise HeldoutError(f"{path}: '{key}' must be one number, got shape {value.shape}.")
    return arrays


def _shaped(path: Path, arrays: dict, keys, shape: tuple[int, ...]) -> None:
    for key in keys:
        if arrays[key].shape != shape:
            raise HeldoutError(f"{path}: '{key}' has shape {arrays[key].shape}, but the records need {shape}; "
                               f"the file belongs to other records.")


def _level(arrays: dict) -> tuple[float, str]:
    return float(arrays.get("confidence", 0.95)), str(arrays.get("method", "newcombe"))


def _nan_like(a: np.ndarray) -> np.ndarray:
    return np.full(a.shape, np.nan)


def read_memorization(path: Path, n_train: int) -> tuple[MemorizationResult, float, bool]:
    """``memorization.npz`` as a result, the subset ratio it was computed at (NaN if unsaid), and
    whether the file holds the correct counts (zeros stand in for them otherwise)."""
    keys = ("estimate", "ci_low", "ci_high", "n_in", "n_out")
    arrays = _read(path, keys)
    _shaped(path, arrays, keys, (n_train,))
    confidence, method = _level(arrays)
    counts = {k: arrays.get(k, np.zeros(n_train, dtype=np.int64)) for k in ("correct_in", "correct_out")}
    result = MemorizationResult(estimate=arrays["estimate"], ci_low=arrays["ci_low"], ci_high=arrays["ci_high"],
                                standard_error=arrays.get("standard_error", _nan_like(arrays["estimate"])),
                                confidence=confidence, method=method, n_in=arrays["n_in"], n_out=arrays["n_out"],
                                **counts)
    return result, float(arrays.get("ratio", np.nan)), "correct_in" in arrays


def read_cscore(path: Path, n_train: int) -> ConsistencyResult:
    keys = ("estimate", "ci_low", "ci_high", "ratios", "per_ratio", "n_out")
    arrays = _read(path, keys)
    _shaped(path, arrays, keys[:3], (n_train,))
    k = len(arrays["ratios"])
    _shaped(path, arrays, ("per_ratio", "n_out"), (n_train, k))
    per = arrays["per_ratio"]
    confidence, method = _level(arrays)
    return ConsistencyResult(estimate=arrays["estimate"], ci_low=arrays["ci_low"], ci_high=arrays["ci_high"],
                             standard_error=_nan_like(arrays["estimate"]), confidence=confidence, method=method,
                             ratios=arrays["ratios"], per_ratio=per,
                             per_ratio_ci_low=arrays.get("per_ratio_ci_low", _nan_like(per)),
                             per_ratio_ci_high=arrays.get("per_ratio_ci_high", _nan_like(per)),
                             n_out=arrays["n_out"], correct_out=arrays.get("correct_out", np.zeros_like(arrays["n_out"])))


def read_topk(path: Path, n_test: int, n_train: int) -> InfluenceTopK:
    keys = ("train_idx", "estimate", "ci_low", "ci_high")
    arrays = _read(path, keys)
    if arrays["train_idx"].ndim != 2 or arrays["train_idx"].shape[0] != n_test:
        raise HeldoutError(f"{path}: 'train_idx' has shape {arrays['train_idx'].shape}, but the records have "
                           f"{n_test} test examples; the file belongs to other records.")
    if arrays["train_idx"].size and (arrays["train_idx"].min() < -1 or arrays["train_idx"].max() >= n_train):
        raise HeldoutError(f"{path}: 'train_idx' names examples outside 0..{n_train - 1} (-1 pads); the file belongs "
                           "to other records.")
    _shaped(path, arrays, keys, arrays["train_idx"].shape)
    confidence, method = _level(arrays)
    zeros = np.zeros(arrays["train_idx"].shape, dtype=np.int64)
    return InfluenceTopK(train_idx=arrays["train_idx"], estimate=arrays["estimate"], ci_low=arrays["ci_low"],
                         ci_high=arrays["ci_high"], standard_error=_nan_like(arrays["estimate"]),
                         confidence=confidence, method=method,
                         **{k: arrays.get(k, zeros) for k in ("n_in", "n_out", "correct_in", "correct_out")})


def read_pairs(path: Path, n_train: int, n_test: int, confidence: float, method: str) -> HighInfluencePairs:
    """``high_infl_pairs.npz`` (also the released ``*_high_infl_pairs_*.npz``, which has no
    intervals: they are NaN then). Thresholds a file does not record (the released ones do not)
    are taken to be the paper's."""
    keys = ("tr_idx", "tt_idx", "infl", "mem")
    arrays = _read(path, keys)
    m = arrays["tr_idx"].shape
    _shaped(path, arrays, keys, m)
    if len(m) != 1:
        raise HeldoutError(f"{path}: 'tr_idx' must be 1-D, got shape {m}.")
    for key, n in (("tr_idx", n_train), ("tt_idx", n_test)):
        if m[0] and (arrays[key].min() < 0 or arrays[key].max() >= n):
            raise HeldoutError(f"{path}: '{key}' names examples outside 0..{n - 1}; the file belongs to other records.")
    interval = {k: arrays.get(k, _nan_like(arrays["infl"])) for k in
                ("infl_ci_low", "infl_ci_high", "mem_ci_low", "mem_ci_high")}
    def threshold(key: str, default: float) -> float:
        value = arrays.get(key)
        numeric = value is not None and value.shape == () and np.issubdtype(value.dtype, np.number)
        return float(value) if numeric and np.isfinite(value) else default

    return HighInfluencePairs(tr_idx=arrays["tr_idx"], tt_idx=arrays["tt_idx"], infl=arrays["infl"], mem=arrays["mem"],
                              infl_threshold=threshold("infl_threshold", INFL_THRESHOLD),
                              mem_threshold=threshold("mem_threshold", MEM_THRESHOLD),
                              confidence=confidence, method=method, **interval)


def _usable(scores_dir: Path | None, one: RunSet, ratio: float, notes: list[str]) -> tuple[Path | None, tuple | None]:
    """The score folder and its memorization, when its memorization.npz fits ``one``."""
    if scores_dir is None or not (scores_dir / MEMORIZATION_FILE).is_file():
        return None, None
    path = scores_dir / MEMORIZATION_FILE
    mem, file_ratio, has_correct = read_memorization(path, one.n_train)
    runs_in_file = np.unique(mem.n_in + mem.n_out)
    if np.isfinite(file_ratio) and not np.isclose(file_ratio, ratio, rtol=0, atol=1e-9):
        notes.append(f"{path} is for subset ratio {file_ratio:g}, not {ratio:g}; the scores were recomputed.")
        return None, None
    if runs_in_file.tolist() != [one.n_runs]:
        counted = ", ".join(str(int(r)) for r in runs_in_file[:3])
        notes.append(f"{path} was computed from {counted} runs but the records have {one.n_runs} at ratio {ratio:g}; "
                     f"the scores were recomputed (run heldout estimate again to refresh the files).")
        return None, None
    # the same number of runs is not the same runs: each example's counts must be the records'
    # (other seeds give other subsets; other training, other correctness)
    n_in, correct_in, _, _ = kernels.holdout_counts(one.train_mask_bits, one.correct_train_bits,
                                                    all_runs_words(one.n_runs))
    if not np.array_equal(mem.n_in, n_in) or (has_correct and not np.array_equal(mem.correct_in, correct_in)):
        notes.append(f"{path} was computed from other runs than these records (its per-example counts differ); "
                     f"the scores were recomputed (run heldout estimate on these records to refresh the files).")
        return None, None
    return scores_dir, (mem, path)


def gather_scores(runs: RunSet, one: RunSet, scores_dir: Path | None, *, top_k: int = 1) -> Scores:
    """The scores of ``runs`` (all ratios, for C-scores) and ``one`` (the runs at the report's
    ratio, for memorization and influence), read from ``scores_dir`` where possible.

    Influence is computed only where the report needs it: the top-``top_k`` per test example
    when there are no high-influence pairs to draw (or no labels to find them), so a report on
    ImageNet-sized records with ``heldout estimate``'s files does no influence pass at all.
    """
    ratio = float(one.ratios[0])
    notes: list[str] = []
    folder, found = _usable(scores_dir, one, ratio, notes)
    existing = lambda name: None if folder is None or not (folder / name).is_file() else folder / name  # noqa: E731
    computed = "computed from the records"
    sources: dict[str, str] = {}

    if found is not None:
        mem, path = found
        sources["memorization"] = f"read from {path}"
    else:
        mem, sources["memorization"] = memorization(one), computed

    cscore, path = None, existing(CSCORE_FILE)
    if path is not None:
        cscore = read_cscore(path, runs.n_train)
        if len(cscore.ratios) == len(runs.ratios) and np.allclose(cscore.ratios, runs.ratios, rtol=0, atol=1e-9):
            sources["C-score"] = f"read from {path}"
        else:
            notes.append(f"{path} is over ratios {', '.join(f'{r:g}' for r in cscore.ratios)}, not the records' "
                         f"{', '.join(f'{r:g}' for r in runs.ratios)}; the C-scores were recomputed.")
            cscore = None
    if cscore is None:
        cscore, sources["C-score"] = consistency(runs), computed

    pairs, path = None, existing(PAIRS_FILE)
    if one.n_test and path is not None:
        pairs = read_pairs(path, one.n_train, one.n_test, mem.confidence, mem.method)
        sources["high-influence pairs"] = f"read from {path} (infl >= {pairs.infl_threshold:g}, mem >= {pairs.mem_threshold:g})"
    elif one.n_test and one.labels_train is not None and one.labels_test is not None:
        pairs = high_influence_pairs(one, infl_threshold=INFL_THRESHOLD, mem_threshold=MEM_THRESHOLD,
                                     memorization_result=mem, confidence=mem.confidence, method=mem.method, seed=0)
        sources["high-influence pairs"] = computed

    topk, path = None, existing(TOPK_FILE)
    if one.n_test and (pairs is None or not len(pairs.tr_idx)):
        if path is not None:
            topk, sources["influence"] = read_topk(path, one.n_test, one.n_train), f"read from {path}"
        else:
            topk, sources["influence"] = influence_topk(one, min(top_k, one.n_train)), computed
    return Scores(mem, cscore, topk, pairs, sources, notes)
