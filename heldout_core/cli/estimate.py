"""``heldout estimate PATH --out DIR``: memorization, influence and C-scores with intervals, as files.

Writes under ``--out`` (each file atomically; existing results only with ``--overwrite``):
``memorization.npz`` and ``.csv``, ``influence_topk.npz``, ``cscore.npz`` (also under the
released C-score keys ``scores``/``labels``), ``high_infl_pairs.npz`` with labels (the released
keys ``tr_idx``, ``tt_idx``, ``infl``, ``mem``), and with ``--full-influence`` the dense
``influence_full.npy`` with ``.ci_low.npy`` and ``.ci_high.npy`` (``--no-intervals``: the
estimates alone). Every flag is checked before anything is read or written.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from ..errors import HeldoutError, ParameterError
from . import cluster as cluster_flags
from .flags import set_command

STAGING_JOB = "estimate"  # the staging folder: OUT/.heldout-estimate-<random>/
OUTPUT_FILES = ("memorization.npz", "memorization.csv", "influence_topk.npz", "cscore.npz",
                "high_infl_pairs.npz", "influence_full.npy", "influence_full.ci_low.npy", "influence_full.ci_high.npy",
                "fit_diagnostics.npz", "estimate.json")


def add_command(subparsers) -> None:
    est = subparsers.add_parser(
        "estimate", help="memorization, influence and C-scores with confidence intervals",
        description="Estimate memorization, top-k influence, C-scores and (with labels) high-influence pairs, "
                    "each with confidence intervals, and write them under --out.")
    est.add_argument("path", metavar="PATH", help="released layout, a single aux_arrays.npz, or compact stores")
    est.add_argument("--out", required=True, type=Path, help="folder for the result files (created if needed)")
    est.add_argument("--experiment", help="which experiment, when PATH holds several")
    est.add_argument("--ratio", type=float,
                     help="subset ratio for memorization and influence (needed when the runs have several; "
                          "C-scores always use every ratio)")
    est.add_argument("--top-k", type=int, default=10, help="influential training examples kept per test example (default 10)")
    est.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    est.add_argument("--method", default="newcombe", choices=("newcombe", "bootstrap", "bca"),
                     help="interval method (default newcombe: closed form, near-nominal coverage)")
    est.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates (bootstrap methods)")
    est.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    est.add_argument("--full-influence", action="store_true",
                     help="also write the dense influence matrix (n_test x n_train float32) as influence_full.npy")
    est.add_argument("--no-intervals", action="store_true",
                     help="with --full-influence: write the dense estimates only, without their .ci_low/.ci_high "
                          "files (faster, a third of the disk); the other results always carry intervals")
    est.add_argument("--labels", type=Path,
                     help=".npz with tr_labels and tt_labels (or labels_train/labels_test) for high-influence pairs; "
                          "default: the labels.npz beside the records, if any")
    est.add_argument("--infl-threshold", type=float, default=0.15, help="high-influence pairs: influence at least (0.15)")
    est.add_argument("--mem-threshold", type=float, default=0.25, help="high-influence pairs: memorization at least (0.25)")
    est.add_argument("--fit-threshold", type=float, default=0.99,
                     help="warn when the models fit less than this fraction of their subsets on average (default 0.99)")
    est.add_argument("--no-reliability", action="store_true",
                     help="skip the split-half reliability (memorization and influence on two halves of the runs)")
    est.add_argument("--overwrite", action="store_true", help="replace result files already in --out")
    cluster_flags.add_cluster_flags(est)
    set_command(est, run_estimate)


def check_flags(args: argparse.Namespace) -> None:
    """Every flag checked by the library's own validators, before anything is read or written."""
    from .. import params
    from ..intervals import interval_spec

    interval_spec(args.confidence, args.method, args.n_boot, args.seed)
    params.integer(args.top_k, "top_k", minimum=1)
    params.influence_threshold(args.infl_threshold, "infl_threshold")
    params.influence_threshold(args.mem_threshold, "mem_threshold")
    params.number(args.fit_threshold, "fit_threshold", low=0.0, high=1.0)
    if args.ratio is not None:
        params.subset_ratio(args.ratio, "ratio")
    if args.labels is not None and not Path(args.labels).is_file():
        raise HeldoutError(f"--labels {args.labels} does not exist or is not a file.")
    if args.no_intervals and not args.full_influence:
        raise HeldoutError("--no-intervals applies to the dense matrix only; add --full-influence "
                           "(the other results always carry their intervals).")
    if args.out.exists() and not args.out.is_dir():
        raise HeldoutError(f"--out {args.out} exists and is not a folder.")
    if args.out.is_dir():
        odd = [name for name in OUTPUT_FILES if os.path.lexists(args.out / name)
               and ((args.out / name).is_symlink() or not (args.out / name).is_file())]
        if odd:
            raise HeldoutError(f"--out {args.out / odd[0]} exists and is not a file; move it away first.")
        clash = [name for name in OUTPUT_FILES if (args.out / name).exists()]
        if clash and not args.overwrite:
            raise HeldoutError(f"--out {args.out} already holds {', '.join(clash)}; pass --overwrite to replace them.")


