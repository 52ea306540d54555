"""The released per-run record, ``aux_arrays.npz``: reading, validating, aligning and writing.

Keys (the release's; a file written here has exactly these):

- ``subsample_idx``: ids (into the full training set) of the examples the run trained on;
- ``correctness_train`` / ``index_train``: 0/1 correctness of the final model on those examples,
  and the id of each entry;
- ``correctness_removed`` / ``index_removed``: the same for the held-out training examples
  (train and removed together cover the training set);
- ``correctness_test`` / ``index_test``: the same for the test set (optional when reading).

Entries may come in any evaluation order: correctness is aligned to example ids through the
``index_*`` arrays, each of which must be a permutation of its ids.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .atomic import save_npz_atomic
from .errors import HeldoutError
from .npz import default_budget, load_npz
from .records import UNKNOWN_SEED, Run

AUX_FILE = "aux_arrays.npz"
AUX_KEYS = (
    "subsample_idx",
    "correctness_train", "index_train",
    "correctness_removed", "index_removed",
    "correctness_test", "index_test",
)
_OPTIONAL = ("correctness_test", "index_test")
# One run's record is small (ImageNet's: about 25 MB); anything far larger is refused unread.
RECORD_MAX_BYTES = 1 << 30


def record_budget() -> int:
    """Bytes one ``aux_arrays.npz`` may expand to (``HELDOUT_MAX_FILE_BYTES`` overrides)."""
    return default_budget(RECORD_MAX_BYTES)


def _zero_one(arr: np.ndarray, key: str, what: str) -> np.ndarray:
    if arr.ndim != 1:
        raise HeldoutError(f"{what}: '{key}' must be 1-D, got shape {arr.shape}.")
    if arr.dtype != bool:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)) or not np.isin(arr, (0, 1)).all():
            raise HeldoutError(f"{what}: '{key}' must hold only 0/1 correctness values.")
    return arr.astype(bool)


def _ids(arr: np.ndarray, key: str, what: str) -> np.ndarray:
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise HeldoutError(f"{what}: '{key}' must be a 1-D integer array, got {arr.dtype} with shape {arr.shape}.")
    return arr.astype(np.int64)


def _scatter_by_index(values, ids, n, keys: str, what: str) -> np.ndarray:
    """Place ``values[k]`` at ``ids[k]``; ``ids`` must be a permutation of 0..n-1."""
    if len(values) != len(ids):
        raise HeldoutError(f"{what}: {keys} have different lengths ({len(values)} values, {len(ids)} ids).")
    if len(ids) and (ids.min() < 0 or ids.max() >= n):
        raise HeldoutError(f"{what}: {keys} has example ids outside 0..{n - 1}.")
    seen = np.zeros(n, dtype=np.int64)
    np.add.at(seen, ids, 1)
    if len(ids) != n or (seen != 1).any():
        missing, repeated = int((seen == 0).sum()), int((seen > 1).sum())
        raise HeldoutError(f"{what}: {keys} is not a permutation of 0..{n - 1} ({missing} ids missing, {repeated} repeated).")
    out = np.empty(n, dtype=bool)
    out[ids] = values
    return out


def check_subset_fits_ratio(k: int, n: int, ratio: float, what: str) -> None:
    """HeldoutError unless a subset of ``k`` of ``n`` examples can come from subset ratio ``ratio``.

    Fixed-size designs give ``round(ratio n)`` (the release: ``int(ratio n)``); random-size ones
    (each example in with probability ``ratio``) stay within a few standard deviations of it.
    A run in the wrong ratio folder (70% subsets in a folder named ``1``) fails this.
    """
    if ratio >= 1.0:
        fits = k == n
    else:
        fits = abs(k / n - ratio) <= 4.0 * math.sqrt(ratio * (1.0 - ratio) / n) + 1.0 / n + 0.01
    if not fits:
        raise HeldoutError(f"{what}: the run trained on {k} of {n} training examples ({k / n:.1%}), which does not "
                           f"fit its subset ratio {ratio:g} (its ratio folder's name).")


def run_from_aux_arrays(arrays: dict[str, np.ndarray], what: str, *, subset_ratio: float = float("nan"),
                        run_id: int = 0) -> Run:
    """Validate the arrays of one ``aux_arrays.npz`` and align them into a :class:`Run`.

    A NaN ``subset_ratio`` (the file is not inside a ``<ratio>/`` folder) is taken from the
    subset's size, rounded to two decimals.
    """
    missing = [k for k in AUX_KEYS if k not in arrays and k not in _OPTIONAL]
    if missing:
        raise HeldoutError(f"{what} has no key '{missing[0]}' (expected keys: {', '.join(AUX_KEYS)}).")
    idx_train = _ids(arrays["index_train"], "index_train", what)
    idx_removed = _ids(arrays["index_removed"], "index_removed", what)
    n_train = len(idx_train) + len(idx_removed)
    if n_train == 0:
        raise HeldoutError(f"{what} records no training examples ('index_train' and 'index_removed' are empty).")
    correct_train = _scatter_by_index(
        np.concatenate([_zero_one(arrays["correctness_train"], "correctness_train", what),
                        _zero_one(arrays["correctness_removed"], "correctness_removed", what)]),
        np.concatenate([idx_train, idx_removed]), n_train,
        "index_train + index_removed (with correctness_train + correctness_removed)", what)
    subsample = _ids(arrays["subsample_idx"], "subsample_idx", what)
    if len(subsample) and (subsample.min() < 0 or subsample.max() >= n_train):
        raise HeldoutError(f"{what}: 'subsample_idx' has indices outside 0..{n_train - 1}.")
    mask = np.zeros(n_train, dtype=bool)
    mask[subsample] = True
    if mask.sum() != len(subsample):
        raise HeldoutError(f"{what}: 'subsample_idx' lists {len(subsample) - int(mask.sum())} training examples more than once.")
    if not len(subsample):
        raise HeldoutError(f"{what}: 'subsample_idx' is empty; a run must train on some examples.")
    in_train = np.zeros(n_train, dtype=bool)
    in_train[idx_train] = True
    if not np.array_equal(in_train, mask):
        raise HeldoutError(f"{what}: 'index_train' does not name the same examples as 'subsample_idx'.")
    correct_test = None
    if ("correctness_test" in arrays) != ("index_test" in arrays):
        raise HeldoutError(f"{what} has only one of 'correctness_test' and 'index_test'.")
    if "correctness_test" in arrays:
        idx_test = _ids(arrays["index_test"], "index_test", what)
        correct_test = _scatter_by_index(_zero_one(arrays["correctness_test"], "correctness_test", what),
                                         idx_test, len(idx_test), "index_test (with correctness_test)", what)
    if np.isnan(subset_ratio):
        # Outside a <ratio>/ folder: the subset size says it (fixed-size subsets of round(r n)).
        subset_ratio = round(len(subsample) / n_train, 2)
    else:
        check_subset_fits_ratio(len(subsample), n_train, subset_ratio, what)
    return Run(train_mask=mask, correct_train=correct_train, correct_test=correct_test,
               subset_ratio=float(subset_ratio), run_id=int(run_id), seed=UNKNOWN_SEED)


def read_aux_arrays(source, *, subset_ratio: float = float("nan"), run_id: int = 0, name: str | None = None) -> Run:
    """Read one ``aux_arrays.npz`` (a path or a file object) into a :class:`Run`."""
    what = name or str(source)
    return run_from_aux_arrays(load_npz(source, what, max_bytes=record_budget()), what, subset_ratio=subset_ratio,
                               run_id=run_id)


def aux_arrays_of(run: Run) -> dict[str, np.ndarray]:
    """The released ``aux_arrays.npz`` arrays of a run (correctness as bool, ids as int64)."""
    inside = np.flatnonzero(run.train_mask)
    removed = np.flatnonzero(~np.asarray(run.train_mask, dtype=bool))
    arrays = {
        "subsample_idx": inside,
        "correctness_train": np.asarray(run.correct_train, dtype=bool)[inside],
        "index_train": inside,
        "correctness_removed": np.asarray(run.correct_train, dtype=bool)[removed],
        "index_removed": removed,
    }
    if run.correct_test is not None:
        arrays["correctness_test"] = np.asarray(run.correct_test, dtype=bool)
        arrays["index_test"] = np.arange(len(run.correct_test), dtype=np.int64)
    return arrays


def write_aux_arrays(run: Run, path: str | os.PathLike) -> Path:
    """Write ``run`` as an ``aux_arrays.npz`` (a file path, or a run folder to put it in), atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path / AUX_FILE
    return save_npz_atomic(path, **aux_arrays_of(run))
