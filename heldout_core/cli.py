"""The ``heldout`` command line.

Each group of subcommands lives in its own module with an ``add_commands(subparsers)`` function
that adds parsers whose ``func(args) -> int`` runs the command. Modules are imported when the
parser is built, so they must stay light (no TensorFlow at import time).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .errors import HeldoutError

COMMAND_MODULES = [
    "heldout_core.commands",
    "heldout_core.release_commands",
    "heldout_core.training.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heldout",
        description="Memorization, influence and C-scores with confidence intervals from subsampled training runs.",
    )
    parser.add_argument("--version", action="version", version=f"heldout-influence {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user errors print one line and return 2."""
    # TensorFlow's C++ INFO lines (e.g. "Compiled cluster using XLA!") would interleave with our
    # output; warnings and errors still show, and a user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HeldoutError as exc:
        print(f"heldout: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that is not a folder, a full disk, no permission
        where = f": {exc.filename}" if exc.filename else ""
        print(f"heldout: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("heldout: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
