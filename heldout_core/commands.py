"""``heldout info`` and ``heldout estimate``: inspect run records and write scores with intervals."""

from __future__ import annotations

import argparse
import csv
import io
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from .errors import HeldoutError
from .io import (atomic_write, find_record_files, find_unfinished_runs, load_labels, load_runs, read_aux_arrays,
                 save_npz_atomic)
from .progress import Progress


def add_commands(subparsers) -> None:
    info = subparsers.add_parser("info", help="list experiments, ratios, runs and sizes under PATH, and problems found",
                                 description="List the run records under PATH and check every file.")
    info.add_argument("path", metavar="PATH", help="released layout, a single aux_arrays.npz, or compact stores")
    info.set_defaults(func=run_info)

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
    est.add_argument("--labels", type=Path,
                     help=".npz with tr_labels and tt_labels (or labels_train/labels_test) for high-influence pairs")
    est.add_argument("--infl-threshold", type=float, default=0.15, help="high-influence pairs: influence at least (0.15)")
    est.add_argument("--mem-threshold", type=float, default=0.25, help="high-influence pairs: memorization at least (0.25)")
    est.add_argument("--overwrite", action="store_true", help="replace result files already in --out")
    est.set_defaults(func=run_estimate)


# ---------------------------------------------------------------------------- info
def run_info(args: argparse.Namespace) -> int:
    """Print what PATH holds; exit 1 when a file has a problem, 0 otherwise."""
    files = find_record_files(args.path)
    problems: list[str] = []
    groups: dict[tuple, list] = defaultdict(list)
    sizes: dict[tuple, set] = defaultdict(set)
    progress = Progress(len(files), "checking", unit="files", log_every=5.0) if len(files) > 50 else None
    for f in files:
        try:
            if f.kind == "store":
                from .store import read_store

                runs = read_store(f.path)
                for ratio in runs.ratios:
                    key = (runs.experiment, float(ratio), "store", str(f.path))
                    groups[key].extend(runs.by_ratio(ratio).run_id.tolist())
                    sizes[key].add((runs.n_train, runs.n_test))
            else:
                run = read_aux_arrays(f.path, subset_ratio=f.subset_ratio, run_id=f.run_id or 0)
                key = (f.experiment, f.subset_ratio, "release layout", None)
                groups[key].append(f.run_id)
                sizes[key].add((len(run.train_mask), 0 if run.correct_test is None else len(run.correct_test)))
        except HeldoutError as exc:
            problems.append(str(exc))
        if progress:
            progress.update()
    if progress:
        progress.close()
    unfinished = find_unfinished_runs(args.path)
    if unfinished:
        shown = ", ".join(str(p) for p in unfinished[:3]) + (", ..." if len(unfinished) > 3 else "")
        problems.append(f"{len(unfinished)} run folder(s) without aux_arrays.npz (unfinished, crashed or not fully "
                        f"downloaded; they are skipped): {shown}")
    for key in sorted(groups, key=lambda k: (str(k[0]), k[1])):
        experiment, ratio, kind, where = key
        ids = sorted(groups[key])
        shape = ", ".join(f"n_train {a}, n_test {b}" for a, b in sorted(sizes[key]))
        print(f"{experiment or '(unnamed)'}  ratio {ratio:g}  {len(ids)} runs (ids {_id_ranges(ids)})  {shape}  [{kind}{': ' + where if where else ''}]")
        if len(sizes[key]) > 1:
            problems.append(f"{experiment} ratio {ratio:g}: runs of different training/test-set sizes ({shape}).")
    by_experiment = defaultdict(set)
    for (experiment, _, _, _), s in sizes.items():
        by_experiment[experiment] |= s
    for experiment, s in by_experiment.items():
        if len(s) > 1 and not any(p.startswith(f"{experiment} ratio") for p in problems):
            problems.append(f"{experiment}: ratios disagree on the training/test-set sizes ({sorted(s)}).")
    if problems:
        print(f"{len(problems)} problem(s):")
        for p in problems:
            print(f"  {p}")
        return 1
    print("no problems found")
    return 0


