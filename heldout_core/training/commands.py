"""Commands ``heldout train``, ``heldout plugins`` and ``heldout quickstart``.

Imported when the parser is built, so nothing heavy at import: plugins load when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import HeldoutError


def add_commands(subparsers) -> None:
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
    train.add_argument("--sequential", action="store_true",
                       help="train one model at a time (Keras) instead of batches of models")
    train.add_argument("-o", "--option", action="append", default=[], metavar="NAME=VALUE",
                       help="experiment option, e.g. -o label_noise=0.05 (see `heldout plugins -v`)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    train.set_defaults(func=run_train)

    plugins = subparsers.add_parser("plugins", help="list experiments, their plugins and broken plugins")
    plugins.add_argument("-v", "--verbose", action="store_true", help="also list each experiment's options")
    plugins.set_defaults(func=run_plugins)

    quick = subparsers.add_parser(
        "quickstart", help="train the digits experiment with label noise and show what the estimators find",
        description="Train digits MLPs on 70%% subsets with 5%% of the training labels flipped, then "
                    "estimate memorization, influence and C-scores with 95%% intervals (a few minutes on 2 cores).")
    quick.add_argument("--out", type=Path, default=Path("heldout-quickstart"), help="where runs go (default ./heldout-quickstart)")
    quick.add_argument("--runs", type=int, default=400, help="runs to train (default 400)")
    quick.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    quick.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    quick.set_defaults(func=run_quickstart)


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; HeldoutError naming a malformed one."""
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise HeldoutError(f"-o/--option expects NAME=VALUE, got '{pair}'.")
        options[name.strip()] = value.strip()
    return options


def run_train(args: argparse.Namespace) -> int:
    from ..plugins import get_registry
    from .driver import train_runs

    entry = get_registry().get(args.experiment)
    experiment = entry.cls(**parse_options(args.option))
    summary = train_runs(
        experiment, args.out,
        ratios=args.ratios or list(entry.cls.default_ratios),
        runs=entry.cls.default_runs if args.runs is None else args.runs,
        seed=args.seed, epochs=args.epochs, design=args.design, data_path=args.data,
        sequential=args.sequential, plugin=entry.plugin, plugin_version=entry.version,
        show_progress=not args.quiet,
    )
    ratios = ", ".join(f"{r:g}: {summary.trained[r]} trained, {summary.skipped[r]} already there" for r in summary.trained)
    print(f"{summary.experiment} -> {summary.out / summary.experiment} ({ratios}; {summary.seconds:.1f} s, {summary.trainer})")
    return 0


def run_plugins(args: argparse.Namespace) -> int:
    from ..plugins import get_registry

    registry = get_registry()
    rows = [("experiment", "plugin", "version", "classes", "ratios", "runs", "epochs", "data")]
    for name in sorted(registry.experiments):
        e = registry.experiments[name]
        c = e.cls
        rows.append((name, e.plugin, e.version or "-", "from data" if c.num_classes is None else str(c.num_classes),
                     ",".join(f"{r:g}" for r in c.default_ratios), str(c.default_runs), str(c.default_epochs), c.data_help))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
        if args.verbose and row is not rows[0]:
            for key, option in registry.experiments[row[0]].cls.options.items():
                default = ",".join(map(str, option.default)) if isinstance(option.default, tuple) else option.default
                print(f"    -o {key}={default}  {option.help}")
    if registry.broken:
        print("\nbroken plugins (skipped):")
        for broken in registry.broken:
            print(f"  {broken.name}: {broken.error}")
    return 0


def run_quickstart(args: argparse.Namespace) -> int:
    from .quickstart import quickstart

    quickstart(args.out, runs=args.runs, seed=args.seed, show_progress=not args.quiet, stream=sys.stdout)
    return 0
