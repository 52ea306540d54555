"""``heldout quickstart``: digits with flipped labels, trained and analysed in under a minute."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .flags import set_command


def add_command(subparsers) -> None:
    quick = subparsers.add_parser(
        "quickstart", help="train the digits experiment with label noise and show what the estimators find",
        description="Train digits MLPs on 70%% subsets with 5%% of the training labels flipped, then "
                    "estimate memorization, influence and C-scores with 95%% intervals (under a minute on 2 cores).")
    quick.add_argument("--out", type=Path, default=Path("heldout-quickstart"), help="where runs go (default ./heldout-quickstart)")
    quick.add_argument("--runs", type=int, default=400, help="runs to train (default 400)")
    quick.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    quick.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    set_command(quick, run_quickstart)


def run_quickstart(args: argparse.Namespace) -> int:
    from ..training.quickstart import quickstart

    quickstart(args.out, runs=args.runs, seed=args.seed, show_progress=not args.quiet, stream=sys.stdout)
    return 0
