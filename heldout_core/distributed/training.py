"""Training on a Dask cluster: every job of :func:`heldout_core.training.train_runs` (one run, or
one batch of runs) is one task.

The client plans as a local job does (checks, ``labels.npz``, the settings of finished runs,
the folder's ``settings.json``), then submits one task per job carrying only the small
:class:`~heldout_core.training.driver.JobSettings` and the job's ratio and run ids. A worker
trains it with the same :class:`~heldout_core.training.driver.JobRunner` a local job uses, on
the experiment and data it loaded once (:mod:`.worker_state`), and writes the run folders to the
shared ``out``; the task returns the runs it trained and their accuracies.

- Idempotent: a task whose runs are finished returns at once; a task retried after its worker
  died trains its runs again from scratch (the run locks died with the worker, and what it left
  half-written is cleared), and the records are identical: subsets and seeds derive from
  ``(seed, ratio, run_id)``.
- Failures: the scheduler retries a task whose worker died (``distributed.scheduler.
  allowed-failures``, 3 by default) and one that raised (:data:`RETRIES` more times); a user
  error (:class:`~heldout_core.errors.HeldoutError`, e.g. a worker without the data) is not
  retried. The other jobs still finish; at the end one line names the runs that failed and why.
- Ctrl-C (or any error in the client) cancels the tasks not yet done; finished runs stay, and
  whatever a killed task left is never counted as finished (``aux_arrays.npz`` is written last).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence

from ..errors import HeldoutError
from ..experiment import Experiment
from ..training import driver
from ..training.driver import Job, JobOutcome, JobSettings
from . import worker_state

RETRIES = 2  # more tries of a task that raised (a full disk for a moment, a flaky file system)
SHOWN_WORKERS = 4  # busy workers named on the progress line


@dataclass(frozen=True)
class _UserError:
    """A HeldoutError on a worker, returned rather than raised so that Dask does not retry it."""

    message: str


def train_job(settings: JobSettings, job: Job) -> JobOutcome | _UserError:
    """The task: train ``job`` on this worker (see the module docstring)."""
    from distributed import get_worker

    try:
        runner = worker_state.runner(settings)
        with worker_state.device(runner.experiment) as device, runner.experiment.device_scope(device):
            outcome = runner.run(job)
    except HeldoutError as exc:
        return _UserError(str(exc))
    return dataclasses.replace(outcome, worker=str(get_worker().name))


class ClusterExecutor:
    """Runs the jobs of :func:`heldout_core.training.train_runs` as tasks on a Dask ``client``.

    Args:
        client: a ``distributed.Client``.
        resources: what each task asks of a worker, e.g. ``{"GPU": 1}`` (None: nothing; see
            :mod:`.clusters`).
        retries: more tries of a task that raised.
    """

    def __init__(self, client, *, resources: dict[str, float] | None = None, retries: int = RETRIES):
        self.client, self.resources, self.retries = client, resources, retries
        self._keys: set[str] = set()

    def check(self, experiment: Experiment) -> None:
        if getattr(experiment, "plugin", None) is None:
            raise HeldoutError(f"experiment '{experiment.name}' was not built by the plugin registry, so workers cannot "
                               f"build it; use heldout_core.plugins.get_registry().create('{experiment.name}', ...).")

    def run(self, settings: JobSettings, jobs: Sequence[Job], done: Callable[[Job, JobOutcome], None]) -> None:
        from distributed import as_completed

        token = uuid.uuid4().hex[:8]
        futures = {}
        for job in jobs:
            key = f"heldout-train-{token}-{job.ratio:g}-{job.run_ids[0]}"
            futures[self.client.submit(train_job, settings, job, key=key, pure=False, retries=self.retries,
                                       resources=self.resources)] = job
        self._keys = {f.key for f in futures}
        failed: list[tuple[Job, str]] = []
        try:
            for future in as_completed(futures):
                job = futures[future]
                if future.status != "finished":
                    exc = future.exception()
                    failed.append((job, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
                    continue
                outcome = future.result()
                if isinstance(outcome, _UserError):
                    failed.append((job, outcome.message))
                    continue
                done(job, outcome)
        except BaseException:  # Ctrl-C, or an error here: nothing more is started
            self.client.cancel(list(futures), force=True)
            raise
        finally:
            self._keys = set()
        if failed:
            raise HeldoutError(_failure_line(failed, sum(len(job.run_ids) for job in jobs)))

    def status(self) -> str:
        """``busy workers 2 of 3 (0, 2)``: the workers running a task of this job now."""
        try:
            processing = self.client.processing()
            workers = self.client.scheduler_info()["workers"]
        except Exception:  # a progress line must never stop the job
            return "workers unknown"
        busy = sorted((str(workers[a].get("name", a)) if a in workers else a for a, keys in processing.items()
                       if self._keys.intersection(keys)), key=lambda name: (len(name), name))
        shown = ", ".join(str(b) for b in busy[:SHOWN_WORKERS]) + (f", {len(busy) - SHOWN_WORKERS} more"
                                                                  if len(busy) > SHOWN_WORKERS else "")
        return f"busy workers {len(busy)} of {len(workers)}" + (f" ({shown})" if busy else "")


def _failure_line(failed: list[tuple[Job, str]], n_runs: int) -> str:
    """One line: which runs failed (ratio/run id), the first error, and what to do."""
    runs = sorted((job.ratio, r) for job, _ in failed for r in job.run_ids)
    named = ", ".join(f"{ratio:g}/{r}" for ratio, r in runs[:6]) + (", ..." if len(runs) > 6 else "")
    return (f"{len(runs)} of {n_runs} runs failed ({named}): {failed[0][1]}; the other runs are finished, and running "
            f"the same command again trains the failed ones (the workers' logs have the tracebacks).")


def train_runs(experiment: Experiment, out, *, client, resources: dict[str, float] | None = None, **options):
    """:func:`heldout_core.training.train_runs` with every job a task on the Dask ``client``
    (``options`` as there); build ``experiment`` with the plugin registry, and put ``out`` and
    the data on a file system every worker shares."""
    return driver.train_runs(experiment, out, executor=ClusterExecutor(client, resources=resources), **options)
