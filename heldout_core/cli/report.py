"""``heldout report PATH --out DIR``: an HTML page with figures of the scores and the runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from .flags import set_command


def add_command(subparsers) -> None:
    rep = subparsers.add_parser(
        "report", help="an HTML report with figures: scores, intervals, examples, influence pairs, fit",
        description="Write DIR/report.html and one PNG and PDF per figure from run records: distributions of "
                    "memorization and C-scores with their interval widths, the most and least memorized examples, "
                    "high-influence pairs, per-class means, interval width vs runs, and the fit of the runs. Uses "
                    "heldout estimate's files in --scores (default --out) when they fit the records.")
    rep.add_argument("path", metavar="PATH", help="released layout, a single aux_arrays.npz, or compact stores")
    rep.add_argument("--out", required=True, type=Path, help="folder for report.html and the figures (created)")
    rep.add_argument("--experiment", help="which experiment, when PATH holds several; also whose images are shown")
    rep.add_argument("--ratio", type=float, help="subset ratio for memorization and influence "
                                                 "(default: the only one, or the one with the most runs)")
    rep.add_argument("--data", type=Path, help="the experiment's data, for images (as for heldout train)")
    rep.add_argument("--labels", type=Path, help=".npz with tr_labels/tt_labels (or labels_train/labels_test); "
                                                 "default: the labels.npz beside the records")
    rep.add_argument("--top", type=int, default=12, help="examples per group in the image grids (default 12)")
    rep.add_argument("--scores", type=Path, help="folder of heldout estimate's files (default: --out)")
    set_command(rep, run_report)


def run_report(args: argparse.Namespace) -> int:
    from ..report import build_report

    report = build_report(args.path, args.out, experiment=args.experiment, ratio=args.ratio, data=args.data,
                          labels=args.labels, top=args.top, scores=args.scores)
    for sentence in report.missing:
        print(f"note: {sentence}")
    print(f"wrote {report.page} ({len(report.files) // 2} figures, PNG and PDF) in {report.seconds:.1f} s")
    return 0
