"""Comparing scores: this project's outputs against the published files, or against each other.

Formats read (recognised by their keys):

- this project's ``memorization.npz``, ``cscore.npz``, ``influence_topk.npz``,
  ``high_infl_pairs.npz`` and ``influence_full.npy`` (with its ``.ci_low``/``.ci_high`` files);
- the released C-scores (``labels``, ``scores``; e.g. ``cifar10-cscores-orig-order.npz``) and
  MNIST's bare ``.npy`` of scores;
- the released influence matrices (``tr_labels``, ``tt_labels``, ``tr_mem`` and per class k
  ``infl_matrix_class{k}`` with ``tr_classidx_{k}``, ``tt_classidx_{k}``; e.g.
  ``cifar100_infl_matrix.npz``): memorization per training example and influence within classes;
- the released high-influence pairs (``tr_idx``, ``tt_idx``, ``infl``, ``mem``).

Examples are aligned by id (position in the files); where both files carry labels they must
agree, or the files are in different example orders and any comparison would be meaningless.
For each statistic both files hold: rank (Spearman) and linear (Pearson) correlation, the
agreement of the top-N sets, and the fraction of one file's values inside the other's intervals.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from . import params
from .errors import HeldoutError
from .npz import load_npz


@dataclass(frozen=True)
class Values:
    """Per-example values with optional intervals; NaN where undefined."""

    estimate: np.ndarray
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None


@dataclass(frozen=True)
class Pairs:
    """(test, train) pairs with values and optional intervals, arrays (m,)."""

    test_idx: np.ndarray
    train_idx: np.ndarray
    estimate: np.ndarray
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None


@dataclass
class ScoreFile:
    """What one file holds: per-example statistics, influence (as pairs, or as a lookup over
    pairs), and labels."""

    path: Path
    format: str
    examples: dict[str, Values] = field(default_factory=dict)
    pairs: Pairs | None = None
    lookup: object = None  # callable(test_idx, train_idx) -> values (NaN where the file has none)
    labels_train: np.ndarray | None = None
    labels_test: np.ndarray | None = None
    shape: tuple[int, int] | None = None  # (n_test, n_train) of a lookup, where the file says
    listed: object = None  # callable() -> Pairs: every pair a lookup holds, where that is a short list


@dataclass(frozen=True)
class Agreement:
    """How two files agree on one statistic.

    Attributes:
        statistic: "memorization", "cscore" or "influence".
        n: examples (or pairs) defined in both files.
        spearman, pearson: rank and linear correlation over them.
        top_n, top_overlap: N, and the fraction of the N highest in A that are among the N
            highest in B (for C-scores: the N lowest, the least consistent examples).
        inside_a: fraction of B's values inside A's intervals (None when A has no intervals);
            inside_b: the same the other way round.
        shared_pairs: for two lists of pairs, the fraction of the pairs either lists that both
            list (Jaccard); None otherwise.
    """

    statistic: str
    n: int
    spearman: float
    pearson: float
    top_n: int | None
    top_overlap: float | None
    inside_a: float | None
    inside_b: float | None
    shared_pairs: float | None = None

    def line(self) -> str:
        parts = [f"{self.statistic}: {self.n} in both", f"Spearman {self.spearman:.3f}", f"Pearson {self.pearson:.3f}"]
        if self.top_overlap is not None:
            side = "lowest" if self.statistic == "cscore" else "highest"
            parts.append(f"{self.top_overlap:.0%} of the {self.top_n} {side} agree")
        if self.shared_pairs is not None:
            parts.append(f"{self.shared_pairs:.0%} of the pairs listed are in both lists")
        if self.inside_a is not None:
            parts.append(f"{self.inside_a:.1%} of B's values inside A's intervals")
        if self.inside_b is not None:
            parts.append(f"{self.inside_b:.1%} of A's values inside B's intervals")
        return ", ".join(parts)


# ---------------------------------------------------------------------------- reading
def _float(arrays, key, what, shape=None):
    arr = np.asarray(arrays[key])
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)) or arr.dtype == bool:
        raise HeldoutError(f"{what}: '{key}' must hold numbers, got {arr.dtype}.")
    if shape is not None and arr.shape != shape:
        raise HeldoutError(f"{what}: '{key}' has shape {arr.shape}, expected {shape}.")
    return arr.astype(np.float64)


def _ids(arrays, key, what, n=None):
    arr = np.asarray(arrays[key])
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise HeldoutError(f"{what}: '{key}' must be a 1-D integer array, got {arr.dtype} {arr.shape}.")
    if len(arr) and arr.min() < 0:
        raise HeldoutError(f"{what}: '{key}' has negative ids.")
    if len(arr) and n is not None and arr.max() >= n:
        raise HeldoutError(f"{what}: '{key}' has ids outside 0..{n - 1}.")
    return arr.astype(np.int64)


def _labels(arrays, key, what):
    if key not in arrays:
        return None
    arr = np.asarray(arrays[key])
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise HeldoutError(f"{what}: '{key}' must be 1-D integer labels, got {arr.dtype} {arr.shape}.")
    return arr.astype(np.int64)


def _values(arrays, key, what, n=None):
    est = _float(arrays, key, what)
    if est.ndim != 1 or (n is not None and len(est) != n):
        raise HeldoutError(f"{what}: '{key}' must be 1-D{'' if n is None else f' of length {n}'}, got shape {est.shape}.")
    lo = _float(arrays, "ci_low", what, est.shape) if "ci_low" in arrays else None
    hi = _float(arrays, "ci_high", what, est.shape) if "ci_high" in arrays else None
    return Values(est, lo, hi)


_CLASS_BLOCK = re.compile(r"^infl_matrix_class(\d+)$")


def _influence_matrix_lookup(arrays, what, n_train, n_test):
    """A lookup over the released per-class influence blocks (NaN for pairs of other classes)."""
    cls_train = np.full(n_train, -1, dtype=np.int64)
    row = np.zeros(n_train, dtype=np.int64)
    cls_test = np.full(n_test, -2, dtype=np.int64)
    col = np.zeros(n_test, dtype=np.int64)
    blocks = {}
    for key in arrays:
        match = _CLASS_BLOCK.match(key)
        if not match:
            continue
        k = int(match[1])
        for name in (f"tr_classidx_{k}", f"tt_classidx_{k}"):
            if name not in arrays:
                raise HeldoutError(f"{what} has '{key}' but no '{name}'.")
        tr = _ids(arrays, f"tr_classidx_{k}", what, n_train)
        tt = _ids(arrays, f"tt_classidx_{k}", what, n_test)
        block = _float(arrays, key, what, (len(tr), len(tt)))
        cls_train[tr], row[tr] = k, np.arange(len(tr))
        cls_test[tt], col[tt] = k, np.arange(len(tt))
        blocks[k] = block

    def lookup(test_idx, train_idx):
        test_idx, train_idx = np.asarray(test_idx), np.asarray(train_idx)
        out = np.full(len(test_idx), np.nan)
        same = cls_train[train_idx] == cls_test[test_idx]
        for k, block in blocks.items():
            sel = same & (cls_train[train_idx] == k)
            out[sel] = block[row[train_idx[sel]], col[test_idx[sel]]]
        return out

    def listed():
        # every (test, train) pair of the blocks: the same-class pairs the release holds
        tests, trains = [], []
        for k in blocks:
            tr, tt = np.flatnonzero(cls_train == k), np.flatnonzero(cls_test == k)
            trains.append(np.tile(tr, len(tt)))
            tests.append(np.repeat(tt, len(tr)))
        test_idx = np.concatenate(tests) if tests else np.zeros(0, np.int64)
        train_idx = np.concatenate(trains) if trains else np.zeros(0, np.int64)
        return Pairs(test_idx, train_idx, lookup(test_idx, train_idx))

    return lookup, listed


def read_scores(path: str | os.PathLike) -> ScoreFile:
    """Read a score file in any of the formats of the module docstring."""
    path = Path(path)
    what = str(path)
    if path.suffix == ".npy":
        return _read_npy(path, what)
    arrays = load_npz(path, what)
    keys = set(arrays)
    if {"estimate", "ci_low", "ci_high", "n_in", "n_out"} <= keys and "train_idx" not in keys:
        return ScoreFile(path, "heldout memorization", {"memorization": _values(arrays, "estimate", what)},
                         labels_train=_labels(arrays, "labels", what))
    if {"estimate", "per_ratio"} <= keys:
        return ScoreFile(path, "heldout C-scores", {"cscore": _values(arrays, "estimate", what)},
                         labels_train=_labels(arrays, "labels", what))
    if {"train_idx", "estimate"} <= keys:
        idx = _ids_2d(arrays, "train_idx", what)
        est = _float(arrays, "estimate", what, idx.shape)
        valid = idx >= 0
        test = np.broadcast_to(np.arange(idx.shape[0])[:, None], idx.shape)
        lo = _float(arrays, "ci_low", what, idx.shape)[valid] if "ci_low" in keys else None
        hi = _float(arrays, "ci_high", what, idx.shape)[valid] if "ci_high" in keys else None
        return ScoreFile(path, "heldout top-k influence", pairs=Pairs(test[valid], idx[valid], est[valid], lo, hi))
    if {"tr_idx", "tt_idx", "infl", "mem"} <= keys:
        tr, tt = _ids(arrays, "tr_idx", what), _ids(arrays, "tt_idx", what)
        if tt.shape != tr.shape:
            raise HeldoutError(f"{what}: 'tt_idx' has {len(tt)} entries but 'tr_idx' has {len(tr)}; a pair needs both.")
        infl = _float(arrays, "infl", what, tr.shape)
        ours = "infl_ci_low" in keys
        pairs = Pairs(tt, tr, infl, _float(arrays, "infl_ci_low", what, tr.shape) if ours else None,
                      _float(arrays, "infl_ci_high", what, tr.shape) if ours else None)
        return ScoreFile(path, "heldout high-influence pairs" if ours else "published high-influence pairs", pairs=pairs)
    if {"tr_mem", "tr_labels"} <= keys:
        labels_train = _labels(arrays, "tr_labels", what)
        labels_test = _labels(arrays, "tt_labels", what)
        mem = _values({"tr_mem": arrays["tr_mem"]}, "tr_mem", what, len(labels_train))
        lookup = listed = None
        if labels_test is not None and any(_CLASS_BLOCK.match(k) for k in keys):
            lookup, listed = _influence_matrix_lookup(arrays, what, len(labels_train), len(labels_test))
        return ScoreFile(path, "published influence matrix", {"memorization": mem}, lookup=lookup,
                         labels_train=labels_train, labels_test=labels_test,
                         shape=None if lookup is None else (len(labels_test), len(labels_train)), listed=listed)
    if {"scores", "labels"} <= keys:
        labels = _labels(arrays, "labels", what)
        return ScoreFile(path, "published C-scores", {"cscore": _values(arrays, "scores", what, len(labels))},
                         labels_train=labels)
    raise HeldoutError(f"{what} is no score file this project reads (keys: {', '.join(sorted(keys)) or 'none'}); "
                       "see `heldout compare --help` for the formats.")


def _ids_2d(arrays, key, what):
    arr = np.asarray(arrays[key])
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise HeldoutError(f"{what}: '{key}' must be a 2-D integer array, got {arr.dtype} {arr.shape}.")
    return arr.astype(np.int64)


def _read_npy(path: Path, what: str) -> ScoreFile:
    from .estimators import dense_output_paths

    arr = _load_numbers_npy(path, what)
    if arr.ndim == 1:  # MNIST's released C-scores
        return ScoreFile(path, "published C-scores (.npy)", {"cscore": Values(np.asarray(arr, dtype=np.float64))})
    if arr.ndim == 2:  # this project's dense influence matrix
        _, low, high = dense_output_paths(path)
        lo = _load_numbers_npy(low, str(low), arr.shape) if low.is_file() else None
        hi = _load_numbers_npy(high, str(high), arr.shape) if high.is_file() else None

        def lookup(test_idx, train_idx):
            return np.asarray(arr[np.asarray(test_idx), np.asarray(train_idx)], dtype=np.float64)

        pairs = None
        if lo is not None and hi is not None and arr.size <= 50_000_000:
            t, i = np.indices(arr.shape).reshape(2, -1)
            pairs = Pairs(t, i, np.asarray(arr, np.float64).ravel(), np.asarray(lo, np.float64).ravel(),
                          np.asarray(hi, np.float64).ravel())
        return ScoreFile(path, "heldout dense influence", pairs=pairs, lookup=lookup, shape=arr.shape)
    raise HeldoutError(f"{what} has shape {arr.shape}; a score .npy is 1-D (C-scores) or 2-D (influence).")


def _load_numbers_npy(path: Path, what: str, shape: tuple | None = None) -> np.ndarray:
    """A .npy of numbers, memory-mapped, checked for dtype (and ``shape``); HeldoutError naming it."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise HeldoutError(f"{what} is not a readable .npy file ({exc}).") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise HeldoutError(f"{what} must hold numbers, got {arr.dtype}.")
    if shape is not None and arr.shape != tuple(shape):
        raise HeldoutError(f"{what} has shape {arr.shape}, but its matrix has {tuple(shape)}.")
    return arr


