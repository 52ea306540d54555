"""Files: the released run layout, ``aux_arrays.npz``, atomic writes, and :func:`load_runs`.

Released layout (DESIGN.md section 2)::

    <experiment>/<subset_ratio>/<run_id>/aux_arrays.npz
    <experiment>/<subset_ratio>/<run_id>/checkpoints/ckpt-<N>.{index,data-*}

``aux_arrays.npz`` keys: ``subsample_idx``, ``correctness_train``/``index_train``,
``correctness_removed``/``index_removed`` (together covering the training set, with ids of the
full training set) and ``correctness_test``/``index_test``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import HeldoutError
from .records import UNKNOWN_SEED, Run, RunSet

AUX_FILE = "aux_arrays.npz"
AUX_KEYS = (
    "subsample_idx",
    "correctness_train", "index_train",
    "correctness_removed", "index_removed",
    "correctness_test", "index_test",
)
STORE_SUFFIX = ".runs.npz"
_RATIO_NAME = re.compile(r"^(0(\.\d+)?|1(\.0+)?|\.\d+)$")
_RUN_NAME = re.compile(r"^\d+$")

ProgressFn = Callable[[int, int], None]


# ---------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file next to ``path``; rename it over ``path`` only on success.

    A crash or exception leaves ``path`` untouched (the old file, or nothing) and no temp file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable: after a power cut the new name is there, not just the data."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz_atomic(path: str | os.PathLike, **arrays) -> Path:
    """``np.savez`` (uncompressed) written atomically to exactly ``path``."""
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)
    return Path(path)


def format_ratio(ratio: float) -> str:
    """Folder name of a subset ratio as in the release: ``0.7`` -> ``"0.7"`` (shortest exact form)."""
    return np.format_float_positional(float(ratio), trim="-")


def run_dir(root: str | os.PathLike, experiment: str, ratio: float, run_id: int) -> Path:
    """``root/<experiment>/<ratio>/<run_id>``, the released layout of one run."""
    return Path(root) / experiment / format_ratio(ratio) / str(int(run_id))


# ---------------------------------------------------------------------------- aux_arrays.npz
def load_npz(source, what: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (path or file object), never unpickling; errors name ``what``."""
    try:
        _check_zip_magic(source, what)
        with np.load(source, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except HeldoutError:
        raise
    except FileNotFoundError:
        raise HeldoutError(f"{what} does not exist.") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise HeldoutError(f"{what} holds pickled Python objects, which are never loaded; only plain arrays are accepted.") from None
        raise HeldoutError(f"{what} is not a readable .npz file ({exc}).") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise HeldoutError(f"{what} is not a readable .npz file ({exc}).") from None


def _check_zip_magic(source, what: str) -> None:
    # np.load treats anything that is neither .npy nor zip as a pickle; say what it really is.
    if hasattr(source, "read"):
        start = source.tell()
        magic = source.read(4)
        source.seek(start)
    else:
        with open(source, "rb") as handle:
            magic = handle.read(4)
    if not magic.startswith(b"PK"):
        kind = "a .npy array" if magic.startswith(b"\x93NUM") else "not a zip archive"
        raise HeldoutError(f"{what} is not a readable .npz file (it is {kind}).")


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


def run_from_aux_arrays(arrays: dict[str, np.ndarray], what: str, *, subset_ratio: float = float("nan"),
                        run_id: int = 0) -> Run:
    """Validate the arrays of one ``aux_arrays.npz`` and align them into a :class:`Run`.

    A NaN ``subset_ratio`` (the file is not inside a ``<ratio>/`` folder) is taken from the
    subset's size, rounded to two decimals.
    """
    missing = [k for k in AUX_KEYS if k not in arrays and k not in ("correctness_test", "index_test")]
    if missing:
        raise HeldoutError(f"{what} has no key '{missing[0]}' (expected keys: {', '.join(AUX_KEYS)}).")
    idx_train = _ids(arrays["index_train"], "index_train", what)
    idx_removed = _ids(arrays["index_removed"], "index_removed", what)
    n_train = len(idx_train) + len(idx_removed)
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
    return Run(train_mask=mask, correct_train=correct_train, correct_test=correct_test,
               subset_ratio=float(subset_ratio), run_id=int(run_id), seed=UNKNOWN_SEED)


def read_aux_arrays(source, *, subset_ratio: float = float("nan"), run_id: int = 0, name: str | None = None) -> Run:
    """Read one ``aux_arrays.npz`` (a path or a file object) into a :class:`Run`."""
    what = name or str(source)
    return run_from_aux_arrays(load_npz(source, what), what, subset_ratio=subset_ratio, run_id=run_id)


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


def write_release_layout(runs: RunSet, root: str | os.PathLike, experiment: str | None = None) -> list[Path]:
    """Write every run of ``runs`` as ``root/<experiment>/<ratio>/<run_id>/aux_arrays.npz``."""
    experiment = experiment or runs.experiment
    if not experiment:
        raise HeldoutError("an experiment name is needed to write the released layout.")
    return [write_aux_arrays(run, run_dir(root, experiment, run.subset_ratio, run.run_id)) for run in runs]


# ---------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class RecordFile:
    """One file of run records found under a path: an ``aux_arrays.npz`` or a compact store."""

    path: Path
    kind: str  # "aux" or "store"
    experiment: str | None
    subset_ratio: float
    run_id: int | None


def _is_ratio(name: str) -> bool:
    return bool(_RATIO_NAME.match(name))


def _ratio_folder(folder: Path, experiment: str | None) -> list[RecordFile]:
    ratio = float(folder.name) if _is_ratio(folder.name) else float("nan")
    found = []
    for child in sorted(folder.iterdir(), key=lambda p: (len(p.name), p.name)):
        if child.is_dir() and _RUN_NAME.match(child.name) and (child / AUX_FILE).is_file():
            found.append(RecordFile(child / AUX_FILE, "aux", experiment, ratio, int(child.name)))
    return found


def find_unfinished_runs(path: str | os.PathLike) -> list[Path]:
    """Run folders (``<ratio>/<run_id>/``) under ``path`` that have no ``aux_arrays.npz``: runs
    still training, crashed, or lost in an incomplete download."""
    root = Path(path).resolve()
    if root.is_file():
        return []
    ratio_dirs = [root] if _is_ratio(root.name) else []
    ratio_dirs += [p for p in root.glob("*") if p.is_dir() and _is_ratio(p.name)]
    ratio_dirs += [p for p in root.glob("*/*") if p.is_dir() and _is_ratio(p.name)]
    return sorted(run for folder in ratio_dirs for run in folder.iterdir()
                  if run.is_dir() and _RUN_NAME.match(run.name) and not (run / AUX_FILE).is_file())


def find_record_files(path: str | os.PathLike) -> list[RecordFile]:
    """All run-record files under ``path``, which may be:

    a single ``aux_arrays.npz`` or ``*.runs.npz``; a run folder; a ratio folder
    (``<ratio>/<run_id>/aux_arrays.npz``); an experiment folder (``<experiment>/<ratio>/...``);
    a folder of experiment folders; or a folder of compact stores (``*.runs.npz``).
    """
    path = Path(path)
    if not path.exists():
        raise HeldoutError(f"{path} does not exist.")
    path = path.resolve()  # "." and relative paths must still show their folder names
    if path.is_file():
        if path.name.endswith(STORE_SUFFIX):
            return [RecordFile(path, "store", None, float("nan"), None)]
        if path.suffix == ".npz":
            parts = path.parts
            run_id = int(parts[-2]) if len(parts) >= 2 and _RUN_NAME.match(parts[-2]) else 0
            ratio = float(parts[-3]) if len(parts) >= 3 and _is_ratio(parts[-3]) else float("nan")
            experiment = parts[-4] if len(parts) >= 4 and _is_ratio(parts[-3]) else None
            return [RecordFile(path, "aux", experiment, ratio, run_id)]
        raise HeldoutError(f"{path} is neither an aux_arrays.npz nor a compact store (*{STORE_SUFFIX}).")
    if (path / AUX_FILE).is_file():
        return find_record_files(path / AUX_FILE)
    found = [RecordFile(p, "store", None, float("nan"), None) for p in sorted(path.glob(f"*{STORE_SUFFIX}"))]
    found += _ratio_folder(path, path.parent.name if _is_ratio(path.name) else None)
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        if _is_ratio(child.name):  # path is an experiment folder
            found += _ratio_folder(child, path.name)
        elif not _RUN_NAME.match(child.name):  # path may hold experiment folders or stores
            found += [RecordFile(p, "store", None, float("nan"), None) for p in sorted(child.glob(f"*{STORE_SUFFIX}"))]
            for grandchild in sorted(p for p in child.iterdir() if p.is_dir() and _is_ratio(p.name)):
                found += _ratio_folder(grandchild, child.name)
    if not found:
        raise HeldoutError(
            f"{path} holds no run records: expected <experiment>/<ratio>/<run_id>/{AUX_FILE} folders or *{STORE_SUFFIX} files."
        )
    return found


def load_runs(path: str | os.PathLike, *, experiment: str | None = None, ratio: float | None = None,
              progress: ProgressFn | None = None) -> RunSet:
    """Load run records from the released layout, a single ``aux_arrays.npz`` or compact stores.

    Args:
        path: see :func:`find_record_files` for the accepted shapes.
        experiment: which experiment to load when ``path`` holds several.
        ratio: keep only runs at this subset ratio.
        progress: called as ``progress(done, total)`` while files are read.

    Raises:
        HeldoutError: naming the file and field of the first problem found.
    """
    from .store import read_store

    files = find_record_files(path)
    stores = [f for f in files if f.kind == "store"]
    auxes = [f for f in files if f.kind == "aux"]
    if ratio is not None:
        auxes = [f for f in auxes if np.isclose(f.subset_ratio, ratio, rtol=0, atol=1e-9)]
    sets = [read_store(f.path) for f in stores]
    names = {f.experiment for f in auxes if f.experiment} | {s.experiment for s in sets if s.experiment}
    if experiment is not None:
        if experiment not in names:
            raise HeldoutError(f"{path} has no runs of experiment '{experiment}' (found: {', '.join(sorted(names)) or 'none named'}).")
        auxes = [f for f in auxes if f.experiment == experiment]
        sets = [s for s in sets if s.experiment == experiment]
    elif len(names) > 1:
        raise HeldoutError(f"{path} holds several experiments ({', '.join(sorted(names))}); choose one with experiment=... (--experiment).")
    if auxes:
        def read_all():
            for done, f in enumerate(auxes, 1):
                yield read_aux_arrays(f.path, subset_ratio=f.subset_ratio, run_id=f.run_id or 0)
                if progress is not None:
                    progress(done, len(auxes))

        # streamed: runs are packed as they are read, never all held unpacked
        sets.append(RunSet.from_runs(read_all(), experiment=auxes[0].experiment))
    if ratio is not None:
        sets = [s.by_ratio(ratio) for s in sets if np.isclose(s.subset_ratio, ratio, atol=1e-9).any()]
    if not sets:
        raise HeldoutError(f"{path} has no runs at subset ratio {ratio:g}.")
    return RunSet.concat(sets)


def load_labels(path: str | os.PathLike) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Class labels from an ``.npz``: ``tr_labels``/``tt_labels`` (as in the released statistics),
    ``labels_train``/``labels_test``, ``y_train``/``y_test``, or ``labels`` (training set only)."""
    arrays = load_npz(path, str(path))
    for train_key, test_key in (("tr_labels", "tt_labels"), ("labels_train", "labels_test"), ("y_train", "y_test"),
                                ("labels", None)):
        if train_key in arrays:
            return arrays[train_key], (arrays.get(test_key) if test_key else None)
    raise HeldoutError(f"{path} has no labels: expected keys tr_labels/tt_labels, labels_train/labels_test, y_train/y_test or labels.")
