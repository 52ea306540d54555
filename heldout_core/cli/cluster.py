"""The cluster flags ``heldout train`` and ``heldout estimate`` share, and the cluster they open.

Without any of them a command runs as always, in this process. With one, Dask is imported
(the ``dask`` extra; a missing extra is one line naming the ``pip install``), the cluster is
started or connected to for the command, and stopped when it ends (see
:mod:`heldout_core.distributed.clusters`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Iterator

FLAGS = ("cluster", "scheduler", "scheduler_file")


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """Add the cluster flags to a command's parser, in their own group of the help."""
    group = parser.add_argument_group("on a Dask cluster (needs the dask extra; the data and the records on a shared file system)")
    group.add_argument("--cluster", metavar="local:N|slurm|pbs|sge|lsf",
                       help="local:N: N worker processes on this machine; slurm, pbs, sge, lsf: --jobs batch jobs "
                            "through dask-jobqueue")
    group.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    group.add_argument("--scheduler-file", metavar="PATH", help="an existing Dask scheduler's scheduler file")
    group.add_argument("--jobs", type=int, default=1, help="batch jobs to submit, one worker process each (default 1)")
    group.add_argument("--cores", type=int, help="cores per batch job (default: dask-jobqueue's configuration)")
    group.add_argument("--memory", help="memory per batch job, e.g. 32GB (default: dask-jobqueue's configuration)")
    group.add_argument("--gpus", type=int, help="GPUs per worker: one training task per GPU at a time")
    group.add_argument("--walltime", help="walltime per batch job, e.g. 04:00:00")
    group.add_argument("--queue", help="the batch system's queue (partition)")
    group.add_argument("--account", help="the account (project) batch jobs are charged to")
    group.add_argument("--print-job-script", action="store_true",
                       help="print the batch script one job would run, and exit (nothing is submitted)")


def wanted(args: argparse.Namespace) -> bool:
    """Whether any cluster flag was given (else the command runs as without them)."""
    return any(getattr(args, flag) for flag in FLAGS) or args.print_job_script


def request(args: argparse.Namespace):
    """The checked :class:`~heldout_core.distributed.ClusterRequest` of the flags; HeldoutError
    (one line) when the dask extra is missing or a flag is wrong."""
    from ..distributed import ClusterRequest

    return ClusterRequest(cluster=args.cluster, scheduler=args.scheduler, scheduler_file=args.scheduler_file,
                          jobs=args.jobs, cores=args.cores, memory=args.memory, gpus=args.gpus,
                          walltime=args.walltime, queue=args.queue, account=args.account).check()


def print_job_script(args: argparse.Namespace) -> bool:
    """With ``--print-job-script``, print the batch script and return True (the command is done)."""
    if not args.print_job_script:
        return False
    from ..distributed.clusters import job_script

    print(job_script(request(args)))
    return True


@contextlib.contextmanager
def session(args: argparse.Namespace, quiet: bool = False) -> Iterator:
    """The open :class:`~heldout_core.distributed.Cluster` of the flags for the block, or None
    without cluster flags."""
    if not wanted(args):
        yield None
        return
    from ..distributed import open_cluster

    with open_cluster(request(args)) as cluster:
        if not quiet:
            print(f"cluster: {cluster.description}", file=sys.stderr)
        yield cluster
