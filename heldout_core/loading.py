"""Finding and loading run records: :func:`load_runs` reads any of the shapes records come in.

Accepted paths (see :func:`find_record_files`): a single ``aux_arrays.npz`` or compact store
(``*.runs.npz``), a run folder, a ratio folder, an experiment folder of the released layout, a
folder holding several experiments, or a folder of compact stores. Records are bit-packed as
they are read (:class:`~heldout_core.records.RunSetBuilder`), never held unpacked all at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .aux_arrays import AUX_FILE, read_aux_arrays
from .errors import HeldoutError
from .layout import is_ratio_name, is_run_name, run_folders
from .npz import load_npz
from .records import RunSet, RunSetBuilder
from .store import STORE_SUFFIX, read_store

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class RecordFile:
    """One file of run records found under a path: an ``aux_arrays.npz`` or a compact store."""

    path: Path
    kind: str  # "aux" or "store"
    experiment: str | None
    subset_ratio: float
    run_id: int | None


def _store(path: Path) -> RecordFile:
    return RecordFile(path, "store", None, float("nan"), None)


def _ratio_folder(folder: Path, experiment: str | None) -> list[RecordFile]:
    ratio = float(folder.name) if is_ratio_name(folder.name) else float("nan")
    return [RecordFile(run / AUX_FILE, "aux", experiment, ratio, int(run.name))
            for run in run_folders(folder) if (run / AUX_FILE).is_file()]


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
            return [_store(path)]
        if path.suffix == ".npz":
            parts = path.parts
            run_id = int(parts[-2]) if len(parts) >= 2 and is_run_name(parts[-2]) else 0
            in_ratio = len(parts) >= 3 and is_ratio_name(parts[-3])
            ratio = float(parts[-3]) if in_ratio else float("nan")
            experiment = parts[-4] if len(parts) >= 4 and in_ratio else None
            return [RecordFile(path, "aux", experiment, ratio, run_id)]
        raise HeldoutError(f"{path} is neither an aux_arrays.npz nor a compact store (*{STORE_SUFFIX}).")
    if (path / AUX_FILE).is_file():
        return find_record_files(path / AUX_FILE)
    found = [_store(p) for p in sorted(path.glob(f"*{STORE_SUFFIX}"))]
    found += _ratio_folder(path, path.parent.name if is_ratio_name(path.name) else None)
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        if is_ratio_name(child.name):  # path is an experiment folder
            found += _ratio_folder(child, path.name)
        elif not is_run_name(child.name):  # path may hold experiment folders or stores
            found += [_store(p) for p in sorted(child.glob(f"*{STORE_SUFFIX}"))]
            for grandchild in sorted(p for p in child.iterdir() if p.is_dir() and is_ratio_name(p.name)):
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
        raise HeldoutError(f"{path} holds several experiments ({', '.join(sorted(names))}); choose one with experiment=...")
    if auxes:
        builder = RunSetBuilder(experiment=auxes[0].experiment)
        for done, f in enumerate(auxes, 1):
            builder.add(read_aux_arrays(f.path, subset_ratio=f.subset_ratio, run_id=f.run_id or 0), str(f.path))
            if progress is not None:
                progress(done, len(auxes))
        sets.append(builder.build())
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
