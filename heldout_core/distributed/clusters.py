"""Where the work runs: the Dask clusters behind the command line's cluster flags.

- ``local:N`` (:class:`distributed.LocalCluster`): N worker processes on this machine, one
  thread each (a training task uses the cores through its framework, an estimation block
  through Numba, whose threads are split between the processes);
- a scheduler address (``tcp://host:8786``) or a scheduler file: an existing cluster, started
  with ``dask scheduler`` and ``dask worker`` (or by an administrator);
- ``slurm``, ``pbs``, ``sge``, ``lsf`` (dask-jobqueue): ``jobs`` batch jobs of one worker process
  each, with the resources asked for (cores, memory, GPUs, walltime, queue, account), or
  dask-jobqueue's own configuration (``~/.config/dask/jobqueue.yaml``) for what is not given.

GPUs: a worker of ``gpus`` GPUs declares the Dask resource ``GPU=gpus`` and training tasks ask
for ``GPU=1`` each, so a worker runs one task per GPU at a time; the worker picks a free device
for each (:func:`heldout_core.distributed.worker_state.device`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from typing import Iterator

from ..errors import HeldoutError
from .extra import require

BATCH_SYSTEMS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
# the batch system's name for the account a job is charged to
_ACCOUNT_KEYWORD = {"slurm": "account", "pbs": "account", "sge": "project", "lsf": "project"}
# directives that ask the batch system itself for GPUs (elsewhere: dask-jobqueue's job_extra_directives)
_GPU_DIRECTIVE = {"slurm": "--gres=gpu:{gpus}", "lsf": '-gpu "num={gpus}"'}
_LOCAL = re.compile(r"^local:(\d+)$")
GPU = "GPU"  # the Dask worker resource that counts a worker's GPUs


@dataclass(frozen=True)
class ClusterRequest:
    """What the cluster flags ask for (see the module docstring); exactly one of ``cluster``,
    ``scheduler`` and ``scheduler_file``.

    Attributes:
        cluster: ``"local:N"`` or a batch system (``slurm``, ``pbs``, ``sge``, ``lsf``).
        scheduler, scheduler_file: an existing cluster's address, or its scheduler file.
        jobs: batch jobs (one worker process each) to submit.
        cores, memory, gpus, walltime, queue, account: per batch job (``gpus`` also per local
            worker); None leaves it to dask-jobqueue's configuration.
    """

    cluster: str | None = None
    scheduler: str | None = None
    scheduler_file: str | None = None
    jobs: int = 1
    cores: int | None = None
    memory: str | None = None
    gpus: int | None = None
    walltime: str | None = None
    queue: str | None = None
    account: str | None = None

    @property
    def batch_system(self) -> str | None:
        return self.cluster if self.cluster in BATCH_SYSTEMS else None

    @property
    def local_workers(self) -> int | None:
        match = _LOCAL.match(self.cluster or "")
        return int(match.group(1)) if match else None

    def check(self) -> "ClusterRequest":
        """Self, or HeldoutError naming the flag that is wrong or does not apply."""
        given = [flag for flag, value in (("--cluster", self.cluster), ("--scheduler", self.scheduler),
                                          ("--scheduler-file", self.scheduler_file)) if value]
        if not given:
            raise HeldoutError("the cluster flags (--print-job-script, --jobs, --cores, ...) need one of --cluster, "
                               "--scheduler and --scheduler-file.")
        if len(given) > 1:
            raise HeldoutError(f"give one of --cluster, --scheduler and --scheduler-file, not {' and '.join(given)}.")
        if self.cluster and self.batch_system is None and self.local_workers is None:
            raise HeldoutError(f"--cluster must be local:N (N worker processes here) or one of "
                               f"{', '.join(BATCH_SYSTEMS)}, got {self.cluster!r}.")
        if self.local_workers is not None and self.local_workers < 1:
            raise HeldoutError("--cluster local:N needs at least one worker process (N >= 1).")
        for flag, value in (("--jobs", self.jobs), ("--cores", self.cores), ("--gpus", self.gpus)):
            if value is not None and value < 1:
                raise HeldoutError(f"{flag} must be at least 1, got {value}.")
        batch_only = [flag for flag, value in (("--jobs", self.jobs != 1), ("--cores", self.cores),
                                               ("--memory", self.memory), ("--walltime", self.walltime),
                                               ("--queue", self.queue), ("--account", self.account)) if value]
        if batch_only and self.batch_system is None:
            raise HeldoutError(f"{batch_only[0]} sets a batch job's resources; it applies to --cluster "
                               f"{'|'.join(BATCH_SYSTEMS)} only.")
        if self.gpus is not None and not self.cluster:
            raise HeldoutError("--gpus applies to the workers this command starts (--cluster); workers of an existing "
                               "cluster declare their GPUs themselves (dask worker ... --resources GPU=2).")
        if self.gpus is not None and (self.local_workers or 0) > 1:
            raise HeldoutError("--gpus with --cluster local:N needs N = 1: worker processes of one machine would share "
                               "its GPUs (without --cluster, heldout already trains on every GPU it sees).")
        return self


@dataclass
class Cluster:
    """An open cluster: the client, what a training task asks of a worker, and how many
    workers are expected (to size blocks before batch jobs have started)."""

    client: object
    description: str
    task_resources: dict[str, float] | None
    expected_workers: int

    def workers(self) -> int:
        """Workers connected now, or the number expected when none has connected yet."""
        return len(self.client.scheduler_info()["workers"]) or self.expected_workers


@contextlib.contextmanager
def open_cluster(request: ClusterRequest) -> Iterator[Cluster]:
    """Start (or connect to) the cluster of ``request`` and yield it; everything this started
    (worker processes, batch jobs) is stopped when the block ends, however it ends."""
    from distributed import Client

    request = request.check()
    with contextlib.ExitStack() as stack:
        if request.scheduler or request.scheduler_file:
            client = stack.enter_context(_connect(request))
            info = client.scheduler_info()["workers"].values()
            # an existing cluster's workers say whether they have GPUs; tasks ask for one only then
            gpus = any(w.get("resources", {}).get(GPU) for w in info)
            yield Cluster(client, f"scheduler {client.scheduler.address} ({len(info)} workers now)",
                          {GPU: 1} if gpus else None, 1)
            return
        cluster = stack.enter_context(_local(request) if request.local_workers else _batch_jobs(request))
        client = stack.enter_context(Client(cluster))
        if request.batch_system:
            cluster.scale(jobs=request.jobs)
            what = f"{request.jobs} {request.batch_system} job(s) submitted, workers join as they start"
        else:
            what = f"{request.local_workers} local worker process(es)"
        yield Cluster(client, what, {GPU: 1} if request.gpus else None, request.local_workers or request.jobs)


def job_script(request: ClusterRequest) -> str:
    """The batch script dask-jobqueue would submit for ``request`` (``--print-job-script``);
    nothing is submitted, and no batch system is needed."""
    request = request.check()
    if request.batch_system is None:
        raise HeldoutError(f"--print-job-script prints a batch job's script; it needs --cluster {'|'.join(BATCH_SYSTEMS)}.")
    with _batch_jobs(request) as cluster:
        return cluster.job_script()


@contextlib.contextmanager
def _connect(request: ClusterRequest):
    from distributed import Client

    where = f"--scheduler {request.scheduler}" if request.scheduler else f"--scheduler-file {request.scheduler_file}"
    if request.scheduler_file and not os.path.isfile(request.scheduler_file):
        raise HeldoutError(f"{where}: no such file (dask scheduler --scheduler-file writes it).")
    try:
        client = Client(request.scheduler, scheduler_file=request.scheduler_file, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise HeldoutError(f"{where}: cannot connect to the scheduler ({exc}).") from None
    except (ValueError, TypeError, KeyError, AssertionError) as exc:  # a malformed address or scheduler file
        why = str(exc) or type(exc).__name__
        raise HeldoutError(f"{where} is not a scheduler address this can connect to ({why}); an address looks like "
                           "tcp://host:8786, a scheduler file is what dask scheduler --scheduler-file writes.") from None
    with client:
        yield client


def _local(request: ClusterRequest):
    from distributed import LocalCluster

    n = request.local_workers
    gpus = request.gpus or 0
    # Numba's threads (estimation) are shared out between the processes; training frameworks keep
    # their own defaults, so that a run trains exactly as it would in a single process.
    numba_threads = max(1, (os.cpu_count() or 1) // n)
    # Only critical log lines from the workers: a task's failure reaches this process as its
    # exception (and is reported in one line), while a worker's heartbeat that meets a scheduler
    # already closing (Ctrl-C, the end of a job) would print an ERROR with a traceback.
    with _sigint_ignored():
        return LocalCluster(n_workers=n, threads_per_worker=max(1, gpus), processes=True, dashboard_address=None,
                            silence_logs=logging.CRITICAL, resources={GPU: gpus} if gpus else None,
                            env={"NUMBA_NUM_THREADS": str(numba_threads)})


@contextlib.contextmanager
def _sigint_ignored():
    """Start processes that ignore SIGINT (Python keeps an inherited SIG_IGN, and so do the
    workers a nanny restarts): Ctrl-C in a terminal reaches the whole process group, and only
    this process should handle it, by cancelling the tasks and stopping the workers."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _batch_jobs(request: ClusterRequest):
    require("dask_jobqueue")
    import dask_jobqueue

    system = request.batch_system
    if system == "sge":
        import dask

        # Grid Engine asks for cores through a parallel environment and for memory through
        # resources whose names each site chooses; a job script without them would start a
        # worker told it has resources the job never asked for
        if not dask.config.get("jobqueue.sge.resource-spec", None) and \
                not dask.config.get("jobqueue.sge.job-extra-directives", None):
            raise HeldoutError("--cluster sge: Grid Engine requests cores through a site's parallel environment and "
                               "memory through its own resource names, so heldout cannot write them from --cores and "
                               "--memory; set jobqueue.sge.resource-spec (e.g. 'h_vmem=8G') and "
                               "job-extra-directives (e.g. ['-pe smp 4']) in ~/.config/dask/jobqueue.yaml.")
    kwargs: dict = {"processes": 1}
    for key, value in (("cores", request.cores), ("memory", request.memory), ("walltime", request.walltime),
                       ("queue", request.queue), (_ACCOUNT_KEYWORD[system], request.account)):
        if value is not None:
            kwargs[key] = value
    if request.gpus:
        kwargs["worker_extra_args"] = ["--resources", f"{GPU}={request.gpus}"]
        if system in _GPU_DIRECTIVE:
            kwargs["job_extra_directives"] = [_GPU_DIRECTIVE[system].format(gpus=request.gpus)]
    try:
        return getattr(dask_jobqueue, BATCH_SYSTEMS[system])(silence_logs="error", dashboard_address=None, **kwargs)
    except ValueError as exc:  # e.g. no cores or memory given, here or in the jobqueue configuration
        words = str(exc).split("\n")[0].rstrip(".")
        raise HeldoutError(f"--cluster {system}: {words} (give --cores and --memory, or set them in dask-jobqueue's "
                           f"configuration).") from None
