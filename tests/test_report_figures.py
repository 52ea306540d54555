"""Each figure of ``heldout report`` on small results, drawn with matplotlib's Agg backend: a
Figure comes back, with the right panels and cells, titles and labels, and intervals drawn."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from scipy import stats

from heldout_core import RunSet
from heldout_core.diagnostics import fit_diagnostics
from heldout_core.estimators import consistency, high_influence_pairs, influence_topk, memorization
from heldout_core.report import charts, grids
from heldout_core.report.class_means import class_means
from heldout_core.report.convergence import interval_width_curve, run_counts
from heldout_core.report.pairs import influence_rows, rows_from_pairs, rows_from_topk

from conftest import random_records

matplotlib.use("Agg")


def _texts(figure: Figure) -> list[str]:
    """Every text drawn in the figure: titles, labels, tick labels, annotations, legends."""
    found = []
    for artist in figure.findobj(matplotlib.text.Text):
        if artist.get_visible() and artist.get_text():
            found.append(artist.get_text())
    return found


def _panels(figure: Figure) -> list:
    """The visible axes of the figure, subfigures included (twin axes are part of their panel)."""
    return [ax for ax in figure.findobj(matplotlib.axes.Axes) if ax.get_visible() and ax.axison]


def _cells(figure: Figure) -> dict[str, object]:
    """gid -> artist of every cell of an image grid (pictures and blank tiles)."""
    return {a.get_gid(): a for a in figure.findobj(lambda a: isinstance(a, (AxesImage, Rectangle)) and a.get_gid())}


def _renders(figure: Figure) -> None:
    for fmt in ("png", "pdf"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt)
        assert buffer.tell() > 1000


@pytest.fixture(scope="module")
def results():
    mask, correct, correct_test = random_records(3, 120, 60, 30, p_in=0.95, p_out=0.6)
    labels = np.arange(60) % 3
    runs = RunSet.from_arrays(mask, correct, correct_test, subset_ratio=0.7, labels_train=labels,
                              labels_test=np.arange(30) % 3)
    mem = memorization(runs)
    return dict(runs=runs, mem=mem, cscore=consistency(runs), topk=influence_topk(runs, 2),
                pairs=high_influence_pairs(runs, infl_threshold=0.0, mem_threshold=0.0, memorization_result=mem),
                fit=fit_diagnostics(runs))


# ----------------------------------------------------------------------------- charts
def test_score_distributions_has_estimates_and_interval_widths(results):
    figure = charts.score_distributions(results["mem"], results["cscore"])
    assert isinstance(figure, Figure)
    panels = _panels(figure)
    assert len(panels) == 4
    titles = [ax.get_title() for ax in panels]
    assert "Memorization: 60 of 60 examples defined" in titles and "C-score: widths of the 95% intervals" in titles
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in panels)
    width = results["mem"].ci_high - results["mem"].ci_low
    assert f"median {np.median(width):.3f}" in _texts(figure)  # the interval widths are drawn, with their median
    sure = int((results["mem"].ci_low > 0).sum())
    assert f"95% interval above 0 ({sure})" in _texts(figure)
    _renders(figure)


def test_score_distributions_with_one_result_and_nothing_defined(results):
    only = charts.score_distributions(cscore=results["cscore"])
    assert len(_panels(only)) == 2
    mem = results["mem"]
    undefined = type(mem)(**{**mem.__dict__, "estimate": np.full(60, np.nan)})
    figure = charts.score_distributions(undefined)
    assert any("no defined estimates" in t for t in _texts(figure))
    _renders(figure)
    with pytest.raises(ValueError):
        charts.score_distributions()


def test_class_summary_draws_an_interval_per_class(results):
    runs = results["runs"]
    figure = charts.class_summary(runs.labels_train, results["mem"], results["cscore"])
    panels = _panels(figure)
    assert len(panels) == 2
    for ax in panels:
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 1 and len(bars[0].lines[0].get_xdata()) == 3  # one point per class
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
        assert ax.get_title().startswith("Mean ") and "t interval" in ax.get_title()
    many = charts.class_summary(np.arange(60) % 30, results["mem"])
    assert "30 classes, sorted by their mean" in [ax.get_xlabel() for ax in _panels(many)]
    _renders(figure)


def test_interval_widths_by_runs_draws_the_band_and_the_extrapolation(results):
    curves = [interval_width_curve(results["runs"], "memorization"), interval_width_curve(results["runs"], "C-score")]
    figure = charts.interval_widths_by_runs(*curves)
    panels = _panels(figure)
    assert len(panels) == 2
    for ax, curve in zip(panels, curves):
        assert ax.get_title() == f"{curve.statistic.capitalize()}: 95% interval width vs runs"
        assert ax.get_xscale() == "log" and ax.get_xlabel().startswith("runs")
        assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the 10th-90th percentile band
        labels = [line.get_label() for line in ax.get_lines()]
        assert any(label.startswith("median") for label in labels) and any("1/sqrt(runs)" in x for x in labels)
    _renders(figure)


def test_fit_figure_shows_each_run_and_the_threshold(results):
    fit = results["fit"]
    figure = charts.fit_figure(fit)
    left, right = _panels(figure)
    assert left.get_title() == "Accuracy of each of the 120 runs"
    series = [line for line in left.get_lines() if len(line.get_xdata()) == 120]
    assert len(series) == 3  # subset, held-out and test accuracy of every run
    assert any("fit threshold 99%" in line.get_label() for line in left.get_lines())
    assert right.get_title().startswith("Fit of each training example") and right.get_yscale() == "log"
    _renders(figure)


# ----------------------------------------------------------------------------- grids
def test_extremes_grid_shows_pictures_labels_and_intervals(results):
    mem = results["mem"]
    high, low = grids.extreme_ids(mem.estimate, 5)
    pictures = {int(i): np.full((8, 8), 0.5) for i in high}  # pictures for some: the rest are tiles
    clean = results["runs"].labels_train.copy()
    clean[high[0]] = (clean[high[0]] + 1) % 3
    figure = grids.extremes_grid(mem, "memorization", labels=results["runs"].labels_train, clean_labels=clean,
                                 images=pictures, top=5, columns=4)
    cells = _cells(figure)
    assert sorted(cells) == sorted(f"train {i}" for i in np.concatenate([high, low]))
    assert sum(isinstance(a, AxesImage) for a in cells.values()) == 5
    texts = _texts(figure)
    assert "Most memorized" in texts and "Least memorized" in texts
    i = int(high[0])
    caption = f"#{i} label {results['runs'].labels_train[i]} (was {clean[i]})\nmem " \
              f"{mem.estimate[i]:.2f} [{mem.ci_low[i]:.2f}, {mem.ci_high[i]:.2f}]"
    assert caption in texts
    assert any(t.startswith("Memorization: id, given label, estimate [95% interval]") for t in texts)
    _renders(figure)


def test_extreme_ids_are_disjoint_and_skip_undefined():
    estimate = np.array([0.5, np.nan, 0.9, 0.1, 0.9, -0.2])
    high, low = grids.extreme_ids(estimate, 2)
    assert high.tolist() == [2, 4] and low.tolist() == [5, 3]
    high, low = grids.extreme_ids(estimate, 4)
    assert high.tolist() == [2, 4, 0, 3] and low.tolist() == [5]
    assert [len(x) for x in grids.extreme_ids(np.full(3, np.nan), 2)] == [0, 0]


def test_cscore_grid_without_pictures_or_labels(results):
    cscore = results["cscore"]
    figure = grids.extremes_grid(cscore, "C-score", top=3)
    cells = _cells(figure)
    assert len(cells) == 6 and all(isinstance(a, Rectangle) for a in cells.values())  # blank tiles with ids
    low, _ = grids.extreme_ids(-cscore.estimate, 3)
    assert f"train\n#{low[0]}" in _texts(figure)
    assert "Lowest C-scores" in _texts(figure)
    empty = grids.extremes_grid(type(cscore)(**{**cscore.__dict__, "estimate": np.full(60, np.nan)}), "C-score")
    assert any("no defined C-score" in t for t in _texts(empty))
    _renders(figure)


def test_influence_grid_rows_are_train_then_tests(results):
    rows = rows_from_pairs(results["pairs"], max_rows=3, per_row=4)
    assert len(rows) == 3
    pictures = {i: np.zeros((5, 7, 3)) for i in range(60)}  # colour, not square: the aspect is kept
    figure = grids.influence_grid(rows, labels_train=results["runs"].labels_train,
                                  labels_test=results["runs"].labels_test, train_images=pictures)
    cells = _cells(figure)
    expected = {f"train {r.train_id}" for r in rows} | {f"test {j}" for r in rows for j in r.test_ids}
    assert expected <= set(cells)
    assert all(isinstance(cells[f"train {r.train_id}"], AxesImage) for r in rows)
    assert all(isinstance(cells[f"test {j}"], Rectangle) for r in rows for j in r.test_ids)
    first = rows[0]
    texts = _texts(figure)
    assert f"test #{first.test_ids[0]} label {results['runs'].labels_test[first.test_ids[0]]}\ninfl " \
           f"{first.influence[0]:+.2f} [{first.ci_low[0]:+.2f}, {first.ci_high[0]:+.2f}]" in texts
    assert any(t.startswith(f"train #{first.train_id} label") and "\nmem " in t for t in texts)
    assert any(t.startswith("High-influence pairs") for t in texts)
    _renders(figure)
    assert any("no influence pairs" in t for t in _texts(grids.influence_grid([])))


# ----------------------------------------------------------------------------- the numbers drawn
def test_influence_rows_group_by_training_example_strongest_first():
    rows = influence_rows([4, 7, 4, 4, -1, 7], [0, 1, 2, 3, 4, 5], [0.2, 0.9, 0.5, np.nan, 1.0, 0.1],
                          [0.1, 0.8, 0.4, np.nan, 0.9, 0.0], [0.3, 1.0, 0.6, np.nan, 1.0, 0.2], per_row=5)
    assert [r.train_id for r in rows] == [7, 4]  # -1 (padding) and NaN are left out
    assert rows[0].test_ids.tolist() == [1, 5] and rows[1].test_ids.tolist() == [2, 0]
    assert np.isnan(rows[0].memorization)


def test_rows_from_topk_carry_memorization(results):
    rows = rows_from_topk(results["topk"], results["mem"], max_rows=2, per_row=2)
    best = np.nanargmax(results["topk"].estimate[:, 0])
    assert rows[0].train_id == results["topk"].train_idx[best, 0]
    assert rows[0].memorization == results["mem"].estimate[rows[0].train_id]


def test_class_means_match_scipy_t_intervals():
    rng = np.random.default_rng(0)
    values = rng.normal(size=50)
    values[3] = np.nan
    labels = np.arange(50) % 4
    labels[-1] = 9  # a class of one example: no interval
    means = class_means(values, labels, confidence=0.9)
    assert means.classes.tolist() == [0, 1, 2, 3, 9]
    for k, c in enumerate(means.classes[:4]):
        x = values[(labels == c) & np.isfinite(values)]
        low, high = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert means.count[k] == len(x)
        np.testing.assert_allclose([means.mean[k], means.ci_low[k], means.ci_high[k]], [x.mean(), low, high])
    assert np.isnan(means.ci_low[4]) and means.count[4] == 1


def test_interval_width_curve_is_nested_and_shrinks(results):
    runs = results["runs"]
    curve = interval_width_curve(runs, "memorization")
    assert curve.n_runs[0] == 10 and curve.n_runs[-1] == 120 and np.all(np.diff(curve.n_runs) > 0)
    np.testing.assert_allclose(curve.median[-1], np.median(results["mem"].ci_high - results["mem"].ci_low))
    assert curve.median[-1] < curve.median[0] / 2
    assert np.all(curve.low <= curve.median) and np.all(curve.median <= curve.high)
    assert run_counts(1).tolist() == [1] and run_counts(5).tolist() == [5]
    sampled = interval_width_curve(runs, "C-score", max_examples=20, points=3)
    assert sampled.n_examples == 20 and len(sampled.n_runs) == 3
