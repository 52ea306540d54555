"""The released folder layout of run records, and what a finished run folder holds.

::

    <root>/<experiment>/labels.npz                               labels_train, labels_test (+ extras)
    <root>/<experiment>/<subset_ratio>/<run_id>/aux_arrays.npz   the run's record (see aux_arrays)
    <root>/<experiment>/<subset_ratio>/<run_id>/checkpoints/ckpt-<N>.{index,data-*}
    <root>/<experiment>/<subset_ratio>/<run_id>/run.json         how a run trained here was made

Ratio folders are named like ``0.7`` (the shortest exact form of the ratio), run folders by an
integer id (Feldman & Zhang 2020's released archives, ``cifar10-inception`` and friends). A run
is finished exactly when its ``aux_arrays.npz`` exists whole: it is written last, atomically.
``labels.npz`` and ``run.json`` are this project's additions; released records have neither.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .aux_arrays import AUX_FILE, AUX_KEYS, write_aux_arrays
from .errors import HeldoutError
from .npz import npz_keys
from .records import RunSet

RUN_INFO_FILE = "run.json"
LABELS_FILE = "labels.npz"
CHECKPOINTS = "checkpoints"
_RATIO_NAME = re.compile(r"^(0(\.\d+)?|1(\.0+)?|\.\d+)$")
_RUN_NAME = re.compile(r"^\d+$")


def format_ratio(ratio: float) -> str:
    """Folder name of a subset ratio as in the release: ``0.7`` -> ``"0.7"`` (shortest exact form)."""
    return np.format_float_positional(float(ratio), trim="-")


def is_ratio_name(name: str) -> bool:
    """Whether a folder name reads as a subset ratio (``0.7``, ``.5``, ``1``)."""
    return bool(_RATIO_NAME.match(name))


def is_run_name(name: str) -> bool:
    """Whether a folder name reads as a run id (digits only)."""
    return bool(_RUN_NAME.match(name))


def run_dir(root: str | os.PathLike, experiment: str, ratio: float, run_id: int) -> Path:
    """``root/<experiment>/<ratio>/<run_id>``, the released layout of one run."""
    return Path(root) / experiment / format_ratio(ratio) / str(int(run_id))


def is_finished(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a readable ``aux_arrays.npz`` with all released keys.

    Only the archive's directory is read (cheap even for ImageNet-sized records); the file was
    renamed into place whole, so a readable directory means a complete file.
    """
    path = Path(folder) / AUX_FILE
    if not path.is_file():
        return False
    keys = npz_keys(path)
    return keys is not None and set(AUX_KEYS) <= keys


def read_run_info(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The ``run.json`` of a run folder, or None when there is none."""
    path = Path(folder) / RUN_INFO_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise HeldoutError(f"{path} is not valid JSON; delete the run folder to train it again.") from None


def run_folders(ratio_folder: Path) -> list[Path]:
    """The run folders (``<run_id>/``) of a ratio folder, in run-id order."""
    return sorted((p for p in ratio_folder.iterdir() if p.is_dir() and is_run_name(p.name)),
                  key=lambda p: (len(p.name), p.name))


def ratio_folders(path: Path) -> list[Path]:
    """The ratio folders at ``path`` itself, directly under it, or one level further down."""
    found = [path] if is_ratio_name(path.name) else []
    found += [p for p in sorted(path.glob("*")) if p.is_dir() and is_ratio_name(p.name)]
    found += [p for p in sorted(path.glob("*/*")) if p.is_dir() and is_ratio_name(p.name)]
    return found


def find_unfinished_runs(path: str | os.PathLike) -> list[Path]:
    """Run folders (``<ratio>/<run_id>/``) under ``path`` that have no ``aux_arrays.npz``: runs
    still training, crashed, or lost in an incomplete download."""
    root = Path(path).resolve()
    if root.is_file():
        return []
    return sorted(run for folder in ratio_folders(root) for run in run_folders(folder)
                  if not (run / AUX_FILE).is_file())


def write_release_layout(runs: RunSet, root: str | os.PathLike, experiment: str | None = None) -> list[Path]:
    """Write every run of ``runs`` as ``root/<experiment>/<ratio>/<run_id>/aux_arrays.npz``."""
    experiment = experiment or runs.experiment
    if not experiment:
        raise HeldoutError("an experiment name is needed to write the released layout.")
    return [write_aux_arrays(run, run_dir(root, experiment, run.subset_ratio, run.run_id)) for run in runs]
