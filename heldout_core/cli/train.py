"""``heldout train EXPERIMENT --out DIR``: train runs into the released layout, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    train.add_argument("--fit-threshold", type=float, default=0.99,
                       help="warn when the models fit less than this fraction of their subsets on average (default 0.99)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    set_command(train, run_train)


def run_train(args: argparse.Namespace) -> int:
    from .. import params
    from ..plugins import get_registry
    from ..training.driver import train_runs

    threshold = params.number(args.fit_threshold, "fit_threshold", low=0.0, high=1.0)
    experiment = get_registry().create(args.experiment, **parse_options(args.option))
    summary = train_runs(
        experiment, args.out,
        ratios=args.ratios or list(experiment.default_ratios),
        runs=experiment.default_runs if args.runs is None else args.runs,
        seed=args.seed, epochs=args.epochs, design=args.design, data_path=args.data,
        sequential=args.sequential, label_noise=args.label_noise, noise_seed=args.noise_seed,
        show_progress=not args.quiet,
    )
    ratios = ", ".join(f"{r:g}: {summary.trained[r]} trained, {summary.skipped[r]} already there" for r in summary.trained)
    print(f"{summary.experiment} -> {summary.out / summary.experiment} ({ratios}; {summary.seconds:.1f} s, {summary.trainer})")
    fit = summary.fit(threshold)
    if fit is not None:
        print(f"fit of the {len(fit.train_accuracy)} models trained now: {fit.summary()}")
        if fit.warning():
            print(f"heldout: warning: {fit.warning()}", file=sys.stderr)
    return 0
