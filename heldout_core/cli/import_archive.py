"""``heldout import ARCHIVE.tar.gz --out DIR [--aux-only] [--overwrite] [--md5 HEX | --no-verify]``.

Reads a released archive once, checks its MD5 and either extracts it or writes the compact run
store (see :mod:`heldout_core.archive`). Progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time

from .flags import set_command


def add_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "import", help="check and unpack a released checkpoint archive, or stream its run records into a store",
        description="Read a released .tar.gz once: check its MD5 against the published sum, then extract it "
                    "into --out, or with --aux-only write only the run records as compact stores "
                    "(<experiment>_<ratio>.runs.npz) without unpacking checkpoints.")
    parser.add_argument("archive", help="the .tar.gz archive, e.g. cifar10-inception.tar.gz")
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--aux-only", action="store_true",
                        help="read only <experiment>/<ratio>/<run_id>/aux_arrays.npz members and write compact stores")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files in --out that the archive (or its stores) would write; without it they are refused")
    check = parser.add_mutually_exclusive_group()
    check.add_argument("--md5", help="expected MD5 (hex) for an archive that is not one of the released names")
    check.add_argument("--no-verify", action="store_true", help="do not compare the MD5 with any expected sum")
    set_command(parser, run_import)


class _StderrProgress:
    """Prints ``read X of Y GB (p%), N run records`` on stderr, at most once a second."""

    def __init__(self, stream=None, every_s: float = 1.0):
        stream = stream or sys.stderr
        self.stream, self.every_s, self.last, self.shown = stream, every_s, None, False

    def __call__(self, done: int, total: int, n_runs: int) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.every_s:
            return
        self.last, self.shown = now, True
        pct = 100.0 * done / total if total else 100.0
        self.stream.write(f"\rheldout import: read {done / 1e9:.2f} of {total / 1e9:.2f} GB ({pct:.0f}%), {n_runs} run records")
        self.stream.flush()

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def run_import(args: argparse.Namespace) -> int:
    from ..archive import KNOWN_MD5, import_archive

    progress = _StderrProgress()
    try:
        result = import_archive(args.archive, args.out, aux_only=args.aux_only, verify=not args.no_verify,
                                expected_md5=args.md5, progress=progress, overwrite=args.overwrite)
    finally:
        progress.finish()
    if result.md5_status == "unchecked":
        print(f"heldout import: {result.archive.name} is not one of the released archives "
              f"({', '.join(KNOWN_MD5)}), so its MD5 {result.md5} cannot be checked; pass --md5 to check it.",
              file=sys.stderr)
    what = "store files" if args.aux_only else "top-level paths"
    print(f"{result.archive}: MD5 {result.md5} ({result.md5_status}), {result.n_members} members, "
          f"{result.n_runs} run records; wrote {len(result.written)} {what} to {args.out}")
    for path in result.written:
        print(f"  {path}")
    return 0
