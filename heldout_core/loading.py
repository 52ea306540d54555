"""Finding and loading run records: :func:`load_runs` reads any of the shapes records come in.

Accepted paths (see :func:`find_record_files`): a single ``aux_arrays.npz`` or compact store
(``*.runs.npz``), a run folder, a ratio folder, an experiment folder of the released layout, a
folder holding several experiments, or a folder of compact stores. Records are bit-packed as
they are read (:class:`~heldout_core.records.RunSetBuilder`), never held unpacked all at once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .aux_arrays import AUX_FILE, read_aux_arrays
from .errors import HeldoutError, ParameterError
from .layout import LABELS_FILE, is_ratio_name, is_run_name
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


_NUMERIC = re.compile(r"^\d*\.?\d+$")


def _store(path: Path) -> RecordFile:
    return RecordFile(path, "store", None, float("nan"), None)


class _Finder:
    """Walks a path for record files; each problem is raised, or collected when ``problems`` is
    a list (``heldout info`` reports them all)."""

    def __init__(self, problems: list[str] | None):
        self.problems = problems

    def problem(self, message: str) -> None:
        if self.problems is None:
            raise HeldoutError(message)
        self.problems.append(message)

    def folders(self, folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError as exc:
            self.problem(f"{folder} cannot be read ({exc.strerror or exc}).")
            return []

    def stores(self, folder: Path) -> list[RecordFile]:
        try:
            return [_store(p) for p in sorted(folder.glob(f"*{STORE_SUFFIX}"))]
        except OSError as exc:
            self.problem(f"{folder} cannot be read ({exc.strerror or exc}).")
            return []

    def ratio_folder(self, folder: Path, experiment: str | None) -> list[RecordFile]:
        """The runs of a ratio folder (or of a folder of run folders not named by a ratio)."""
        ratio = float(folder.name) if is_ratio_name(folder.name) else float("nan")
        found, seen = [], {}
        for run in sorted((p for p in self.folders(folder) if is_run_name(p.name)), key=lambda p: (len(p.name), p.name)):
            run_id = int(run.name)
            if run_id in seen:
                self.problem(f"{folder}: run folders '{seen[run_id]}' and '{run.name}' both name run {run_id}.")
                continue
            seen[run_id] = run.name
            if (run / AUX_FILE).is_file():
                found.append(RecordFile(run / AUX_FILE, "aux", experiment, ratio, run_id))
        return found

    def holds_runs(self, folder: Path) -> bool:
        """Whether ``folder`` has run folders in it (so it is a ratio folder, whatever its name)."""
        try:
            return any(p.is_dir() and is_run_name(p.name) for p in folder.iterdir())
        except OSError:
            return False

    def experiment_folder(self, folder: Path, children: list[Path]) -> list[RecordFile]:
        """The runs of every ratio folder among ``children`` of an experiment folder.

        A child named with a decimal point, or holding run folders, is a ratio folder; a child
        named by digits alone and holding none is a run folder (``0``, ``1``, ...).
        """
        found, seen = [], {}
        for child in children:
            if not _NUMERIC.match(child.name) or ("." not in child.name and not self.holds_runs(child)):
                continue
            ratio = float(child.name) if is_ratio_name(child.name) else float("nan")
            if not 0.0 < ratio <= 1.0:
                self.problem(f"{child} is named like a ratio folder, but {child.name} is not a subset ratio in (0, 1]; "
                             f"rename or move it.")
                continue
            if ratio in seen:
                self.problem(f"{folder}: ratio folders '{seen[ratio]}' and '{child.name}' both name subset ratio {ratio:g}.")
                continue
            seen[ratio] = child.name
            found += self.ratio_folder(child, folder.name)
        return found


def find_record_files(path: str | os.PathLike, *, problems: list[str] | None = None) -> list[RecordFile]:
    """All run-record files under ``path``, which may be:

    a single ``aux_arrays.npz`` or ``*.runs.npz``; a run folder; a ratio folder
    (``<ratio>/<run_id>/aux_arrays.npz``); an experiment folder (``<experiment>/<ratio>/...``);
    a folder of experiment folders; or a folder of compact stores (``*.runs.npz``).

    Folders named like ratios that are none (``1.5``), two folders for one ratio (``0.7`` and
    ``0.70``) or one run (``1`` and ``01``), and unreadable folders are problems: raised as
    HeldoutError, or appended to ``problems`` when a list is given.
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
    finder = _Finder(problems)
    found = finder.stores(path)
    found += finder.ratio_folder(path, path.parent.name if is_ratio_name(path.name) else None)
    children = finder.folders(path)
    if not is_ratio_name(path.name):  # path may be an experiment folder
        found += finder.experiment_folder(path, children)
    for child in children:
        if not is_ratio_name(child.name) and not _NUMERIC.match(child.name):  # experiment folders or stores
            found += finder.stores(child)
            found += finder.experiment_folder(child, finder.folders(child))
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
        raise ParameterError("experiment", f"{path} holds several experiments ({', '.join(sorted(names))}); "
                                           "choose one with {parameter}.", spelled="experiment=...")
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


def find_labels_file(path: Path, experiment: str | None) -> Path | None:
    """The ``labels.npz`` that ``heldout train`` writes into the experiment folder, if there is
    one: the experiment folder is ``path`` itself, the folder above its ratio and run folders,
    or ``path/<experiment>`` when ``path`` holds experiment folders."""
    path = Path(path).resolve()
    folder = path if path.is_dir() else path.parent
    while (is_ratio_name(folder.name) or is_run_name(folder.name)) and folder.parent != folder:
        folder = folder.parent
    candidates = [folder / LABELS_FILE] + ([folder / experiment / LABELS_FILE] if experiment else [])
    return next((c for c in candidates if c.is_file()), None)


def load_labels(path: str | os.PathLike) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Class labels from an ``.npz``: ``tr_labels``/``tt_labels`` (as in the released statistics),
    ``labels_train``/``labels_test``, ``y_train``/``y_test``, or ``labels`` (training set only)."""
    arrays = load_npz(path, str(path))
    for train_key, test_key in (("tr_labels", "tt_labels"), ("labels_train", "labels_test"), ("y_train", "y_test"),
                                ("labels", None)):
        if train_key in arrays:
            return arrays[train_key], (arrays.get(test_key) if test_key else None)
    raise HeldoutError(f"{path} has no labels: expected keys tr_labels/tt_labels, labels_train/labels_test, y_train/y_test or labels.")
