"""Charts of the scores and the runs: distributions, per-class means, widths vs runs, fit.

Each function takes result objects and returns a :class:`matplotlib.figure.Figure` (see
:mod:`.style`); none shows anything or keeps global state. A panel whose data is missing
(all estimates undefined, say) says so in place of a plot, so every figure can be drawn.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .class_means import class_means
from .convergence import IntervalWidthCurve
from .style import (CSCORE, HELDOUT_ACCURACY, MEMORIZATION, NEUTRAL, TEST_ACCURACY, TRAIN_ACCURACY, level_text,
                    new_figure, no_data)

MANY_CLASSES = 20  # above this many classes, per-class charts sort classes and drop tick labels


def _named(memorization, cscore) -> list[tuple[str, object, str]]:
    results = [("Memorization", memorization, MEMORIZATION), ("C-score", cscore, CSCORE)]
    present = [(name, result, colour) for name, result, colour in results if result is not None]
    if not present:
        raise ValueError("pass a memorization or a C-score result (or both).")
    return present


def score_distributions(memorization=None, cscore=None) -> Figure:
    """Histograms of the estimates and of their interval widths; one column per result given.

    Args:
        memorization: a :class:`~heldout_core.estimators.MemorizationResult` (or any result
            with ``estimate``, ``ci_low``, ``ci_high``, ``confidence``), or None.
        cscore: a :class:`~heldout_core.estimators.ConsistencyResult`, or None.

    Top row: the estimates (log count axis, since most examples sit near one value), split by
    whether the interval excludes 0 (memorization) or not. Bottom row: the widths of the
    intervals, with their median marked.
    """
    present = _named(memorization, cscore)
    figure = new_figure(4.6 * len(present), 6.2)
    axes = figure.subplots(2, len(present), squeeze=False)
    for column, (name, result, colour) in enumerate(present):
        top, bottom = axes[0, column], axes[1, column]
        level = level_text(result.confidence)
        estimate = np.asarray(result.estimate, dtype=np.float64)
        defined = np.isfinite(estimate)
        top.set_title(f"{name}: {int(defined.sum())} of {len(estimate)} examples defined")
        bottom.set_title(f"{name}: widths of the {level} intervals")
        if not defined.any():
            no_data(top, "no defined estimates: every example was always or never held out")
            no_data(bottom, "no intervals")
            continue
        bins = np.linspace(-1, 1, 41) if name == "Memorization" else np.linspace(0, 1, 21)
        if name == "Memorization":
            sure = defined & (np.asarray(result.ci_low) > 0)
            below, _ = np.histogram(estimate[defined & ~sure], bins)
            above, _ = np.histogram(estimate[sure], bins)
            # stacked: the excluded-0 part on top of the rest
            top.stairs(below + above, bins, fill=True, color=colour, label=f"{level} interval above 0 ({int(sure.sum())})")
            top.stairs(below, bins, fill=True, color=NEUTRAL, label=f"interval includes 0 ({int((defined & ~sure).sum())})")
            top.legend(loc="upper center", fontsize=8)
        else:
            top.stairs(np.histogram(estimate[defined], bins)[0], bins, fill=True, color=colour)
        top.set_yscale("log")
        top.set_xlabel(name)
        top.set_ylabel("examples (log scale)")
        width = (np.asarray(result.ci_high) - np.asarray(result.ci_low))[defined]
        counts, edges = np.histogram(width, bins=30)
        bottom.stairs(counts, edges, fill=True, color=colour, alpha=0.8)
        median = float(np.median(width))
        bottom.axvline(median, color="black", linestyle="--", label=f"median {median:.3f}")
        bottom.legend(fontsize=8)
        bottom.set_xlabel(f"{level} interval width (ci_high - ci_low)")
        bottom.set_ylabel("examples")
    return figure


def class_summary(labels, memorization=None, cscore=None, *, confidence: float = 0.95) -> Figure:
    """Mean memorization and mean C-score of each class, with t intervals over its examples.

    Args:
        labels: int (n_train,) class of each training example.
        memorization, cscore: results over the training set (either may be None).
        confidence: level of the per-class intervals (see :mod:`.class_means`).

    With more than :data:`MANY_CLASSES` classes the classes are sorted by their mean and the
    ticks name ranks instead of classes.
    """
    present = _named(memorization, cscore)
    figure = new_figure(9.0 if len(np.unique(labels)) > MANY_CLASSES else 7.5, 2.9 * len(present))
    axes = figure.subplots(len(present), 1, squeeze=False)[:, 0]
    for ax, (name, result, colour) in zip(axes, present):
        means = class_means(result.estimate, labels, confidence=confidence)
        noun = "C-score" if result is cscore else "memorization"
        ax.set_title(f"Mean {noun} per class ({level_text(confidence)} t interval over its examples)")
        ax.set_ylabel(f"mean {noun}")
        if not len(means.classes):
            no_data(ax, "no defined estimates")
            continue
        many = len(means.classes) > MANY_CLASSES
        order = np.argsort(means.mean, kind="stable") if many else np.arange(len(means.classes))
        x = np.arange(len(order))
        error = np.vstack([means.mean - means.ci_low, means.ci_high - means.mean])[:, order]
        ax.errorbar(x, means.mean[order], yerr=np.nan_to_num(error), fmt="o", color=colour, ecolor="black",
                    elinewidth=1, capsize=2 if not many else 0, markersize=4 if not many else 2)
        if many:
            ax.set_xlabel(f"{len(order)} classes, sorted by their mean")
        else:
            ax.set_xticks(x, [str(c) for c in means.classes[order]])
            ax.set_xlabel("class")
        ax.grid(axis="y", alpha=0.3)
    return figure


def interval_widths_by_runs(*curves: IntervalWidthCurve) -> Figure:
    """Median interval width (with the 10th-90th percentile band) against the number of runs.

    Each :class:`~.convergence.IntervalWidthCurve` gets a panel, log-log, with a dashed line
    extending the last point as 1/sqrt(runs) up to four times the runs: what more runs would
    give if the widths keep shrinking at the binomial rate (examples that are always right
    narrow faster, about like 1/runs). When some examples are undefined at small counts, the
    legend says how many were defined.
    """
    if not curves:
        raise ValueError("pass at least one IntervalWidthCurve.")
    figure = new_figure(4.8 * len(curves), 4.4)
    axes = figure.subplots(1, len(curves), squeeze=False)[0]
    for ax, curve in zip(axes, curves):
        colour = MEMORIZATION if curve.statistic == "memorization" else CSCORE
        level = level_text(curve.confidence)
        ax.set_title(f"{curve.statistic[0].upper()}{curve.statistic[1:]}: {level} interval width vs runs")
        ax.set_xlabel("runs (nested random subsets of the records)")
        ax.set_ylabel(f"{level} interval width")
        ok = np.isfinite(curve.median)
        if not ok.any():
            no_data(ax, "no defined estimates at any number of runs")
            continue
        runs = curve.n_runs[ok]
        defined = curve.defined[ok]
        note = "" if defined.min() >= 1 else f"; {defined.min():.0%} of examples defined at {runs[np.argmin(defined)]} runs"
        ax.fill_between(runs, curve.low[ok], curve.high[ok], color=colour, alpha=0.2, label="10th-90th percentile")
        ax.plot(runs, curve.median[ok], "o-", color=colour, label=f"median over defined examples{note}")
        last_runs, last = float(runs[-1]), float(curve.median[ok][-1])
        ahead = np.geomspace(last_runs, 4 * last_runs, 10)
        ax.plot(ahead, last * np.sqrt(last_runs / ahead), "--", color="black",
                label=f"1/sqrt(runs): {last:.3f} -> {last / 2:.3f} at {4 * last_runs:.0f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # plain-number ticks at the first, a middle and the last subset size, and the line's end
        ticks = sorted({int(runs[0]), int(runs[len(runs) // 2]), int(last_runs), 4 * int(last_runs)})
        ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return figure


def fit_figure(diagnostics) -> Figure:
    """How well the models fit their training subsets (a :class:`~heldout_core.diagnostics.FitDiagnostics`).

    Left: each run's accuracy on its own training subset, on the training examples it held out,
    and on the test set, by run (sorted by training accuracy), with the fit threshold. Right:
    the fraction of the runs training on an example that fit it, over examples (log count).
    """
    figure = new_figure(10.0, 3.8)
    left, right = figure.subplots(1, 2)
    order = np.argsort(diagnostics.train_accuracy, kind="stable")
    x = np.arange(1, len(order) + 1)
    for values, colour, name in ((diagnostics.train_accuracy, TRAIN_ACCURACY, "on its training subset"),
                                 (diagnostics.heldout_accuracy, HELDOUT_ACCURACY, "on its held-out training examples"),
                                 (diagnostics.test_accuracy, TEST_ACCURACY, "on the test set")):
        if np.isfinite(values).any():
            left.plot(x, np.asarray(values)[order], ".", markersize=3 if len(x) > 200 else 6, color=colour,
                      label=f"{name} (mean {np.nanmean(values):.2%})")
    left.axhline(diagnostics.threshold, color="black", linestyle="--", linewidth=1,
                 label=f"fit threshold {diagnostics.threshold:.0%}")
    left.set_title(f"Accuracy of each of the {len(x)} runs")
    left.set_xlabel("run (sorted by training accuracy)")
    left.set_ylabel("accuracy")
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    rate = np.asarray(diagnostics.fit_rate)
    defined = np.isfinite(rate)
    right.set_title("Fit of each training example when trained on")
    if defined.any():
        right.stairs(np.histogram(rate[defined], np.linspace(0, 1, 21))[0], np.linspace(0, 1, 21), fill=True,
                     color=TRAIN_ACCURACY)
        right.set_yscale("log")
        unfit = int((rate[defined] < 0.5).sum())
        right.axvline(0.5, color="black", linestyle=":", label=f"{unfit} fitted by fewer than half")
        right.legend(fontsize=7, loc="upper left")
    else:
        no_data(right, "no example was ever trained on")
    right.set_xlabel("fraction of the runs that trained on it and fit it")
    right.set_ylabel("training examples (log scale)")
    return figure
