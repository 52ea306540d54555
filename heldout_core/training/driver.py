"""The run driver: trains the runs of an experiment and writes them in the released layout.

For every subset ratio and run id it writes (see :mod:`heldout_core.layout`)::

    <out>/<experiment>/labels.npz                          labels_train, labels_test (+ extras)
    <out>/<experiment>/<ratio>/<run_id>/checkpoints/ckpt-<epochs>.*
    <out>/<experiment>/<ratio>/<run_id>/run.json           seed, epochs, design, options, versions
    <out>/<experiment>/<ratio>/<run_id>/aux_arrays.npz     exactly the released keys

in that order, each step atomic (:mod:`heldout_core.atomic`): the checkpoint is written into a
hidden temporary folder, made durable and renamed to ``checkpoints``, the files are renamed into
place. So a run is finished exactly when
its ``aux_arrays.npz`` exists; a crash leaves at most a checkpoint without one, and re-running
trains that run again and skips the finished ones. Finished runs whose ``run.json`` disagrees with
the requested settings (seed, epochs, design, options, dataset size) stop the job with an error
rather than mixing runs of different settings in one folder.

No framework is imported here: the experiment trains, evaluates and checkpoints.
"""

from __future__ import annotations

import json
import queue
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, TextIO

import numpy as np

from .. import locks, params
from ..atomic import TEMP_SUFFIX, atomic_write, publish_folder
from ..diagnostics import DEFAULT_FIT_THRESHOLD, FitDiagnostics
from ..aux_arrays import write_aux_arrays
from ..errors import HeldoutError, ParameterError
from ..experiment import Data, Experiment
from ..leftovers import PARTIAL_NAME, TEMP_NAME, find_leftovers, remove_leftovers
from ..layout import (CHECKPOINTS, PARTIAL_CHECKPOINTS_PREFIX, RUN_INFO_FILE, check_settings, claim_settings,
                      is_finished, read_run_info, run_dir, settings_conflict)
from ..progress import Progress
from ..records import Run
from ..version import __version__
from . import subsets as designs
from .data import training_data, write_labels

# More runs than any study has used by far (the papers: 2,000 to 4,000 per ratio); a bound keeps a
# typo such as --runs 10000000000 from scanning for that many run folders.
MAX_RUNS = 1_000_000


@dataclass
class TrainSummary:
    """What :func:`train_runs` did: runs trained and skipped per ratio, and the wall time."""

    experiment: str
    out: Path
    trained: dict[float, int] = field(default_factory=dict)
    skipped: dict[float, int] = field(default_factory=dict)
    seconds: float = 0.0
    trainer: str = "sequential"
    # per run trained by this job: (run id, ratio, accuracy on its subset, held out, on the test set)
    accuracies: list[tuple[int, float, float, float, float]] = field(default_factory=list)

    @property
    def n_trained(self) -> int:
        return sum(self.trained.values())

    def fit(self, threshold: float = DEFAULT_FIT_THRESHOLD) -> FitDiagnostics | None:
        """How well this job's models fit their subsets (None when it trained none)."""
        if not self.accuracies:
            return None
        run_id, ratio, train, heldout, test = (np.array(col) for col in zip(*sorted(self.accuracies)))
        return FitDiagnostics(train, heldout, test, run_id.astype(np.int64), ratio, np.zeros(0), np.zeros(0, np.int64),
                              threshold)


def _check_finished(folder: Path, expected: dict[str, Any]) -> tuple | None:
    """Refuse a finished run trained with other settings; return the versions that made it
    (heldout's and the plugin's), or None without a run.json."""
    info = read_run_info(folder)
    if info is None:  # e.g. released records copied in: nothing to compare
        return None
    key = settings_conflict(info, expected)
    if key is not None:
        raise HeldoutError(f"{folder} was trained with {key}={info[key]!r}, but this job asks for {expected[key]!r}; "
                           f"use the same settings to add runs, or another output folder.")
    return info.get("heldout_version"), info.get("plugin_version")


