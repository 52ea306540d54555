"""The ``heldout`` command line: one module per command, each a thin layer over the library.

Every command module has an ``add_command(subparsers)`` that adds its parser and sets its
``func(args) -> int`` (see :mod:`.flags`). Modules are imported when the parser is built, so they
stay light: the library (and any framework) is imported when a command runs.

User errors print one line, ``heldout: error: ...``, and exit with status 2. An error about a
library parameter is worded with the command's own flag for it (``top_k`` -> ``--top-k``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import HeldoutError, ParameterError
from ..version import __version__

COMMAND_MODULES = ("info", "estimate", "report", "train", "quickstart", "plugins", "import_archive", "verify",
                   "clean", "plan", "compare")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heldout",
        description="Memorization, influence and C-scores with confidence intervals from subsampled training runs.",
    )
    parser.add_argument("--version", action="version", version=f"heldout-influence {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_command(subparsers)
    return parser


def error_line(exc: HeldoutError, flags: dict[str, str]) -> str:
    """The one line printed for a user error; parameters are named by their flags."""
    if isinstance(exc, ParameterError) and exc.parameter in flags:
        return f"heldout: error: {exc.naming(flags[exc.parameter])}"
    return f"heldout: error: {exc}"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user errors print one line and return 2."""
    # TensorFlow's C++ INFO lines (e.g. "Compiled cluster using XLA!") would interleave with our
    # output; warnings and errors still show, and a user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from ..npz import MAX_BYTES_ENV, default_budget

        if os.environ.get(MAX_BYTES_ENV):
            default_budget()  # a bad setting is one error before anything runs, not one per file
        return int(args.func(args) or 0)
    except HeldoutError as exc:
        print(error_line(exc, getattr(args, "flags", {})), file=sys.stderr)
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
