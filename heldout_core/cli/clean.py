"""``heldout clean PATH [--dry-run]``: remove what interrupted jobs left under PATH.

Removes staging folders of killed imports and estimates, temporary files of atomic writes and
partial checkpoints, but only those no running job holds (see :mod:`heldout_core.leftovers`).
Records, checkpoints, results and unfinished run folders are never touched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import HeldoutError
from .flags import set_command


def add_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "clean", help="remove leftovers of interrupted jobs (temporary files, staging folders)",
        description="Remove what killed or interrupted jobs left under PATH: staging folders "
                    "(.heldout-import-*, .heldout-estimate-*), temporary files (.<name>.heldout-*.tmp) and partial "
                    "checkpoints (.checkpoints-partial-*), unless a running job holds them. Only these names are "
                    "touched: records, checkpoints, results, hidden folders (.git, .venv) and other files never are.")
    parser.add_argument("path", metavar="PATH", type=Path, help="a folder of records or results")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    set_command(parser, run_clean)


def run_clean(args: argparse.Namespace) -> int:
    from ..leftovers import clean

    if not args.path.is_dir():
        raise HeldoutError(f"{args.path} is not a folder.")
    found = clean(args.path, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for item in found:
        print(f"{verb} {item.kind} {item.path}")
    print(f"{verb} {len(found)} leftover(s) under {args.path}")
    return 0
