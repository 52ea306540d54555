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

from . import params, schema
from .atomic import atomic_write
from .aux_arrays import AUX_FILE, AUX_KEYS, write_aux_arrays
from .errors import HeldoutError
from .npz import npz_keys
from .records import RunSet

RUN_INFO_FILE = "run.json"
LABELS_FILE = "labels.npz"
SETTINGS_FILE = "settings.json"
# the settings every run of an experiment folder must share (the rest of run.json may differ)
MATCHED_SETTINGS = ("seed", "design", "epochs", "options", "n_train", "n_test", "label_noise")
CHECKPOINTS = "checkpoints"
# a checkpoint being written goes to <run>/.checkpoints-partial-<random>/, renamed when complete
PARTIAL_CHECKPOINTS_PREFIX = ".checkpoints-partial-"
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


RUN_INFO_MAX_BYTES = 1 << 20


def _read_small_json(path: Path, kind: str) -> dict:
    """A small JSON object file of this project (``run.json``, ``settings.json``), checked for size
    and shape; HeldoutError naming the file otherwise."""
    what = str(path)
    try:
        if path.stat().st_size > RUN_INFO_MAX_BYTES:
            raise HeldoutError(f"{what} is larger than {RUN_INFO_MAX_BYTES} bytes; it is not a {kind} of this project.")
        return schema.require_object(schema.parse_json(path.read_text(), what), what)
    except (OSError, UnicodeDecodeError) as exc:
        raise HeldoutError(f"{what} cannot be read ({exc}).") from None


def read_run_info(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The ``run.json`` of a run folder, its fields checked (a typed schema), or None when there
    is none. Fields this version does not know are kept unchecked."""
    path = Path(folder) / RUN_INFO_FILE
    if not path.is_file():
        return None
    try:
        info = _read_small_json(path, "run.json")
        _check_run_info(info, str(path))
    except HeldoutError as exc:
        raise HeldoutError(f"{exc} Delete the run folder to train it again.") from None
    return info


def _check_run_info(info: dict, what: str) -> None:
    """Each field a run.json may hold, when present, of the type and range this project writes."""
    checks = {
        "format": lambda v, f: schema.string(v, f, what),
        "experiment": lambda v, f: schema.string(v, f, what),
        "plugin": lambda v, f: schema.string(v, f, what, optional=True),
        "plugin_version": lambda v, f: schema.string(v, f, what, optional=True),
        "heldout_version": lambda v, f: schema.string(v, f, what, optional=True),
        "seed": lambda v, f: schema.integer(v, f, what, minimum=0),
        "design": lambda v, f: schema.string(v, f, what, choices=params.SUBSET_DESIGNS),
        "epochs": lambda v, f: v is None or schema.integer(v, f, what, minimum=1),
        "epochs_trained": lambda v, f: schema.integer(v, f, what, minimum=0),
        "label_noise": lambda v, f: v is None or schema.plain_mapping(v, f, what),
        "n_train": lambda v, f: schema.integer(v, f, what, minimum=1),
        "n_test": lambda v, f: schema.integer(v, f, what, minimum=0),
        "options": lambda v, f: schema.plain_mapping(v, f, what),
        "execution": lambda v, f: schema.plain_mapping(v, f, what),
        "subset_ratio": lambda v, f: schema.number(v, f, what, low=0.0, high=1.0, open_low=True),
        "run_id": lambda v, f: schema.integer(v, f, what, minimum=0),
        "run_seed": lambda v, f: schema.integer(v, f, what, minimum=0),
        "trainer": lambda v, f: schema.string(v, f, what),
        "finished_at": lambda v, f: schema.string(v, f, what),
    }
    for field, check in checks.items():
        if field in info:
            check(info[field], field)


def read_settings(experiment_folder: str | os.PathLike) -> dict[str, Any] | None:
    """The settings recorded in ``<experiment>/settings.json`` (see :func:`claim_settings`), or None."""
    path = Path(experiment_folder) / SETTINGS_FILE
    if not path.is_file():
        if os.path.lexists(path):
            raise HeldoutError(f"{path} exists but is not a file (a folder, or a link to nothing); move it away so that "
                               f"{SETTINGS_FILE} can record this folder's settings.")
        return None
    what = str(path)
    data = _read_small_json(path, "settings file")
    settings = schema.require_object(schema.get(data, "settings", what), f"{what}: 'settings'")
    _check_run_info(settings, what)
    return settings


def settings_conflict(recorded: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """The first setting on which two runs' settings disagree, as ``key=recorded``, or None."""
    for key in MATCHED_SETTINGS:
        if key in recorded and key in wanted and recorded[key] != wanted[key]:
            return key
    return None


def check_settings(experiment_folder: str | os.PathLike, settings: dict[str, Any]) -> bool:
    """Compare ``settings`` with those recorded in the folder: HeldoutError naming the first that
    differs (or a ``settings.json`` that is not a readable file); False when none are recorded."""
    folder = Path(experiment_folder)
    recorded = read_settings(folder)
    if recorded is None:
        return False
    wanted = {key: settings[key] for key in MATCHED_SETTINGS}
    key = settings_conflict(recorded, wanted)
    if key is not None:
        was, now = recorded[key], wanted[key]
        if isinstance(was, dict) and isinstance(now, dict):  # name just the entries that differ
            keys = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
            was = ", ".join(f"{k}={was.get(k)!r}" for k in keys)
            now = ", ".join(f"{k}={now.get(k)!r}" for k in keys)
            what, same = ("the options", "pass the same -o options") if key == "options" else (key, "use the same settings")
            raise HeldoutError(f"{folder} holds runs trained with {what} {was} (see {SETTINGS_FILE}), but this "
                               f"job asks for {now}; {same} to add runs, or use another output folder.")
        raise HeldoutError(f"{folder} holds runs trained with {key}={was!r} (see {SETTINGS_FILE}), but this "
                           f"job asks for {now!r}; use the same settings to add runs, or another output folder.")
    return True


def claim_settings(experiment_folder: str | os.PathLike, settings: dict[str, Any]) -> None:
    """Record ``settings`` as the folder's (the first job to start writes ``settings.json``,
    exclusively, so of two jobs started together one writes and the other compares), or check
    them against those already recorded (:func:`check_settings`)."""
    folder = Path(experiment_folder)
    if check_settings(folder, settings):
        return
    wanted = {key: settings[key] for key in MATCHED_SETTINGS}
    try:
        with atomic_write(folder / SETTINGS_FILE, "w", exclusive=True) as handle:
            json.dump({"format": "heldout-settings", "settings": wanted}, handle, indent=1, allow_nan=False)
    except FileExistsError:  # another job recorded its settings first
        if not check_settings(folder, settings):
            raise HeldoutError(f"{folder / SETTINGS_FILE} could not be written or read.") from None


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
