"""What a report says and shows: the summary, what is missing, and the figures with their text.

:func:`report_content` turns records (and scores) into :class:`Content`: facts for the summary,
one sentence per thing the report cannot show, and each figure with its caption and alt text.
It writes nothing (the builder does); every figure comes from :mod:`.charts` or :mod:`.grids`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..records import RunSet
from .page import PageFigure
from .scores import INFL_THRESHOLD, MEM_THRESHOLD, Scores, gather_scores
from .style import DPI, count_text, interval_text, level_text

MEMORIZED = 0.25  # lower bound above which an example counts as memorized with confidence


@dataclass
class Content:
    """Summary facts (term, text), missing-part sentences, and (PageFigure, Figure) pairs."""

    facts: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    figures: list[tuple[PageFigure, object]] = field(default_factory=list)

    def add(self, name: str, title: str, figure, caption: str, alt: str) -> None:
        width, height = (int(round(v * DPI)) for v in figure.get_size_inches())
        self.figures.append((PageFigure(name, title, caption, alt, width, height), figure))


def _mean_interval(values: np.ndarray, confidence: float) -> str:
    from .class_means import class_means

    means = class_means(values, np.zeros(len(values), dtype=np.int64), confidence=confidence)
    if not len(means.mean):
        return "undefined"
    return interval_text(means.mean[0], means.ci_low[0], means.ci_high[0])


def _runs_per_ratio(runs: RunSet) -> str:
    return "; ".join(f"ratio {r:g}: {int(np.isclose(runs.subset_ratio, r, rtol=0, atol=1e-9).sum())} runs"
                     for r in runs.ratios)


def _median_width(result) -> float:
    width = (np.asarray(result.ci_high) - np.asarray(result.ci_low))[np.isfinite(result.estimate)]
    return float(np.median(width)) if width.size else float("nan")


def report_content(runs: RunSet, one: RunSet, *, scores_dir: Path | None, data: Path | None,
                   experiment: str | None, extras: dict, top: int, labels_file: Path | None) -> Content:
    """Everything the page shows for ``runs`` (all ratios) and ``one`` (the report's ratio).

    Args:
        scores_dir: where ``heldout estimate``'s files may be (see :mod:`.scores`).
        data: the experiment's data, for pictures; experiment: whose pictures.
        extras: ``noisy_idx`` / ``clean_labels_train`` from the labels file, if any.
        top: examples per group in the grids.
        labels_file: where the labels came from (for the summary), or None.
    """
    from ..diagnostics import fit_diagnostics

    content = Content()
    ratio = float(one.ratios[0])
    scores = gather_scores(runs, one, scores_dir)
    mem, cscore = scores.memorization, scores.cscore
    level = level_text(mem.confidence)
    content.missing += scores.notes

    content.facts.append(("Experiment", experiment or "not named by the records"))
    content.facts.append(("Records", f"{runs.n_runs} runs ({_runs_per_ratio(runs)}); {runs.n_train} training "
                                     f"and {runs.n_test} test examples"))
    content.facts.append(("Labels", f"from {labels_file}" if labels_file else
                          ("in the records" if runs.labels_train is not None else "none")))
    diagnostics = fit_diagnostics(runs)
    content.facts.append(("Fit", diagnostics.summary()))
    if diagnostics.warning():
        content.missing.append(f"Fit: {diagnostics.warning()}")
    _memorization_facts(content, one, mem, ratio, scores)
    _cscore_facts(content, cscore, scores.sources["C-score"])
    _influence_facts(content, one, scores)
    _label_facts(content, runs, mem, cscore, extras)

    from .examples import fetch_images
    from .grids import extreme_ids
    from .pairs import rows_from_pairs, rows_from_topk

    pair_rows = rows_from_pairs(scores.pairs) if scores.pairs is not None and len(scores.pairs.tr_idx) else []
    from_pairs = bool(pair_rows)
    if not pair_rows and scores.topk is not None:
        pair_rows = rows_from_topk(scores.topk, mem)
    shown_train = [i for result in (mem, cscore) for ids in extreme_ids(result.estimate, top) for i in ids]
    shown_train += [row.train_id for row in pair_rows]
    shown_test = [j for row in pair_rows for j in row.test_ids]
    images = fetch_images(experiment, data, shown_train, shown_test)
    if images.missing:
        content.missing.append(f"Images: none shown ({images.missing}); the grids show example ids instead.")

    _add_fit(content, diagnostics)
    _add_distributions(content, mem, cscore, level)
    _add_extremes(content, mem, cscore, runs, extras, images, top, level)
    _add_influence(content, one, pair_rows, from_pairs, images, mem.confidence)
    _add_classes(content, runs, mem, cscore)
    _add_widths(content, runs, one, ratio)
    return content


# ---------------------------------------------------------------------------- summary facts
def _score_summary(result, sure: str, source: str) -> str:
    """The summary of one statistic: its intervals, the mean over examples with a t interval,
    the median interval width, ``sure`` (counts of intervals beyond a line), undefined, source."""
    level = level_text(result.confidence)
    return (f"{level} {result.method} intervals; mean {_mean_interval(np.asarray(result.estimate), result.confidence)} "
            f"({level} t interval over examples), median interval width {_median_width(result):.3f}; {sure}; "
            f"{result.n_undefined} undefined; {source}")


def _memorization_facts(content: Content, one: RunSet, mem, ratio: float, scores: Scores) -> None:
    defined = np.isfinite(mem.estimate)
    never_out, never_in = int((np.asarray(mem.n_out) == 0).sum()), int((np.asarray(mem.n_in) == 0).sum())
    sure = f"{count_text(int((mem.ci_low > 0).sum()), 'example')} with the interval above 0, " \
           f"{int((mem.ci_low > MEMORIZED).sum())} above {MEMORIZED}"
    text = f"at ratio {ratio:g} ({one.n_runs} runs): {_score_summary(mem, sure, scores.sources['memorization'])}"
    content.facts.append(("Memorization", text))
    if one.n_runs == 1:
        content.missing.append(f"Only 1 run at ratio {ratio:g}: memorization needs runs that train on an example and "
                               f"runs that hold it out, so it is undefined for every example; train more runs.")
    elif never_out or never_in:
        parts = [f"{count_text(never_out, 'training example')} never held out" if never_out else "",
                 f"{count_text(never_in, 'training example')} never trained on" if never_in else ""]
        content.missing.append(f"Memorization: {' and '.join(p for p in parts if p)} at ratio {ratio:g}, so their "
                               f"memorization and influence are undefined (NaN, left out of every figure); more runs "
                               f"fix this.")
    if not defined.any():
        content.missing.append("Memorization: no example has a defined estimate, so its grid and distribution are empty.")


def _cscore_facts(content: Content, cscore, source: str) -> None:
    ratios = ", ".join(f"{r:g}" for r in cscore.ratios)
    low = f"{count_text(int((cscore.ci_high < 0.5).sum()), 'example')} with the interval below 0.5"
    text = f"over ratios {ratios}: {_score_summary(cscore, low, source)}"
    content.facts.append(("C-scores", text))
    if cscore.n_undefined:
        content.missing.append(f"C-scores: {count_text(cscore.n_undefined, 'training example')} never held out at "
                               f"one or more of the ratios, so their C-score is undefined (NaN, left out of every "
                               f"figure).")


def _influence_facts(content: Content, one: RunSet, scores: Scores) -> None:
    if not one.n_test:
        content.facts.append(("Influence", "not available: the records have no test correctness"))
        content.missing.append("Influence: the records have no test correctness (correctness_test), so there is no "
                               "influence figure.")
        return
    pairs = scores.pairs
    if pairs is None:
        content.missing.append("High-influence pairs: they need class labels of both sets (pass --labels FILE with "
                               "tr_labels/tt_labels); the influence figure shows the strongest pairs of any class.")
    else:
        sure = int((np.asarray(pairs.infl_ci_low) > INFL_THRESHOLD).sum())
        content.facts.append(("High-influence pairs", f"{len(pairs.tr_idx)} (influence >= {INFL_THRESHOLD}, "
                              f"memorization >= {MEM_THRESHOLD}, same class) over {len(np.unique(pairs.tr_idx))} "
                              f"training and {len(np.unique(pairs.tt_idx))} test examples; {sure} with the influence "
                              f"interval above {INFL_THRESHOLD}; {scores.sources['high-influence pairs']}"))
        if not len(pairs.tr_idx):
            content.missing.append("High-influence pairs: none reaches the thresholds; the influence figure shows the "
                                   "strongest pairs instead.")
    if scores.topk is not None:
        strong = int((np.asarray(scores.topk.ci_low)[:, 0] > INFL_THRESHOLD).sum())
        content.facts.append(("Influence", f"{strong} of {one.n_test} test examples have a training example whose "
                              f"influence interval lies above {INFL_THRESHOLD}; {scores.sources['influence']}"))


def _label_facts(content: Content, runs: RunSet, mem, cscore, extras: dict) -> None:
    if runs.labels_train is None:
        content.missing.append("Labels: the records carry no class labels (pass --labels FILE), so there is no "
                               "per-class summary and no high-influence pairs, and the grids show no labels.")
    noisy = extras.get("noisy_idx")
    if noisy is None or not len(noisy):
        return
    k = len(noisy)
    order = lambda v: np.argsort(np.nan_to_num(v, nan=np.inf), kind="stable")  # noqa: E731
    most = order(-np.asarray(mem.estimate))[:k]
    lowest = order(np.asarray(cscore.estimate))[:k]
    content.facts.append(("Flipped labels", f"{k} training labels were flipped on purpose (noisy_idx); "
                          f"{int(np.isin(most, noisy).sum())} of them are among the {k} most memorized examples and "
                          f"{int(np.isin(lowest, noisy).sum())} among the {k} lowest C-scores"))


# ---------------------------------------------------------------------------- figures
def _add_fit(content: Content, diagnostics) -> None:
    from .charts import fit_figure

    figure = fit_figure(diagnostics)
    content.add("fit", "Fit of the runs", figure,
                "Memorization and influence mean what the papers mean only when the models fit their training "
                "subsets. Left: each run's accuracy on its own subset, on the training examples it held out, and on "
                "the test set. Right: how often each training example is fitted by the runs that train on it.",
                f"Scatter plot of {len(diagnostics.train_accuracy)} runs: {diagnostics.summary()}. Histogram of the "
                f"per-example fit rate.")


def _add_distributions(content: Content, mem, cscore, level: str) -> None:
    from .charts import score_distributions

    content.add("distributions", "Distributions of the scores and their intervals", score_distributions(mem, cscore),
                f"Top: memorization (split by whether its {level} interval excludes 0) and C-scores over the training "
                f"examples, on a log count axis. Bottom: the widths of their {level} intervals; narrow intervals mean "
                f"the estimates are settled.",
                f"Four histograms. Memorization of {int(np.isfinite(mem.estimate).sum())} training examples, "
                f"{int((mem.ci_low > 0).sum())} with the {level} interval above 0, median interval width "
                f"{_median_width(mem):.3f}. C-scores, median interval width {_median_width(cscore):.3f}.")


def _add_extremes(content: Content, mem, cscore, runs: RunSet, extras: dict, images, top: int, level: str) -> None:
    from .grids import extreme_ids, extremes_grid

    clean = extras.get("clean_labels_train")
    described = "pictures" if images.train else "tiles with the example id"
    for name, title, result, statistic, groups in (
            ("memorized", "Most and least memorized training examples", mem, "memorization", ("most", "least")),
            ("cscores", "Lowest and highest C-scores", cscore, "C-score", ("lowest", "highest"))):
        high, low = extreme_ids(result.estimate, top)
        first, second = (high, low) if statistic == "memorization" else (low, high)
        figure = extremes_grid(result, statistic, labels=runs.labels_train, clean_labels=clean, images=images.train,
                               top=top)
        content.add(name, title, figure,
                    f"The {len(first)} {groups[0]} and the {len(second)} {groups[1]} by {statistic}; under each: id, "
                    f"given label (\"was k\": the label before it was flipped on purpose) and the estimate with its "
                    f"{level} interval.",
                    f"Grid of {len(first) + len(second)} training examples as {described}: the {len(first)} "
                    f"{groups[0]} ({_span(result, first)}) and the {len(second)} {groups[1]} ({_span(result, second)}), each captioned "
                    f"with id, label and {statistic} with its {level} interval.")


def _span(result, ids) -> str:
    """``from 1.00 to 0.98`` over the estimates of ``ids`` (in their order)."""
    return f"from {result.estimate[ids[0]]:.2f} to {result.estimate[ids[-1]]:.2f}" if len(ids) else "none"


def _add_influence(content: Content, one: RunSet, rows, from_pairs: bool, images, confidence: float) -> None:
    from .grids import influence_grid

    if not one.n_test:
        return
    title = "High-influence pairs" if from_pairs else "Strongest influence pairs"
    figure = influence_grid(rows, labels_train=one.labels_train, labels_test=one.labels_test,
                            train_images=images.train, test_images=images.test, confidence=confidence, title=title)
    level = level_text(confidence)
    chosen = (f"the high-influence pairs (influence >= {INFL_THRESHOLD}, memorization >= {MEM_THRESHOLD}, same class)"
              if from_pairs else "the largest top-k influence estimates, whatever their class or memorization")
    strongest = f"; the strongest influence is {rows[0].influence[0]:+.2f}" if rows else ""
    content.add("influence", title, figure,
                f"As in Feldman & Zhang (2020): each row is a training example (framed; label and memorization) "
                f"followed by the test examples it influences most (label and influence with its {level} interval), "
                f"from {chosen}, strongest first.",
                f"{len(rows)} rows, each a training example followed by up to "
                f"{max([len(r.test_ids) for r in rows], default=0)} test examples it influences{strongest}.")


def _add_classes(content: Content, runs: RunSet, mem, cscore) -> None:
    from .charts import class_summary

    if runs.labels_train is None:
        return
    figure = class_summary(runs.labels_train, mem, cscore, confidence=mem.confidence)
    level = level_text(mem.confidence)
    content.add("classes", "Per-class means", figure,
                f"Mean memorization and mean C-score of each class (given labels), with {level} Student t intervals "
                f"over the class's examples.",
                f"Two dot plots with error bars: mean memorization and mean C-score for each of "
                f"{len(np.unique(runs.labels_train))} classes.")


def _add_widths(content: Content, runs: RunSet, one: RunSet, ratio: float) -> None:
    from .charts import interval_widths_by_runs
    from .convergence import interval_width_curve

    if one.n_runs < 2:
        content.missing.append(f"Interval width vs runs: it needs at least 2 runs at ratio {ratio:g}.")
        return
    curves = [interval_width_curve(one, "memorization"), interval_width_curve(runs, "C-score")]
    mem_curve = curves[0]
    last = mem_curve.median[-1]
    if np.isfinite(last):
        content.facts.append(("More runs", f"the median memorization interval width is {last:.3f} with "
                              f"{mem_curve.n_runs[-1]} runs; at the binomial rate, 4 times the runs would halve it "
                              f"(about {last / 2:.3f}), and examples that are always right narrow faster"))
    content.add("widths_vs_runs", "Interval width vs number of runs", interval_widths_by_runs(*curves),
                "Median (and 10th-90th percentile) interval width on nested random subsets of the runs, with the "
                "1/sqrt(runs) line from the last point: whether more runs would help.",
                f"Two log-log line plots of interval width against runs, from {mem_curve.n_runs[0]} to "
                f"{mem_curve.n_runs[-1]} runs; median memorization width {last:.3f} at all runs.")
