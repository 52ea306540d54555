"""``heldout info PATH``: list the run records under PATH and every problem found (exit 1 if any)."""

from __future__ import annotations

import argparse

from .flags import set_command


def add_command(subparsers) -> None:
    parser = subparsers.add_parser("info", help="list experiments, ratios, runs and sizes under PATH, and problems found",
                                   description="List the run records under PATH and check every file.")
    parser.add_argument("path", metavar="PATH", help="released layout, a single aux_arrays.npz, or compact stores")
    parser.add_argument("--fit-threshold", type=float, default=0.99,
                        help="warn when the models fit less than this fraction of their subsets on average (default 0.99)")
    set_command(parser, run_info)


def run_info(args: argparse.Namespace) -> int:
    """Print what PATH holds; exit 1 when a file has a problem, 0 otherwise."""
    from .. import params
    from ..progress import Progress
    from ..survey import id_ranges, survey

    shown: list[Progress] = []

    def on_file(done: int, total: int) -> None:
        if total <= 50:
            return
        if not shown:
            shown.append(Progress(total, "checking", unit="files", log_every=5.0))
        shown[0].update(done - shown[0].done)

    params.number(args.fit_threshold, "fit_threshold", low=0.0, high=1.0)
    report = survey(args.path, progress=on_file, fit_threshold=args.fit_threshold)
    if shown:
        shown[0].close()
    for group in report.groups:
        where = f": {group.path}" if group.path else ""
        print(f"{group.experiment or '(unnamed)'}  ratio {group.subset_ratio:g}  {len(group.run_ids)} runs "
              f"(ids {id_ranges(group.run_ids)})  n_train {group.n_train}, n_test {group.n_test}  [{group.source}{where}]")
    for experiment, fit in report.fit.items():
        print(f"{experiment or '(unnamed)'}: {fit.summary()}")
        if fit.warning():
            print(f"  warning: {fit.warning()}")
    in_use = [item for item in report.leftovers if item.in_use]
    if in_use:
        print(f"{len(in_use)} file(s) of jobs running now (temporary files, staging folders), e.g. {in_use[0].path}")
    if report.problems:
        print(f"{len(report.problems)} problem(s):")
        for problem in report.problems:
            print(f"  {problem}")
        return 1
    print("no problems found")
    return 0