# ---------------------------------------------------------------------------- comparing
def _inside(values, low, high):
    if low is None or high is None:
        return None
    ok = np.isfinite(values) & np.isfinite(low) & np.isfinite(high)
    return float(((values[ok] >= low[ok]) & (values[ok] <= high[ok])).mean()) if ok.any() else None


def _correlations(a, b):
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    return float(spearmanr(a, b).statistic), float(pearsonr(a, b).statistic)


def _compare_examples(name, a: Values, b: Values, top: int) -> Agreement:
    if len(a.estimate) != len(b.estimate):
        raise HeldoutError(f"the files hold {name} for {len(a.estimate)} and {len(b.estimate)} examples; they are "
                           "not of the same training set.")
    both = np.isfinite(a.estimate) & np.isfinite(b.estimate)
    ids = np.flatnonzero(both)
    spearman, pearson = _correlations(a.estimate[ids], b.estimate[ids])
    n = min(top, len(ids))
    sign = 1.0 if name == "cscore" else -1.0  # C-scores: the least consistent; the rest: the highest
    top_a = set(ids[np.argsort(sign * a.estimate[ids], kind="stable")[:n]].tolist())
    top_b = set(ids[np.argsort(sign * b.estimate[ids], kind="stable")[:n]].tolist())
    cut = lambda v: None if v is None else v[ids]  # noqa: E731
    return Agreement(name, len(ids), spearman, pearson, n, len(top_a & top_b) / n if n else None,
                     _inside(b.estimate[ids], cut(a.ci_low), cut(a.ci_high)),
                     _inside(a.estimate[ids], cut(b.ci_low), cut(b.ci_high)))