def _clear_partial(folder: Path) -> None:
    """Remove what a killed job left in a run folder this job now holds: partial checkpoints and
    temporary files of atomic writes (``run.json``, ``aux_arrays.npz``)."""
    if folder.is_dir():
        for stale in folder.glob(PARTIAL_CHECKPOINTS_PREFIX + "*"):
            if PARTIAL_NAME.fullmatch(stale.name):
                shutil.rmtree(stale, ignore_errors=True)
        for stale in folder.glob(f".*{TEMP_SUFFIX}"):
            if TEMP_NAME.fullmatch(stale.name):   # only what this project's atomic writes name so
                stale.unlink(missing_ok=True)


class _RunLocks:
    """Advisory per-run locks (``<run>/.lock``, see :mod:`heldout_core.locks`), so several jobs can
    fill one ``--out`` (one per GPU or cluster node): a run is trained by whichever job locks it
    first, and a job only clears the leftovers of runs it holds."""

    def __init__(self) -> None:
        self._held: dict[Path, int] = {}

    def acquire(self, folder: Path) -> bool:
        folder.mkdir(parents=True, exist_ok=True)
        fd = locks.try_lock(folder / locks.LOCK_FILE)
        if fd is None:
            return False
        self._held[folder] = fd
        return True

    def release(self, folder: Path, *, finished: bool) -> None:
        fd = self._held.pop(folder, None)
        if fd is None:
            return
        if finished:  # nobody trains a finished run again, so its lock file can go
            (folder / locks.LOCK_FILE).unlink(missing_ok=True)
        locks.unlock(fd)

    def release_all(self) -> None:
        for folder in list(self._held):
            self.release(folder, finished=False)


