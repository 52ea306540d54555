"""``heldout compare A B [--top N]``: how two score files agree (see :mod:`heldout_core.compare`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .flags import set_command


def add_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare this project's scores with published ones (or with other runs' scores)",
        description="Compare two score files, aligned by example id: this project's memorization.npz, cscore.npz, "
                    "influence_topk.npz, high_infl_pairs.npz or influence_full.npy, or the published C-score files "
                    "(labels, scores), influence matrices (tr_mem, infl_matrix_class<k>, ...) and high-influence "
                    "pairs (tr_idx, tt_idx, infl, mem). Prints rank and linear correlations, the agreement of the "
                    "top-N sets and the fraction of B's values inside A's intervals.")
    parser.add_argument("a", metavar="A", type=Path, help="a score file (its intervals are the ones tested)")
    parser.add_argument("b", metavar="B", type=Path, help="another score file, e.g. a published one")
    parser.add_argument("--top", type=int, default=100, help="N of the top-N sets compared (default 100)")
    set_command(parser, run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from ..compare import compare_scores

    result = compare_scores(args.a, args.b, top=args.top)
    print(f"A: {result.a.path} ({result.a.format})")
    print(f"B: {result.b.path} ({result.b.format})")
    labels = "labels agree" if result.a.labels_train is not None and result.b.labels_train is not None else \
        "labels not checked (one file has none)"
    print(labels)
    for agreement in result.agreements:
        print(agreement.line())
    return 0
