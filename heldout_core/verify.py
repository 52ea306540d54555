"""Checking a run's checkpoint against its record: restore, re-evaluate, compare.

:func:`verify_run` rebuilds the model of a released (or our own) run folder with the experiment
that trained it (and the options its ``run.json`` records), restores the checkpoint, evaluates
it on one split, and reports how many predictions agree with the run's ``aux_arrays.npz``,
aligned by example id. The experiment's framework is imported only here, by the experiment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import params
from .aux_arrays import AUX_FILE, read_aux_arrays
from .errors import HeldoutError
from .experiment import Experiment
from .layout import CHECKPOINTS, read_run_info

SPLITS = ("train", "test")


@dataclass(frozen=True)
class VerifyResult:
    """How a restored checkpoint's predictions compare with its run's ``aux_arrays.npz``.

    Attributes:
        checkpoint: the restored checkpoint prefix.
        split: "train" (all training examples: trained-on and held-out) or "test".
        accuracy: fraction of the split the restored model classifies correctly.
        released_accuracy: the same from ``aux_arrays.npz``.
        n_match: examples where both agree on correctness; n: examples in the split.
    """

    checkpoint: Path
    split: str
    accuracy: float
    released_accuracy: float
    n_match: int
    n: int


def experiment_of_run(run_dir: Path, name: str | None = None) -> Experiment:
    """The registered experiment that trained ``run_dir`` (``<experiment>/<ratio>/<run_id>``, or
    ``name``), built with the options its ``run.json`` records when it has one."""
    from .plugins import get_registry

    info = read_run_info(run_dir)
    recorded = info.get("experiment") if isinstance(info, dict) else None
    # run.json names the experiment; the folder layout does when there is none
    name = name or recorded or run_dir.resolve().parent.parent.name
    options = info.get("options", {}) if isinstance(info, dict) else {}
    if recorded not in (None, name):
        raise HeldoutError(f"{run_dir} was trained as experiment '{recorded}', not '{name}'.")
    registry = get_registry()
    registry.get(name)  # an unknown experiment is its own error
    try:
        return registry.create(name, **options)
    except HeldoutError as exc:
        if options:  # the options came from run.json, not from the user: name the file
            raise HeldoutError(f"{run_dir / 'run.json'}: its options do not build the experiment ({exc})") from None
        raise


def find_checkpoint(run_dir: Path) -> Path:
    """The single ``checkpoints/ckpt-<N>`` prefix of a run folder (the release keeps one)."""
    found = sorted((run_dir / CHECKPOINTS).glob("ckpt-*.index"))
    if len(found) != 1:
        raise HeldoutError(f"{run_dir / CHECKPOINTS} holds {len(found)} checkpoints (ckpt-*.index); expected exactly one.")
    return found[0].with_suffix("")


def verify_run(run_dir: str | os.PathLike, data_path: str | os.PathLike | None, *, split: str = "test",
               experiment: str | None = None) -> VerifyResult:
    """Restore the run's checkpoint, evaluate it on ``split`` and compare with its ``aux_arrays.npz``.

    The experiment defaults to the name of the folder two levels up (``<experiment>/<ratio>/<run_id>``).
    """
    run_dir = Path(run_dir)
    split = params.choice(split, "split", SPLITS)
    if not (run_dir / AUX_FILE).is_file():
        raise HeldoutError(f"{run_dir} has no {AUX_FILE}; expected a run folder <experiment>/<ratio>/<run_id>.")
    released = read_aux_arrays(run_dir / AUX_FILE)
    want = released.correct_train if split == "train" else released.correct_test
    if want is None:
        raise HeldoutError(f"{run_dir / AUX_FILE} has no test records to compare with.")
    prefix = find_checkpoint(run_dir)
    exp = experiment_of_run(run_dir, experiment)
    exp.check_requirements()
    data = exp.load_data(Path(data_path) if data_path is not None else None)
    try:
        model = exp.restore_checkpoint(data, prefix)
    except HeldoutError:
        raise
    except Exception as exc:  # frameworks report a mismatch as one of many error types
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise HeldoutError(f"{prefix} does not restore into experiment '{exp.name}''s model "
                           f"({type(exc).__name__}: {first}).") from None
    got = np.asarray(exp.evaluate_split(model, data, split), dtype=bool)
    if len(got) != len(want):
        raise HeldoutError(f"the data has {len(got)} {split} examples but {run_dir / AUX_FILE} has {len(want)}; "
                           f"it is not the data this run was evaluated on.")
    return VerifyResult(prefix, split, float(got.mean()), float(want.mean()), int((got == want).sum()), len(got))