def run_estimate(args: argparse.Namespace) -> int:
    check_flags(args)
    if cluster_flags.wanted(args):  # a missing dask extra or a wrong flag: one line, before anything is read
        cluster_flags.request(args)
        if cluster_flags.print_job_script(args):
            return 0
    with cluster_flags.session(args) as cluster:
        return _estimate(args, cluster)


def _estimate(args: argparse.Namespace, cluster) -> int:
    from ..atomic import atomic_write, publish_files, save_npz_atomic, staged_folder
    from ..diagnostics import fit_diagnostics
    from ..reliability import split_half_reliability
    from ..version import __version__
    from ..estimators import (consistency, dense_output_paths, high_influence_pairs, influence_matrix, influence_topk,
                              memorization)
    from ..leftovers import remove_stale_staging
    from ..loading import find_labels_file, load_labels, load_runs
    from ..progress import Progress

    loading: list[Progress] = []

    def on_file(done: int, total: int) -> None:
        if total < 200:  # small jobs finish before progress would tell anything
            return
        if not loading:
            loading.append(Progress(total, "loading", unit="files", log_every=5.0))
        loading[0].update(done - loading[0].done)

    runs = load_runs(args.path, experiment=args.experiment, progress=on_file)
    if loading:
        loading[0].close()
    labels_file = args.labels
    if labels_file is None and runs.labels_train is None:  # the labels.npz heldout train writes, if there is one
        labels_file = find_labels_file(Path(args.path), runs.experiment)
        if labels_file is not None:
            print(f"labels: {labels_file}")
    if labels_file is not None:
        try:
            runs = runs.with_labels(*load_labels(labels_file))
        except ParameterError as exc:  # the labels do not fit the runs: name the file
            raise HeldoutError(f"--labels {labels_file}: {exc}") from None
    if args.ratio is not None:
        one = runs.by_ratio(args.ratio)
    elif len(runs.ratios) == 1:
        one = runs
    else:
        have = ", ".join(f"{r:g}" for r in runs.ratios)
        raise HeldoutError(f"the runs have several subset ratios ({have}); choose one for memorization and influence with --ratio.")
    ratio = float(one.ratios[0])
    options = dict(confidence=args.confidence, method=args.method, n_boot=args.n_boot, seed=args.seed)
    if cluster is not None and one.n_test:  # influence in blocks of test examples on the workers
        influence_topk, influence_matrix = _on_cluster(cluster, args, one, ratio)
    print(f"{runs!r}; memorization and influence at ratio {ratio:g} ({one.n_runs} runs)")
    large = one.n_runs * one.n_train * max(one.n_test, 1) > 10**10
    steps = Progress(5, "estimating", unit="steps", log_every=5.0, stream=None if large else io.StringIO())
    fit = fit_diagnostics(one, threshold=args.fit_threshold)
    print(fit.summary())
    warnings_ = [fit.warning()] if fit.warning() else []
    for warning in warnings_:
        print(f"heldout: warning: {warning}", file=sys.stderr)
    remove_stale_staging(args.out, STAGING_JOB)
    # Everything is written into a locked staging folder and moved into --out at the end, so a
    # failure (or a kill) at any step leaves --out as it was.
    with staged_folder(args.out, STAGING_JOB) as stage:
        files: list[str] = []

        def save(name: str, **arrays) -> None:
            save_npz_atomic(stage / name, **arrays)
            files.append(name)

        mem = memorization(one, **options)
        labels = {} if one.labels_train is None else {"labels": one.labels_train}
        save("memorization.npz", estimate=mem.estimate, ci_low=mem.ci_low, ci_high=mem.ci_high,
             n_in=mem.n_in, n_out=mem.n_out, correct_in=mem.correct_in, correct_out=mem.correct_out,
             standard_error=mem.standard_error, confidence=mem.confidence, method=mem.method, ratio=ratio,
             warnings=np.array(warnings_, dtype=str), **labels)
        _write_memorization_csv(stage / "memorization.csv", mem)
        files.append("memorization.csv")
        steps.update()

        if one.n_test:
            top = influence_topk(one, min(args.top_k, one.n_train), **options)
            save("influence_topk.npz", train_idx=top.train_idx, estimate=top.estimate,
                 ci_low=top.ci_low, ci_high=top.ci_high, n_in=top.n_in, n_out=top.n_out,
                 correct_in=top.correct_in, correct_out=top.correct_out,
                 confidence=top.confidence, method=top.method, ratio=ratio)
        steps.update()

        cs = consistency(runs, **options)
        # `scores` and `labels` are the keys of the released C-score files (Jiang et al. 2021).
        released_keys = {"scores": cs.estimate}
        if runs.labels_train is not None:
            released_keys["labels"] = runs.labels_train
        save("cscore.npz", estimate=cs.estimate, ci_low=cs.ci_low, ci_high=cs.ci_high,
             ratios=cs.ratios, per_ratio=cs.per_ratio, per_ratio_ci_low=cs.per_ratio_ci_low,
             per_ratio_ci_high=cs.per_ratio_ci_high, n_out=cs.n_out, correct_out=cs.correct_out,
             confidence=cs.confidence, method=cs.method, **released_keys)
        steps.update()

        pairs = None
        if one.n_test and one.labels_train is not None and one.labels_test is not None:
            pairs = high_influence_pairs(one, infl_threshold=args.infl_threshold, mem_threshold=args.mem_threshold,
                                         memorization_result=mem, **options)
            save("high_infl_pairs.npz", tr_idx=pairs.tr_idx, tt_idx=pairs.tt_idx, infl=pairs.infl,
                 mem=pairs.mem, infl_ci_low=pairs.infl_ci_low, infl_ci_high=pairs.infl_ci_high,
                 mem_ci_low=pairs.mem_ci_low, mem_ci_high=pairs.mem_ci_high, infl_threshold=pairs.infl_threshold,
                 mem_threshold=pairs.mem_threshold, confidence=pairs.confidence, method=pairs.method)
        steps.update()

        if args.full_influence and one.n_test:
            influence_matrix(one, out=stage / "influence_full.npy", intervals=not args.no_intervals, **options)
            dense = dense_output_paths(stage / "influence_full.npy")
            files += [p.name for p in (dense[:1] if args.no_intervals else dense)]
        steps.update()
        steps.close()

        save("fit_diagnostics.npz", train_accuracy=fit.train_accuracy, heldout_accuracy=fit.heldout_accuracy,
             test_accuracy=fit.test_accuracy, run_id=fit.run_id, subset_ratio=fit.subset_ratio, fit_rate=fit.fit_rate,
             n_in=fit.n_in, threshold=fit.threshold, warnings=np.array(warnings_, dtype=str))
        reliability = None
        if not args.no_reliability and one.n_runs >= 4:
            reliability = split_half_reliability(runs, ratio=ratio, top_k=min(args.top_k, one.n_train))
        metadata = {
            "format": "heldout-estimate", "heldout_version": __version__, "records": str(Path(args.path).resolve()),
            "experiment": runs.experiment, "ratio": ratio, "n_runs": one.n_runs, "ratios": cs.ratios.tolist(),
            "n_train": one.n_train, "n_test": one.n_test, "options": options, "top_k": args.top_k,
            "fit": fit.as_dict(), "warnings": warnings_,
            "reliability": reliability.as_dict() if reliability is not None else None,
            "files": sorted(files + ["estimate.json"]),
        }
        with atomic_write(stage / "estimate.json", "w") as handle:
            json.dump(_json_safe(metadata), handle, indent=1, allow_nan=False)
        files.append("estimate.json")

        # the new files go in first and only then do old outputs this run does not make go
        # away, so a failure keeps the old results; another job's results that appeared
        # meanwhile are never replaced without --overwrite
        try:
            publish_files(stage, args.out, files, overwrite=args.overwrite, stale=OUTPUT_FILES)
        except FileExistsError as exc:
            raise HeldoutError(f"--out {args.out} got {Path(exc.filename).name} from another job while this one ran; "
                               f"nothing was written (pass --overwrite to replace it).") from None
        except IsADirectoryError as exc:
            raise HeldoutError(f"--out {exc.filename} exists and is not a file; nothing was written.") from None

    _print_summary(mem, cs, pairs, args)
    if reliability is not None:
        print(reliability.summary())
    shown = [f for f in files if not f.startswith("influence_full.")]
    if args.full_influence and one.n_test:
        shown.append("influence_full.npy" + ("" if args.no_intervals else " (+ .ci_low.npy, .ci_high.npy)"))
    print(f"wrote {', '.join(shown)} to {args.out}")
    return 0