def _id_ranges(ids: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"``."""
    if not ids:
        return "none"
    parts, start, prev = [], ids[0], ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")


# ---------------------------------------------------------------------------- estimate
OUTPUT_FILES = ("memorization.npz", "memorization.csv", "influence_topk.npz", "cscore.npz",
                "high_infl_pairs.npz", "influence_full.npy", "influence_full.ci_low.npy", "influence_full.ci_high.npy")


def run_estimate(args: argparse.Namespace) -> int:
    from .estimators import consistency, high_influence_pairs, influence, memorization

    _estimate_iv(args)
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
    if args.labels:
        runs = runs.with_labels(*load_labels(args.labels))
    if args.ratio is not None:
        one = runs.by_ratio(args.ratio)
    elif len(runs.ratios) == 1:
        one = runs
    else:
        have = ", ".join(f"{r:g}" for r in runs.ratios)
        raise HeldoutError(f"the runs have several subset ratios ({have}); choose one for memorization and influence with --ratio.")
    ratio = float(one.ratios[0])
    _prepare_out(args.out, args.overwrite)
    options = dict(confidence=args.confidence, method=args.method, n_boot=args.n_boot, seed=args.seed)
    print(f"{runs!r}; memorization and influence at ratio {ratio:g} ({one.n_runs} runs)")
    large = one.n_runs * one.n_train * max(one.n_test, 1) > 10**10
    steps = Progress(5, "estimating", unit="steps", log_every=5.0, stream=None if large else io.StringIO())

    mem = memorization(one, **options)
    save_npz_atomic(args.out / "memorization.npz", estimate=mem.estimate, ci_low=mem.ci_low, ci_high=mem.ci_high,
                    n_in=mem.n_in, n_out=mem.n_out, correct_in=mem.correct_in, correct_out=mem.correct_out,
                    standard_error=mem.standard_error, confidence=mem.confidence, method=mem.method, ratio=ratio)
    _write_memorization_csv(args.out / "memorization.csv", mem)
    written = ["memorization.npz", "memorization.csv"]
    steps.update()

    if one.n_test:
        top = influence(one, top_k=min(args.top_k, one.n_train), **options)
        save_npz_atomic(args.out / "influence_topk.npz", train_idx=top.train_idx, estimate=top.estimate,
                        ci_low=top.ci_low, ci_high=top.ci_high, n_in=top.n_in, n_out=top.n_out,
                        correct_in=top.correct_in, correct_out=top.correct_out,
                        confidence=top.confidence, method=top.method, ratio=ratio)
        written.append("influence_topk.npz")
    steps.update()

    cs = consistency(runs, **options)
    # `scores` and `labels` are the keys of the released C-score files (DESIGN.md section 3).
    released_keys = {"scores": cs.estimate}
    if runs.labels_train is not None:
        released_keys["labels"] = runs.labels_train
    save_npz_atomic(args.out / "cscore.npz", estimate=cs.estimate, ci_low=cs.ci_low, ci_high=cs.ci_high,
                    ratios=cs.ratios, per_ratio=cs.per_ratio, per_ratio_ci_low=cs.per_ratio_ci_low,
                    per_ratio_ci_high=cs.per_ratio_ci_high, n_out=cs.n_out, correct_out=cs.correct_out,
                    confidence=cs.confidence, method=cs.method, **released_keys)
    written.append("cscore.npz")
    steps.update()

    pairs = None
    if one.n_test and one.labels_train is not None and one.labels_test is not None:
        pairs = high_influence_pairs(one, infl_threshold=args.infl_threshold, mem_threshold=args.mem_threshold,
                                     memorization_result=mem, **options)
        save_npz_atomic(args.out / "high_infl_pairs.npz", tr_idx=pairs.tr_idx, tt_idx=pairs.tt_idx, infl=pairs.infl,
                        mem=pairs.mem, infl_ci_low=pairs.infl_ci_low, infl_ci_high=pairs.infl_ci_high,
                        mem_ci_low=pairs.mem_ci_low, mem_ci_high=pairs.mem_ci_high)
        written.append("high_infl_pairs.npz")
    steps.update()

    if args.full_influence and one.n_test:
        influence(one, full=True, out=args.out / "influence_full.npy", **options)
        written.append("influence_full.npy (+ .ci_low.npy, .ci_high.npy)")
    steps.update()
    steps.close()

    _print_summary(mem, cs, pairs, args)
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


def _estimate_iv(args: argparse.Namespace) -> None:
    if not 0.0 < args.confidence < 1.0:
        raise HeldoutError(f"--confidence must be between 0 and 1, got {args.confidence}.")
    if args.top_k < 1:
        raise HeldoutError(f"--top-k must be at least 1, got {args.top_k}.")
    if args.n_boot < 2:
        raise HeldoutError(f"--n-boot must be at least 2, got {args.n_boot}.")
    if args.seed < 0:
        raise HeldoutError(f"--seed must be non-negative, got {args.seed}.")
    if args.out.exists() and not args.out.is_dir():
        raise HeldoutError(f"--out {args.out} exists and is not a folder.")
    if args.out.is_dir() and not args.overwrite:
        clash = [name for name in OUTPUT_FILES if (args.out / name).exists()]
        if clash:
            raise HeldoutError(f"--out {args.out} already holds {', '.join(clash)}; pass --overwrite to replace them.")


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Create --out once the records have loaded; with --overwrite, remove this command's old
    result files first so none from an earlier run is left beside the new ones."""
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)


def _write_memorization_csv(path: Path, mem) -> None:
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
