"""What a worker process keeps between tasks: the experiment and its data, the records being
estimated from, the devices free for training, and the lock of the Numba kernels.

A worker runs many tasks of one job, so loading the data for each would cost more than many
small runs take to train; it is loaded once per process (the first task), keyed by everything it
depends on, and the latest key only is kept (a worker moving on to another experiment frees the
old data). Nothing here is shipped through the scheduler: every task carries only the small
settings it is keyed by.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import HeldoutError
from ..experiment import Experiment
from ..loading import load_runs
from ..records import RunSet
from ..training.data import training_data, write_labels
from ..training.driver import JobRunner, JobSettings

_lock = threading.Lock()
_training: dict[str, tuple] = {}  # key -> (experiment, data, what labels.npz records); one entry
_labels_checked: set[tuple[str, str]] = set()
_records: dict[tuple, RunSet] = {}  # one entry
_devices: dict[tuple[str, ...], queue.Queue] = {}
# Numba's default threading layer aborts the process when two threads launch parallel kernels at
# once; a block task holds this lock while it computes (the kernels use every core anyway).
kernel_lock = threading.Lock()


def _data_key(settings: JobSettings) -> str:
    return json.dumps([settings.experiment, settings.options, settings.plugin, settings.plugin_version,
                       settings.data_path, settings.label_noise, settings.noise_seed], sort_keys=True, default=str)


def _build(settings: JobSettings) -> tuple[Experiment, Any, dict]:
    from ..plugins import get_registry

    experiment = get_registry().create(settings.experiment, **settings.options)
    here = (experiment.plugin, experiment.plugin_version)
    if here != (settings.plugin, settings.plugin_version):
        raise HeldoutError(f"this worker has experiment '{settings.experiment}' from plugin {here[0]!r} version "
                           f"{here[1]!r}, the client from {settings.plugin!r} version {settings.plugin_version!r}; "
                           f"install the same version on every worker.")
    experiment.check_requirements()
    return (experiment, *training_data(experiment, settings.data_path, settings.label_noise, settings.noise_seed))


def runner(settings: JobSettings) -> JobRunner:
    """A :class:`JobRunner` for ``settings``, on the experiment and data this process loaded for
    them (loaded now if they are new). The data is checked against the job's ``labels.npz``
    once per output folder, so a worker whose data path gives other data trains nothing."""
    key = _data_key(settings)
    with _lock:  # two threads of one worker (two GPUs) must not load the data twice
        if key not in _training:
            _training.clear()
            _training[key] = _build(settings)
        experiment, data, recorded = _training[key]
        folder = Path(settings.out) / settings.experiment
        if (key, str(folder)) not in _labels_checked:
            try:  # labels.npz is there (the client wrote it): this compares
                write_labels(data, folder, recorded)
            except HeldoutError as exc:
                raise HeldoutError(f"on this worker the data of '{experiment.name}' differs from the client's: "
                                   f"{exc}") from None
            _labels_checked.add((key, str(folder)))
    return JobRunner(experiment, data, settings)


@contextlib.contextmanager
def device(experiment: Experiment) -> Iterator[str]:
    """A device of ``experiment`` that no other task of this process is using, for the block:
    one task per device at a time, as the single-process driver does (with Dask resources
    ``GPU=1`` the scheduler already sends no more; this holds for workers without them too)."""
    devices = tuple(experiment.devices()) or ("",)
    with _lock:
        free = _devices.get(devices)
        if free is None:
            free = _devices[devices] = queue.Queue()
            for d in devices:
                free.put(d)
    chosen = free.get()
    try:
        yield chosen
    finally:
        free.put(chosen)


def fingerprint(runs: RunSet) -> str:
    """A digest of what influence depends on (shapes, run ids and ratios, training masks, test
    correctness): a worker that loads other records than the client stops with an error."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.array([runs.n_runs, runs.n_train, runs.n_test], dtype=np.int64).tobytes())
    for array in (runs.run_id, runs.subset_ratio, runs.train_mask_bits, runs.correct_test_bits):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def records(path: str, experiment: str | None, ratio: float | None, expected: str) -> RunSet:
    """The runs at ``path`` (one experiment, one ratio) as this process loaded them, checked
    against the client's :func:`fingerprint`."""
    key = (path, experiment, ratio, expected)
    with _lock:
        if key not in _records:
            _records.clear()
            runs = load_runs(path, experiment=experiment, ratio=ratio)
            if fingerprint(runs) != expected:
                raise HeldoutError(f"{path} holds other records on this worker than on the client (a different "
                                   f"file system, or records added since); estimate from records that do not change.")
            _records[key] = runs
        return _records[key]
