"""``heldout train EXPERIMENT --out DIR``: train runs into the released layout, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import cluster as cluster_flags
from .flags import parse_options, set_command


def add_command(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train the runs of an experiment into the released layout",
        description="Train models on subsets of an experiment's training set and write "
                    "OUT/<experiment>/<ratio>/<run_id>/{aux_arrays.npz,run.json,checkpoints/}. "
                    "Finished runs are skipped, so an interrupted job resumes where it stopped.")
    train.add_argument("experiment", help="experiment name (see `heldout plugins`)")
    train.add_argument("--out", required=True, type=Path, help="root folder of the run records")
    train.add_argument("--ratio", type=float, action="append", dest="ratios", metavar="RATIO",
                       help="subset ratio in (0, 1); repeat for several (default: the experiment's)")
    train.add_argument("--runs", type=int, help="runs per ratio, ids 0..N-1 (default: the experiment's)")
    train.add_argument("--seed", type=int, default=0, help="base seed of subsets and training (default 0)")
    train.add_argument("--epochs", type=int, help="training epochs (default: the experiment's)")
    train.add_argument("--data", type=Path, help="where the experiment's data is (see `heldout plugins`)")
    train.add_argument("--design", choices=("random", "balanced"), default="random",
                       help="random: independent fixed-size subsets (as in the papers); balanced: every "
                            "example held out equally often per block of runs")
    train.add_argument("--label-noise", type=float, default=0.0, metavar="FRACTION",
                       help="flip this fraction of the training labels to another class (recorded in labels.npz), "
                            "to check that memorization finds them")
    train.add_argument("--noise-seed", type=int, default=0, help="seed of --label-noise (default 0)")
    train.add_argument("--sequential", action="store_true",
                       help="train one model at a time (Keras) instead of batches of models")
    train.add_argument("-o", "--option", action="append", default=[], metavar="NAME=VALUE",
                       help="experiment option, e.g. -o label_noise=0.05 (see `heldout plugins -v`)")
    train.add_argument("--until-width", type=float, metavar="W",
                       help="train in rounds until the median 95%% interval width of memorization is at most W "
                            "(each round's size comes from `heldout plan` on the records so far); --runs is the ceiling")
    train.add_argument("--fit-threshold", type=float, default=0.99,
                       help="warn when the models fit less than this fraction of their subsets on average (default 0.99)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    cluster_flags.add_cluster_flags(train)
    set_command(train, run_train)


def run_train(args: argparse.Namespace) -> int:
    from .. import params
    from ..plugins import get_registry
    from ..training.driver import train_runs

    if cluster_flags.wanted(args):  # a missing dask extra or a wrong flag: one line, before anything is built
        cluster_flags.request(args)
        if cluster_flags.print_job_script(args):
            return 0
    threshold = params.number(args.fit_threshold, "fit_threshold", low=0.0, high=1.0)
    experiment = get_registry().create(args.experiment, **parse_options(args.option))
    ratios = args.ratios or list(experiment.default_ratios)
    ceiling = experiment.default_runs if args.runs is None else args.runs

    with cluster_flags.session(args, quiet=args.quiet) as cluster:
        executor = None
        if cluster is not None:
            from ..distributed import ClusterExecutor

            executor = ClusterExecutor(cluster.client, resources=cluster.task_resources)

        def train(runs: int):
            return train_runs(experiment, args.out, ratios=ratios, runs=runs, seed=args.seed, epochs=args.epochs,
                              design=args.design, data_path=args.data, sequential=args.sequential,
                              label_noise=args.label_noise, noise_seed=args.noise_seed, show_progress=not args.quiet,
                              executor=executor)

        if args.until_width is None:
            summary = train(ceiling)
        else:
            summary = _train_until_width(train, args, experiment.name, ratios, ceiling)
    done = ", ".join(f"{r:g}: {summary.trained[r]} trained, {summary.skipped[r]} already there" for r in summary.trained)
    print(f"{summary.experiment} -> {summary.out / summary.experiment} ({done}; {summary.seconds:.1f} s, {summary.trainer})")
    fit = summary.fit(threshold)
    if fit is not None:
        print(f"fit of the {len(fit.train_accuracy)} models trained now: {fit.summary()}")
        if fit.warning():
            print(f"heldout: warning: {fit.warning()}", file=sys.stderr)
    return 0


FIRST_ROUND = 100  # runs of the first round of --until-width (the pilot)


def _train_until_width(train, args, name: str, ratios: list[float], ceiling: int):
    """Rounds of training until the records' median memorization interval is at most --until-width."""
    import numpy as np

    from .. import params
    from ..errors import HeldoutError
    from ..estimators import memorization
    from ..loading import load_runs
    from ..planning import plan_runs

    width = params.number(args.until_width, "until_width", low=0.0, high=2.0, open_low=True)
    if len(ratios) != 1:
        raise HeldoutError("--until-width plans runs at one subset ratio; give one --ratio.")
    target = min(ceiling, FIRST_ROUND)
    accuracies, trained, seconds = [], 0, 0.0
    while True:
        summary = train(target)
        accuracies += summary.accuracies
        trained += summary.n_trained
        seconds += summary.seconds
        runs = load_runs(args.out / name, ratio=ratios[0])
        mem = memorization(runs)
        now = float(np.nanmedian(mem.ci_high - mem.ci_low))
        # four digits: a width printed as the target must have reached it
        print(f"round: {runs.n_runs} runs, median 95% interval width of memorization {now:.4f} (target {width:g}"
              f"{', reached' if now <= width else ''})")
        if now <= width or runs.n_runs >= ceiling:
            if now > width:
                print(f"stopped at --runs {ceiling} before the target width; `heldout plan {args.out / name} "
                      f"--width {width:g}` says how many runs it needs")
            break
        planned = plan_runs(runs, width=width).runs_needed
        target = min(ceiling, max(planned, runs.n_runs + max(10, runs.n_runs // 10)))  # always some progress
    summary.accuracies = accuracies
    summary.seconds = seconds  # every round's training, not the last one's
    summary.trained = {r: trained for r in summary.trained}
    summary.skipped = {r: runs.n_runs - trained for r in summary.skipped}
    return summary
