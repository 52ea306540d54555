"""``heldout plan [PATH] --width W``: how many runs give intervals that narrow (see :mod:`heldout_core.planning`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .flags import set_command


def add_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "plan", help="how many runs give intervals of a given width, from pilot records or from the bound",
        description="Predict how many runs give a median (or --quantile) interval width of --width, from the pilot "
                    "records under PATH, or without PATH from Feldman & Zhang's error bound at --ratio; and how "
                    "many more runs PATH needs.")
    parser.add_argument("path", metavar="PATH", nargs="?", type=Path, help="pilot records (optional)")
    parser.add_argument("--width", type=float, required=True, help="the interval width wanted, e.g. 0.1")
    parser.add_argument("--statistic", default="memorization", choices=("memorization", "influence", "cscore"),
                        help="which estimates (default memorization; cscore plans runs per ratio)")
    parser.add_argument("--quantile", type=float, default=0.5,
                        help="which quantile of the widths over examples must reach --width (default 0.5, the median)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    parser.add_argument("--ratio", type=float, help="subset ratio (needed without PATH, or when PATH has several)")
    parser.add_argument("--experiment", help="which experiment, when PATH holds several")
    set_command(parser, run_plan)


def run_plan(args: argparse.Namespace) -> int:
    from ..loading import load_runs
    from ..planning import plan_runs

    runs = None if args.path is None else load_runs(args.path, experiment=args.experiment)
    plan = plan_runs(runs, width=args.width, statistic=args.statistic, confidence=args.confidence,
                     quantile=args.quantile, ratio=args.ratio)
    for line in plan.reasoning:
        print(line)
    per = " per ratio" if len(plan.ratios) > 1 else ""
    if plan.runs_have is None:
        print(f"runs needed: {plan.runs_needed}{per}")
    elif plan.more_runs == 0:
        print(f"runs needed: {plan.runs_needed}{per}; {args.path} has {plan.runs_have}, enough already")
    else:
        print(f"runs needed: {plan.runs_needed}{per}; {args.path} has {plan.runs_have}, so {plan.more_runs} more "
              f"(heldout train ... --runs {plan.runs_needed} adds them, or --until-width {args.width:g})")
    return 0