def _check_ids(pairs: Pairs, source: ScoreFile, other: ScoreFile) -> None:
    """The pairs of ``source`` must name examples ``other`` has (where ``other`` says its size)."""
    if other.shape is None or not len(pairs.test_idx):
        return
    for name, ids, n in (("test", pairs.test_idx, other.shape[0]), ("training", pairs.train_idx, other.shape[1])):
        if ids.max() >= n:
            raise HeldoutError(f"{source.path} names {name} example {int(ids.max())}, but {other.path} holds {n} "
                               f"{name} examples; they are not of the same data.")


def _compare_pairs(a: ScoreFile, b: ScoreFile, top: int) -> Agreement | None:
    """Influence: over A's pairs looked up in B (or B's in A), or over the pairs both list; two
    lookups compare over the pairs one of them lists (a released matrix's same-class pairs)."""
    if a.pairs is None and b.pairs is None and a.lookup is not None and b.lookup is not None:
        if b.listed is not None:
            b = ScoreFile(b.path, b.format, pairs=b.listed(), lookup=b.lookup, shape=b.shape)
        elif a.listed is not None:
            a = ScoreFile(a.path, a.format, pairs=a.listed(), lookup=a.lookup, shape=a.shape)
    if a.pairs is not None and b.lookup is not None:
        first, other, flipped = a, b, False
    elif b.pairs is not None and a.lookup is not None:
        first, other, flipped = b, a, True
    elif a.pairs is not None and b.pairs is not None:
        key = lambda p: {(int(t), int(i)): k for k, (t, i) in enumerate(zip(p.test_idx, p.train_idx))}  # noqa: E731
        ka, kb = key(a.pairs), key(b.pairs)
        shared = sorted(set(ka) & set(kb))
        union = len(set(ka) | set(kb))
        ia, ib = np.array([ka[s] for s in shared], dtype=np.int64), np.array([kb[s] for s in shared], dtype=np.int64)
        va, vb = a.pairs.estimate[ia], b.pairs.estimate[ib]
        spearman, pearson = _correlations(va, vb)
        cut = lambda v, i: None if v is None else v[i]  # noqa: E731
        return Agreement("influence", len(shared), spearman, pearson, None, None,
                         _inside(vb, cut(a.pairs.ci_low, ia), cut(a.pairs.ci_high, ia)),
                         _inside(va, cut(b.pairs.ci_low, ib), cut(b.pairs.ci_high, ib)),
                         len(shared) / union if union else None)
    else:
        return None
    p = first.pairs
    _check_ids(p, first, other)
    looked = other.lookup(p.test_idx, p.train_idx)
    ok = np.isfinite(looked) & np.isfinite(p.estimate)
    spearman, pearson = _correlations(p.estimate[ok], looked[ok])
    inside = _inside(looked[ok], None if p.ci_low is None else p.ci_low[ok], None if p.ci_high is None else p.ci_high[ok])
    return Agreement("influence", int(ok.sum()), spearman, pearson, None, None,
                     None if flipped else inside, inside if flipped else None)


