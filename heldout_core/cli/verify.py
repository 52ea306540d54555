"""``heldout verify RUN_DIR --data PATH [--split test|train]``: restore a run's checkpoint,
re-evaluate it and compare with its ``aux_arrays.npz`` (see :mod:`heldout_core.verify`)."""

from __future__ import annotations

import argparse

from .flags import set_command


def add_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify", help="restore a run's checkpoint, evaluate it and compare with its aux_arrays.npz",
        description="Rebuild the model of RUN_DIR (<experiment>/<ratio>/<run_id>), restore its checkpoint, "
                    "evaluate it on --data and report the accuracy and how many predictions match aux_arrays.npz.")
    parser.add_argument("run_dir", help="a run folder with aux_arrays.npz and checkpoints/ckpt-<N>.*")
    parser.add_argument("--data", help="the experiment's data (see `heldout plugins`)")
    parser.add_argument("--split", default="test", choices=("test", "train"), help="which split to evaluate (default test)")
    parser.add_argument("--experiment", help="experiment name when RUN_DIR is not inside an <experiment> folder")
    set_command(parser, run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from ..verify import verify_run

    result = verify_run(args.run_dir, args.data, split=args.split, experiment=args.experiment)
    print(f"{result.checkpoint}: {result.split} accuracy {result.accuracy:.4f} "
          f"(aux_arrays.npz: {result.released_accuracy:.4f}); {result.n_match} of {result.n} predictions match")
    return 0