def _as_correctness(values: Any, n: int, what: str, experiment: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise HeldoutError(f"experiment '{experiment}' returned {what} of shape {arr.shape}; expected ({n},).")
    return arr.astype(bool)


@dataclass(frozen=True)
class Job:
    """One unit of work: runs of one subset ratio trained together (one run, or one batch of
    runs with subsets of equal size for experiments that train batches)."""

    ratio: float
    run_ids: tuple[int, ...]


@dataclass(frozen=True)
class JobSettings:
    """What any process needs, besides a :class:`Job`, to train it exactly as the planning
    process would: small and picklable, so a cluster's workers rebuild everything from it (the
    experiment through the plugin registry, the data from ``data_path``) and nothing large is
    shipped.

    Attributes:
        experiment, options: the experiment's name and its option values (``experiment.config``).
        plugin, plugin_version: which plugin supplied it (workers must have the same).
        out: root of the released layout (a shared folder on a cluster).
        data_path, label_noise, noise_seed: where the data is and which labels are flipped.
        seed, design, epochs: as in :func:`train_runs` (``epochs`` None: the experiment's rule).
        batched: train batches with ``train_many`` (else one model at a time).
        base_info: what every ``run.json`` of the job records (the settings checked on reuse).
    """

    experiment: str
    options: dict[str, Any]
    plugin: str | None
    plugin_version: str | None
    out: str
    data_path: str | None
    label_noise: float
    noise_seed: int
    seed: int
    design: str
    epochs: int | None
    batched: bool
    base_info: dict[str, Any]

    @property
    def trainer(self) -> str:
        return "batched" if self.batched else "sequential"


@dataclass(frozen=True)
class JobOutcome:
    """What training one :class:`Job` did: the runs this process trained (the others of the job
    were finished, or held by another job, when it looked) and their accuracies (see
    :attr:`TrainSummary.accuracies`); ``worker`` names the cluster worker that ran it."""

    trained: tuple[int, ...]
    accuracies: tuple[tuple[int, float, float, float, float], ...]
    worker: str | None = None


class JobExecutor(Protocol):
    """Runs the jobs of :func:`train_runs` somewhere else than this thread (a Dask cluster, see
    :mod:`heldout_core.distributed`)."""

    def check(self, experiment: Experiment) -> None:
        """Raise HeldoutError when ``experiment`` cannot run there; called before anything is written."""

    def run(self, settings: JobSettings, jobs: Sequence[Job], done: Callable[[Job, JobOutcome], None]) -> None:
        """Train every job, calling ``done(job, outcome)`` (in this thread) as each finishes."""

    def status(self) -> str:
        """A few words for the progress line (e.g. which workers are busy)."""


class _Writer:
    """Evaluates trained models (a batch at once) and writes each run folder (checkpoint,
    run.json, aux last)."""

    def __init__(self, experiment: Experiment, data: Data, out: Path, base_info: dict[str, Any], epochs: int | None):
        self.experiment, self.data, self.out, self.base_info, self.epochs = experiment, data, out, base_info, epochs

    def evaluate(self, models: list[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(correct_train, correct_test) of each model, from one ``evaluate_many`` call, checked."""
        name = self.experiment.name
        results = list(self.experiment.evaluate_many(models, self.data)) if models else []
        if len(results) != len(models):
            raise HeldoutError(f"experiment '{name}': evaluate_many returned {len(results)} results for {len(models)} models.")
        return [(_as_correctness(train, self.data.n_train, "training correctness", name),
                 _as_correctness(test, self.data.n_test, "test correctness", name)) for train, test in results]

    def finish(self, model: Any, ratio: float, run_id: int, subset_idx: np.ndarray, trainer: str,
               correct: tuple[np.ndarray, np.ndarray]) -> tuple[int, float, float, float, float]:
        """Write the run folder of ``model`` with its correctness from :meth:`evaluate`; returns
        (run id, ratio, accuracy on its subset, on its held-out examples, on the test set)."""
        name = self.experiment.name
        folder = run_dir(self.out, name, ratio, run_id)
        correct_train, correct_test = correct
        # 1. checkpoint, into a hidden folder renamed to checkpoints/ when complete
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{PARTIAL_CHECKPOINTS_PREFIX}{uuid.uuid4().hex}"
        partial.mkdir()
        # trained to fit, each model stops on its own: the epochs it trained name its checkpoint
        done = self.epochs if self.epochs is not None else int(getattr(model, "epochs_trained", 0))
        self.experiment.save_checkpoint(model, partial / f"ckpt-{done}", epoch=done)
        publish_folder(partial, folder / CHECKPOINTS)
        # 2. run.json
        info = dict(self.base_info, subset_ratio=ratio, run_id=int(run_id), trainer=trainer,
                    run_seed=designs.run_seed(self.base_info["seed"], ratio, run_id), epochs_trained=done,
                    finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        with atomic_write(folder / RUN_INFO_FILE, "w") as handle:
            json.dump(info, handle, indent=1, allow_nan=False)
        # 3. aux_arrays.npz, last: its presence marks the run finished
        mask = np.zeros(self.data.n_train, dtype=bool)
        mask[subset_idx] = True
        with np.errstate(invalid="ignore"):
            accuracy = (int(run_id), float(ratio), float(correct_train[mask].mean()),
                        float(correct_train[~mask].mean()) if (~mask).any() else float("nan"),
                        float(correct_test.mean()) if len(correct_test) else float("nan"))
        write_aux_arrays(Run(train_mask=mask, correct_train=correct_train, correct_test=correct_test,
                             subset_ratio=ratio, run_id=int(run_id), seed=int(self.base_info["seed"])), folder)
        return accuracy


class JobRunner:
    """Trains jobs in this process and writes their run folders: the one code path of
    :func:`train_runs`, whether a job runs in the planning process or on a cluster's worker.

    For each run of a job it takes the run's lock (skipping runs another job holds, or that are
    finished by now), checks the folder's settings again under the lock (another job may have
    claimed the folder since the plan was made), clears what a killed job left in the run folder,
    then trains the runs it holds (one batch, or one model at a time), evaluates them in one call
    and writes each run (checkpoint, ``run.json``, ``aux_arrays.npz`` last). Subsets and seeds
    are functions of ``(seed, ratio, run_id)``, so a job trained again anywhere gives the same
    records.
    """

    def __init__(self, experiment: Experiment, data: Data, settings: JobSettings):
        self.experiment, self.data, self.settings = experiment, data, settings
        self.out = Path(settings.out)
        self._writer = _Writer(experiment, data, self.out, settings.base_info, settings.epochs)

    def run(self, job: Job) -> JobOutcome:
        """Train the runs of ``job`` that no other job holds or has finished; see the class docstring."""
        s, experiment, out = self.settings, self.experiment, self.out
        name = experiment.name
        run_locks = _RunLocks()
        owned_ids, owned_subsets = [], []
        try:
            for run_id, idx in zip(job.run_ids, designs.subsets(s.design, self.data.n_train, job.ratio, s.seed,
                                                                 job.run_ids)):
                folder = run_dir(out, name, job.ratio, run_id)
                if not run_locks.acquire(folder):
                    continue  # another job is training this run
                if is_finished(folder):  # another job finished it since we looked
                    run_locks.release(folder, finished=True)
                    continue
                # settings are compared again under the lock: another job may have started since
                claim_settings(out / name, s.base_info)
                _clear_partial(folder)
                owned_ids.append(run_id)
                owned_subsets.append(idx)
            models = self._train(job.ratio, owned_ids, owned_subsets)
            accuracies = []
            for model, run_id, idx, correct in zip(models, owned_ids, owned_subsets, self._writer.evaluate(models)):
                accuracies.append(self._writer.finish(model, job.ratio, run_id, idx, s.trainer, correct))
                run_locks.release(run_dir(out, name, job.ratio, run_id), finished=True)
        finally:
            run_locks.release_all()
        return JobOutcome(tuple(owned_ids), tuple(accuracies))

    def _train(self, ratio: float, run_ids: list[int], subsets: list[np.ndarray]) -> list[Any]:
        s, experiment, data = self.settings, self.experiment, self.data
        seeds = [designs.run_seed(s.seed, ratio, r) for r in run_ids]
        if not run_ids:
            return []
        if s.batched:
            models = experiment.train_many(data, subsets, seeds, epochs=s.epochs)
            if len(models) != len(run_ids):
                raise HeldoutError(f"experiment '{experiment.name}': train_many returned {len(models)} models for "
                                   f"{len(run_ids)} subsets.")
            return list(models)
        models = []
        for idx, seed in zip(subsets, seeds):
            model = experiment.build_model(data, seed)
            experiment.train(model, data, idx, seed=seed, epochs=s.epochs)
            models.append(model)
        return models


def _jobs(experiment: Experiment, data: Data, pending: dict[float, list[int]], design: str, seed: int,
          batched: bool) -> list[Job]:
    jobs = []
    for ratio, run_ids in pending.items():
        chosen = designs.subsets(design, data.n_train, ratio, seed, run_ids)
        # a batch needs subsets of one size; the balanced design's sizes may differ by one
        step = experiment.runs_per_batch if batched else 1
        groups: dict[int, list[int]] = {}
        for position, idx in enumerate(chosen):
            groups.setdefault(len(idx) if batched else position, []).append(position)
        for positions in groups.values():
            for start in range(0, len(positions), step):
                jobs.append(Job(ratio, tuple(run_ids[p] for p in positions[start:start + step])))
    jobs.sort(key=lambda j: (j.ratio, j.run_ids[0]))
    return jobs


def train_runs(
    experiment: Experiment,
    out: str | Path,
    *,
    ratios: Sequence[float],
    runs: int,
    seed: int = 0,
    epochs: int | None = None,
    design: str = "random",
    data_path: str | Path | None = None,
    sequential: bool = False,
    label_noise: float = 0.0,
    noise_seed: int = 0,
    data: Data | None = None,
    stream: TextIO | None = None,
    show_progress: bool = True,
    clock: Callable[[], float] = time.monotonic,
    executor: JobExecutor | None = None,
) -> TrainSummary:
    """Train runs ``0 .. runs-1`` at every ratio that are not finished yet, and write them.

    Args:
        experiment: the experiment instance (options already applied), best built by the
            registry (:meth:`heldout_core.plugins.Registry.create`), which attributes it to its
            plugin for ``run.json``.
        out: root of the released layout.
        ratios: subset ratios, each in (0, 1).
        runs: number of runs per ratio (run ids 0..runs-1; finished ones are skipped).
        seed: base seed; subsets and training seeds derive from (seed, ratio, run_id).
        epochs: train exactly this many epochs. By default, the experiment's own stopping rule
            when it has one (:meth:`~heldout_core.experiment.Experiment.stopping_rule`: the MLP
            experiments train each model until it fits its subset), else its ``default_epochs``.
        design: ``"random"`` or ``"balanced"`` (see :mod:`heldout_core.training.subsets`).
        data_path: passed to ``experiment.load_data``.
        sequential: train one model at a time even when the experiment can batch runs.
        label_noise, noise_seed: flip this fraction of the training labels to another class,
            chosen by ``noise_seed`` (see :mod:`heldout_core.training.label_noise`); the runs
            train on the flipped labels, and ``labels.npz`` records which were flipped.
        data: already loaded data (skips ``load_data``; not with ``executor``, whose workers
            load the data themselves).
        stream, show_progress: where progress lines go (stderr), and whether to print them.
        executor: where the jobs run (default: this process, one thread per device); e.g.
            :class:`heldout_core.distributed.ClusterExecutor` for a Dask cluster. Everything up
            to the plan (checks, ``labels.npz``, the settings of finished runs) happens here.

    Raises:
        HeldoutError: bad ratio, runs, epochs, seed or design (a ParameterError naming it);
            missing requirements or data; finished runs written with other settings.
    """
    ratios = [designs.check_ratio(r) for r in ratios]
    if not ratios:
        raise ParameterError("ratios", "at least one subset ratio ({parameter}) is needed.")
    if len({round(r, 9) for r in ratios}) != len(ratios):
        raise ParameterError("ratios", "each subset ratio ({parameter}) may be given only once.")
    runs = params.integer(runs, "runs", minimum=1, maximum=MAX_RUNS)
    if epochs is not None:
        epochs = params.integer(epochs, "epochs", minimum=1)
    elif experiment.stopping_rule() is None:
        epochs = params.integer(experiment.default_epochs, "epochs", minimum=1)
    # epochs None from here: each model trains by the experiment's own rule (until it fits)
    seed = params.seed(seed)
    design = params.choice(design, "design", designs.DESIGNS)
    if design == "balanced":
        for r in ratios:
            designs.balanced_block_size(r)
    if executor is not None:
        if data is not None:
            raise ParameterError("data", "{parameter} cannot be handed to a cluster: its workers load the data "
                                         "themselves (from data_path).")
        executor.check(experiment)
    experiment.check_requirements()
    started = clock()
    out = Path(out)
    label_noise = params.number(label_noise, "label_noise", low=0.0, high=1.0, open_high=True)
    noise_seed = params.seed(noise_seed, "noise_seed")
    data, recorded = training_data(experiment, data_path, label_noise, noise_seed, data)
    for r in ratios:
        designs.subset_size(data.n_train, r)
    name = experiment.name
    base_info = {
        "format": "heldout-run", "experiment": name, "plugin": getattr(experiment, "plugin", None),
        "plugin_version": getattr(experiment, "plugin_version", None),
        "heldout_version": __version__, "seed": int(seed), "design": design, "epochs": epochs,
        "stopping": None if epochs is not None else experiment.stopping_rule(),
        "n_train": int(data.n_train), "n_test": int(data.n_test), **experiment.describe(),
        "label_noise": {"fraction": label_noise, "seed": noise_seed} if label_noise > 0 else None,
    }
    base_info.setdefault("options", {})
    (out / name).mkdir(parents=True, exist_ok=True)
    check_settings(out / name, base_info)  # before anything is written: a job that cannot add runs writes nothing
    remove_leftovers(find_leftovers(out / name))  # what killed jobs left (never what a running job holds)
    write_labels(data, out / name, recorded)
    batched = experiment.runs_per_batch > 0 and not sequential
    settings = JobSettings(name, dict(experiment.config), base_info["plugin"], base_info["plugin_version"], str(out),
                           None if data_path is None else str(data_path), label_noise, noise_seed, int(seed), design,
                           epochs, batched, base_info)
    summary = TrainSummary(name, out, trainer=settings.trainer)
    pending: dict[float, list[int]] = {}
    this_version = (base_info["heldout_version"], base_info["plugin_version"])
    other_versions: dict[tuple, int] = {}   # finished runs made by another version of heldout or the plugin
    for ratio in ratios:
        todo = []
        for run_id in range(runs):
            folder = run_dir(out, name, ratio, run_id)
            if is_finished(folder):
                made_by = _check_finished(folder, base_info)
                if made_by is not None and made_by != this_version:
                    other_versions[made_by] = other_versions.get(made_by, 0) + 1
            else:
                todo.append(run_id)
        pending[ratio] = todo
        summary.trained[ratio] = 0
        summary.skipped[ratio] = runs - len(todo)
    claim_settings(out / name, base_info)
    jobs = _jobs(experiment, data, {r: ids for r, ids in pending.items() if ids}, design, seed, batched)
    total = sum(len(j.run_ids) for j in jobs)
    skipped = sum(summary.skipped.values())
    stream = sys.stderr if stream is None else stream
    if other_versions and total:
        made = "; ".join(f"{n} by heldout {h}, plugin {p}" for (h, p), n in sorted(other_versions.items(), key=str))
        print(f"heldout: warning: {out / name} holds finished runs made by other versions ({made}) and this job adds "
              f"runs with heldout {this_version[0]}, plugin {this_version[1]}; versions may train differently (see "
              f"each run.json), so check the changes between them before mixing their records.", file=stream)
    if show_progress and skipped:
        print(f"{name}: {skipped} finished runs found in {out / name}, {total} to train.", file=stream)
    progress = None
    if show_progress and total:
        progress = Progress(total, f"{name} ({summary.trainer})", stream=stream, clock=clock,
                            detail=None if executor is None else executor.status)
    lock = threading.Lock()

    def done(job: Job, outcome: JobOutcome) -> None:
        with lock:  # device threads report here concurrently
            summary.trained[job.ratio] += len(outcome.trained)
            summary.accuracies.extend(outcome.accuracies)
            if progress is not None:
                progress.update(len(job.run_ids))

    try:
        if executor is None:
            runner = JobRunner(experiment, data, settings)
            _execute(experiment, jobs, lambda job: done(job, runner.run(job)))
        elif jobs:
            executor.run(settings, jobs, done)
    finally:
        if progress is not None:
            progress.close()
    summary.seconds = clock() - started
    return summary


def _execute(experiment: Experiment, jobs: list[Job], run_job: Callable[[Job], None]) -> None:
    """Run the jobs on the experiment's devices: in this thread for one device, else one worker
    thread per device pulling jobs from a shared queue (one run or batch per device at a time)."""
    devices = list(experiment.devices()) or [""]
    if len(devices) == 1 or len(jobs) <= 1:
        with experiment.device_scope(devices[0]):
            for job in jobs:
                run_job(job)
        return
    work: queue.Queue[Job] = queue.Queue()
    for job in jobs:
        work.put(job)
    errors: list[BaseException] = []

    def worker(device: str) -> None:
        with experiment.device_scope(device):
            while not errors:
                try:
                    job = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    run_job(job)
                except BaseException as exc:  # stop the other workers after their current job
                    errors.append(exc)
                    return

    threads = [threading.Thread(target=worker, args=(d,), name=f"heldout-{d}", daemon=True) for d in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
