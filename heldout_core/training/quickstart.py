"""``heldout quickstart``: digits with flipped labels, trained and analysed in a few minutes.

Trains the ``digits`` experiment (400 runs on 70% subsets by default) with 5% of the training
labels flipped to another class, then estimates memorization, influence and C-scores with 95%
intervals, reports how well memorization finds the flipped labels, and writes the report of
``heldout report`` to ``<out>/report/report.html``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

RATIO = 0.7
LABEL_NOISE = 0.05
REPORT_FOLDER = "report"  # under --out


@dataclass(frozen=True)
class QuickstartResult:
    """What the quickstart found.

    Attributes:
        noisy_idx: int64 ids of the flipped training labels.
        top_memorized: int64 ids of the len(noisy_idx) most memorized training examples.
        n_noisy_found: how many flipped labels are among them.
        n_noisy_lowest_cscore: how many flipped labels are among the len(noisy_idx) lowest C-scores.
    """

    noisy_idx: np.ndarray
    top_memorized: np.ndarray
    n_noisy_found: int
    n_noisy_lowest_cscore: int


def _fmt(est: float, lo: float, hi: float) -> str:
    return f"{est:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def quickstart(out: str | Path, *, runs: int = 400, seed: int = 0, show_progress: bool = True,
               stream: TextIO | None = None, epochs: int | None = None) -> QuickstartResult:
    """Train (or resume) the quickstart runs under ``out`` and print the findings to ``stream``."""
    from ..diagnostics import fit_diagnostics
    from ..estimators import consistency, influence_topk, memorization
    from ..reliability import split_half_reliability
    from ..layout import LABELS_FILE
    from ..loading import load_runs
    from ..npz import load_npz
    from ..plugins import get_registry
    from .driver import train_runs

    stream = sys.stdout if stream is None else stream
    say = lambda *parts: print(*parts, file=stream)  # noqa: E731
    experiment = get_registry().create("digits", label_noise=LABEL_NOISE)
    data = experiment.load_data(None)
    noisy = np.asarray(data.extras["noisy_idx"])
    clean = np.asarray(data.extras["clean_labels_train"])
    say(f"heldout quickstart: {runs} digits MLPs, each on a {RATIO:.0%} subset of {data.n_train} training images, "
        f"with {len(noisy)} training labels ({LABEL_NOISE:.0%}) flipped to another digit.")
    train_runs(experiment, out, ratios=[RATIO], runs=runs, seed=seed, epochs=epochs, data=data,
               show_progress=show_progress)
    folder = Path(out) / experiment.name
    labels = load_npz(folder / LABELS_FILE, str(folder / LABELS_FILE))
    record = load_runs(folder, ratio=RATIO)
    if record.n_runs > runs:  # a folder with more runs (from an earlier, larger quickstart): the first `runs`
        record = record.select(np.flatnonzero(record.run_id < runs))
    record = record.with_labels(labels["labels_train"], labels["labels_test"])
    fit = fit_diagnostics(record)
    say(f"records: {folder} ({record.n_runs} runs); {fit.summary()}.")
    if fit.warning():
        say(f"warning: {fit.warning()}")

    mem = memorization(record, confidence=0.95, method="newcombe")
    order = np.argsort(-np.nan_to_num(mem.estimate, nan=-np.inf), kind="stable")
    top = order[:len(noisy)]
    found = int(np.isin(top, noisy).sum())
    chance = len(noisy) ** 2 / data.n_train
    say(f"\nmemorization (95% Newcombe intervals): {found} of the {len(noisy)} flipped labels are among the "
        f"{len(noisy)} most memorized training examples (chance: {chance:.0f}).")
    say("  most memorized:   id  label (clean)  memorization [95% CI]  runs in/out")
    for i in order[:8]:
        flag = "flipped" if i in set(noisy.tolist()) else ""
        say(f"                 {i:4d}  {labels['labels_train'][i]:5d} ({clean[i]})      "
            f"{_fmt(mem.estimate[i], mem.ci_low[i], mem.ci_high[i])}  {mem.n_in[i]:4d}/{mem.n_out[i]:<4d}  {flag}")
    clean_ids = np.setdiff1d(np.arange(data.n_train), noisy)
    say(f"  mean memorization: flipped {np.nanmean(mem.estimate[noisy]):.2f}, others {np.nanmean(mem.estimate[clean_ids]):.2f}; "
        f"intervals excluding 0: {int((mem.ci_low[noisy] > 0).sum())} of the flipped, {int((mem.ci_low[clean_ids] > 0).sum())} of the others.")

    cscore = consistency(record)
    lowest = np.argsort(np.nan_to_num(cscore.estimate, nan=np.inf), kind="stable")[:len(noisy)]
    low_found = int(np.isin(lowest, noisy).sum())
    say(f"\nC-scores: {low_found} of the {len(noisy)} flipped labels are among the {len(noisy)} lowest C-scores "
        f"(mean C-score: flipped {np.nanmean(cscore.estimate[noisy]):.2f}, others {np.nanmean(cscore.estimate[clean_ids]):.2f}).")

    infl = influence_topk(record, 1)
    best = infl.estimate[:, 0]
    strong = np.flatnonzero(infl.ci_low[:, 0] > 0.15)
    say(f"\ninfluence: {len(strong)} of {record.n_test} test examples have a training example whose influence "
        f"interval lies above 0.15.")
    for j in np.argsort(-np.nan_to_num(best, nan=-np.inf), kind="stable")[:3]:
        i = int(infl.train_idx[j, 0])
        if i < 0:  # no training example has an estimate (too few runs for one in and one out)
            break
        say(f"  train {i} (label {labels['labels_train'][i]}) -> test {j} (label {labels['labels_test'][j]}): "
            f"{_fmt(infl.estimate[j, 0], infl.ci_low[j, 0], infl.ci_high[j, 0])}")
    if record.n_runs >= 4:
        say(f"\n{split_half_reliability(record, top_k=1).summary()}.")
    else:
        say(f"\nsplit-half reliability: skipped ({record.n_runs} runs; it needs at least 4).")
    _write_report(folder, Path(out) / REPORT_FOLDER, record, say)
    return QuickstartResult(noisy, top, found, low_found)


def _write_report(folder: Path, out: Path, record, say) -> None:
    """The quickstart's ``heldout report``, or one line saying why it was skipped."""
    from ..errors import HeldoutError
    from ..report import build_report

    try:
        report = build_report(folder, out, runs=record)
    except HeldoutError as exc:  # matplotlib (the figures extra) not installed
        say(f"\nreport: skipped: {exc}")
        return
    say(f"\nreport: {report.page} ({len(report.files) // 2} figures, written in {report.seconds:.1f} s)")