def _on_cluster(cluster, args: argparse.Namespace, one, ratio: float):
    """``influence_topk`` and ``influence_matrix`` as the estimate calls them, computed in blocks
    of test examples by the workers of ``cluster`` from the records at ``args.path`` (which
    they load themselves); the same results."""
    from .. import distributed
    from ..distributed.estimation import BLOCKS_PER_WORKER

    records = distributed.Records.at(args.path, experiment=args.experiment, ratio=ratio, runs=one)
    blocks = BLOCKS_PER_WORKER * cluster.workers()
    print(f"influence: {blocks} blocks of test examples on the cluster's workers", file=sys.stderr)

    def topk(runs, k, **options):
        return distributed.influence_topk(records, k, client=cluster.client, blocks=blocks, **options)

    def matrix(runs, *, out, intervals, **options):
        return distributed.influence_matrix(records, out, client=cluster.client, blocks=blocks, intervals=intervals,
                                            runs=runs, **options)

    return topk, matrix


def _json_safe(value):
    """``value`` with numpy scalars as Python ones and NaN or infinite floats as None (null):
    NaN is not valid JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_memorization_csv(path: Path, mem) -> None:
    from ..atomic import atomic_write

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["index", "memorization", "ci_low", "ci_high", "n_in", "n_out"])
    for i in range(len(mem.estimate)):
        writer.writerow([i, f"{mem.estimate[i]:.6g}", f"{mem.ci_low[i]:.6g}", f"{mem.ci_high[i]:.6g}",
                         int(mem.n_in[i]), int(mem.n_out[i])])
    with atomic_write(path, "w") as handle:
        handle.write(text.getvalue())


def _print_summary(mem, cs, pairs, args) -> None:
    level = f"{args.confidence:.0%}"
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN results print as nan
        width = np.nanmedian(mem.ci_high - mem.ci_low)
        high = int((mem.ci_low > 0.25).sum())
        mem_mean, cs_mean = np.nanmean(mem.estimate), np.nanmean(cs.estimate)
    print(f"memorization: mean {mem_mean:.3f}, median {level} interval width {width:.3f}, "
          f"{high} examples with lower bound > 0.25, {mem.n_undefined} undefined (never in or never out)")
    print(f"C-scores over ratios {', '.join(f'{r:g}' for r in cs.ratios)}: mean {cs_mean:.3f}, "
          f"{cs.n_undefined} undefined")
    if pairs is not None:
        print(f"high-influence pairs (infl >= {args.infl_threshold}, mem >= {args.mem_threshold}, same class): {len(pairs.tr_idx)}")
