"""The data a training job trains on: loaded, checked, with label noise applied, and recorded in
``labels.npz``.

The same steps run in the process that plans a job and, on a cluster, once in every worker
process (:mod:`heldout_core.distributed.worker_state`): the result is a function of the
experiment, its options, the data path and the label-noise settings, so every process trains on
the same labels, and :func:`write_labels` (which compares with the ``labels.npz`` already there)
catches a worker whose data path gives other data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import save_npz_atomic
from ..errors import HeldoutError, ParameterError
from ..experiment import Data, Experiment
from ..layout import LABELS_FILE
from ..npz import load_npz
from .label_noise import flip_labels, noise_extras


def check_data(data: Data, experiment: Experiment) -> None:
    """HeldoutError unless ``data`` has at least 2 training examples and integer labels of the
    right shapes."""
    name = experiment.name
    n_train, n_test = int(data.n_train), int(data.n_test)
    if n_train < 2:
        raise HeldoutError(f"experiment '{name}' loaded {n_train} training examples; at least 2 are needed.")
    for attr, n in (("labels_train", n_train), ("labels_test", n_test)):
        labels = np.asarray(getattr(data, attr))
        if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
            raise HeldoutError(f"experiment '{name}': {attr} must be integer labels of shape ({n},), got {labels.dtype} {labels.shape}.")


def with_label_noise(experiment: Experiment, data: Data, fraction: float, seed: int) -> tuple[Data, dict]:
    """The data with ``fraction`` of its training labels flipped, and what labels.npz records of it."""
    if "noisy_idx" in dict(getattr(data, "extras", None) or {}):
        raise ParameterError("label_noise", "{parameter} cannot add noise to labels the experiment has already "
                                            "flipped (its own label_noise option); use one of the two.")
    clean = np.asarray(data.labels_train, dtype=np.int64)
    k = experiment.num_classes or int(max(clean.max(initial=0), np.max(data.labels_test, initial=0))) + 1
    noisy, flipped = flip_labels(clean, fraction, max(k, 2), seed)
    relabelled = experiment.relabel(data, noisy)
    if not np.array_equal(np.asarray(relabelled.labels_train), noisy):
        raise HeldoutError(f"experiment '{experiment.name}': relabel did not give the data the labels it was handed.")
    return relabelled, noise_extras(clean, flipped)


def training_data(experiment: Experiment, data_path: str | Path | None, label_noise: float, noise_seed: int,
                  data: Data | None = None) -> tuple[Data, dict]:
    """Load (unless ``data`` is given) and check the experiment's data, flip ``label_noise`` of
    its training labels (already-checked fraction and seed; 0 for none); returns the data and
    the extra arrays ``labels.npz`` records (the experiment's own ``extras`` and the noise)."""
    if data is None:
        data = experiment.load_data(Path(data_path) if data_path is not None else None)
    check_data(data, experiment)
    recorded = dict(getattr(data, "extras", None) or {})
    if label_noise > 0:
        data, noise = with_label_noise(experiment, data, label_noise, noise_seed)
        recorded.update(noise)
    return data, recorded


def write_labels(data: Data, folder: Path, extras: dict) -> None:
    """Write ``labels.npz`` (the labels and ``extras``) once, exclusively: of two jobs started
    together one writes it; every later job checks that its data and options give the same."""
    arrays = {"labels_train": np.asarray(data.labels_train, dtype=np.int64),
              "labels_test": np.asarray(data.labels_test, dtype=np.int64)}
    for key, value in extras.items():
        arrays[key] = np.asarray(value)
    path = folder / LABELS_FILE
    if not path.exists():
        try:
            save_npz_atomic(path, exclusive=True, **arrays)
            return
        except FileExistsError:
            pass
    old = load_npz(path, str(path))
    differs = [k for k in sorted(set(old) | set(arrays)) if k not in old or k not in arrays or not np.array_equal(old[k], arrays[k])]
    if differs:
        raise HeldoutError(
            f"{path} records different '{differs[0]}' than the data and options of this job; "
            f"train into another output folder, or delete {folder} to start over."
        )