@dataclass
class Comparison:
    """Two score files and how they agree on each statistic both hold."""

    a: ScoreFile
    b: ScoreFile
    agreements: list[Agreement] = field(default_factory=list)


def compare_scores(path_a: str | os.PathLike, path_b: str | os.PathLike, *, top: int = 100) -> Comparison:
    """Compare two score files (see the module docstring); A's intervals are the ones tested."""
    top = params.integer(top, "top", minimum=1)
    a, b = read_scores(path_a), read_scores(path_b)
    for name in ("labels_train", "labels_test"):
        la, lb = getattr(a, name), getattr(b, name)
        if la is not None and lb is not None:
            if la.shape != lb.shape or (la != lb).any():
                wrong = int((la != lb).sum()) if la.shape == lb.shape else "their sizes"
                raise HeldoutError(f"{a.path} and {b.path} disagree on {name} ({wrong} differ): they are not in the "
                                   "same example order (the released CIFAR records use TFDS order, the released "
                                   "C-score files the original order), so their scores cannot be compared.")
    result = Comparison(a, b)
    for name in ("memorization", "cscore"):
        if name in a.examples and name in b.examples:
            result.agreements.append(_compare_examples(name, a.examples[name], b.examples[name], top))
    influence = _compare_pairs(a, b, top)
    if influence is not None:
        result.agreements.append(influence)
    if not result.agreements:
        raise HeldoutError(f"{a.path} ({a.format}) and {b.path} ({b.format}) hold no statistic in common.")
    return result
