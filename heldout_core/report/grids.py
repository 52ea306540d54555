"""Image grids: the most and least memorized examples (or lowest and highest C-scores), and the
influence pairs as in Feldman & Zhang (2020)'s figure.

Every cell is one example: its picture (or, without one, its id on a blank tile), its given
label, and its estimate with the interval. Pictures are passed as a mapping from example id to
an image, float (H, W) or (H, W, 3) in [0, 1] (see :mod:`heldout_core.example_images`); a
missing id just gets the blank tile. Cells are drawn on one axes per section, placed in inches
(an axes per cell would cost more to lay out than everything else in a report); each cell's
picture or tile carries the gid ``"train <id>"`` or ``"test <id>"``, so a caller (or a test)
can find the cells.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .pairs import InfluenceRow
from .style import CELL_FONT, CSCORE, MEMORIZATION, NEUTRAL, interval_text, level_text, new_figure, no_data

# inches: a cell is a two-line caption over a 1-inch picture
CELL_WIDTH, CELL_HEIGHT, CAPTION, PICTURE = 1.3, 1.45, 0.33, 1.0
TITLE, SECTION, GAP, MIN_WIDTH = 0.4, 0.3, 0.25, 4.0  # figure title, section title, row gap, narrowest figure
COLUMNS = 6
STATISTICS = {"memorization": ("Most memorized", "Least memorized", "mem", MEMORIZATION),
              "C-score": ("Lowest C-scores", "Highest C-scores", "C", CSCORE)}


def extreme_ids(estimate, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the ``top`` largest defined estimates (largest first) and of the ``top`` smallest
    (smallest first), never the same id twice (ties: smaller id first)."""
    estimate = np.asarray(estimate, dtype=np.float64)
    defined = np.flatnonzero(np.isfinite(estimate))  # ascending, so stable sorts break ties by id
    high = defined[np.argsort(-estimate[defined], kind="stable")][:top]
    rest = np.setdiff1d(defined, high)
    low = rest[np.argsort(estimate[rest], kind="stable")][:top]
    return high.astype(np.int64), low.astype(np.int64)


def _label_text(i: int, labels, clean_labels) -> str:
    if labels is None:
        return ""
    text = f" label {int(labels[i])}"
    if clean_labels is not None and int(clean_labels[i]) != int(labels[i]):
        text += f" (was {int(clean_labels[i])})"
    return text


def _canvas(figure, bottom: float, height: float):
    """An axes spanning the figure's width from ``bottom`` for ``height`` (figure fractions) whose
    data units are inches from its top-left corner, so cells can be placed by size."""
    ax = figure.add_axes((0.0, bottom, 1.0, height))
    width_in, height_in = figure.get_size_inches()
    ax.set_xlim(0, width_in)
    ax.set_ylim(height * height_in, 0)  # y grows downwards, like the rows
    ax.set_autoscale_on(False)  # pictures are placed by their extents; the limits stay in inches
    ax.set_axis_off()
    return ax


def draw_cell(ax, x: float, y: float, split: str, i: int, caption: str, picture: np.ndarray | None, *,
              frame: str | None = None) -> None:
    """One example in the cell whose top-left corner is (``x``, ``y``) inches: ``caption``, then
    its picture scaled into a square of :data:`PICTURE` inches (or its id on a blank tile). The
    picture's artist (image or tile) gets the gid ``"<split> <id>"``."""
    ax.text(x + CELL_WIDTH / 2, y + CAPTION - 0.04, caption, ha="center", va="bottom", fontsize=CELL_FONT)
    left, top = x + (CELL_WIDTH - PICTURE) / 2, y + CAPTION
    if picture is None:
        tile = ax.add_patch(Rectangle((left, top), PICTURE, PICTURE, facecolor="#f2f3f4", edgecolor="#d5d8dc"))
        tile.set_gid(f"{split} {i}")
        ax.text(left + PICTURE / 2, top + PICTURE / 2, f"{split}\n#{i}", ha="center", va="center",
                fontsize=CELL_FONT + 1, color=NEUTRAL)
        box = (left, top, PICTURE, PICTURE)
    else:
        h, w = picture.shape[:2]
        scale = PICTURE / max(h, w)  # keep the aspect ratio inside the square
        box = (left + (PICTURE - w * scale) / 2, top + (PICTURE - h * scale) / 2, w * scale, h * scale)
        image = ax.imshow(picture, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto",
                          extent=(box[0], box[0] + box[2], box[1] + box[3], box[1]))
        image.set_gid(f"{split} {i}")
    if frame is not None:
        ax.add_patch(Rectangle(box[:2], box[2], box[3], fill=False, edgecolor=frame, linewidth=2))


def _grid_axes(figure, bands: list[tuple[str, int]]):
    """One canvas per band (title, rows) stacked under the figure title; yields (canvas, title)."""
    _, height_in = figure.get_size_inches()
    top = height_in - TITLE
    for title, rows in bands:
        band = _header(title) + rows * CELL_HEIGHT
        ax = _canvas(figure, (top - band) / height_in, band / height_in)
        if title:
            ax.text(ax.get_xlim()[1] / 2, SECTION / 2, title, ha="center", va="center", fontsize=10,
                    fontweight="bold")
        yield ax
        top -= band


def _header(title: str) -> float:
    return SECTION if title else GAP / 2


def _height(bands: list[tuple[str, int]]) -> float:
    return TITLE + sum(_header(title) + rows * CELL_HEIGHT for title, rows in bands)


def extremes_grid(result, statistic: str = "memorization", *, labels=None, clean_labels=None,
                  images: Mapping[int, np.ndarray] | None = None, top: int = 12, columns: int = COLUMNS) -> Figure:
    """The ``top`` highest and ``top`` lowest training examples by ``statistic``, as pictures.

    Args:
        result: memorization or C-score result over the training set (``estimate``, ``ci_low``,
            ``ci_high``, ``confidence``).
        statistic: ``"memorization"`` (sections: most, then least memorized) or ``"C-score"``
            (lowest, then highest).
        labels: int (n_train,) given labels, or None; clean_labels: the labels before
            deliberate flipping (shown as "was k" where they differ), or None.
        images: training example id -> picture; None or missing ids give blank tiles.
        top: examples per section; columns: cells per grid row.
    """
    first, second, short, _ = STATISTICS[statistic]
    high, low = extreme_ids(result.estimate, top)
    sections = [(first, high), (second, low)] if statistic == "memorization" else [(first, low), (second, high)]
    columns = max(1, min(columns, max(len(high), 1)))
    bands = [(title, max(1, math.ceil(len(ids) / columns))) for title, ids in sections]
    figure = new_figure(max(CELL_WIDTH * columns, MIN_WIDTH), _height(bands), layout=None)
    level = level_text(result.confidence)
    figure.suptitle(f"{statistic[0].upper()}{statistic[1:]}: id, given label, estimate [{level} interval]", fontsize=10,
                    y=1 - 0.5 * TITLE / _height(bands), va="center")
    if not len(high):
        no_data(figure.add_subplot(), f"no defined {statistic} estimates to show")
        return figure
    for ax, (_, ids) in zip(_grid_axes(figure, bands), sections):
        for n, i in enumerate(ids):
            caption = (f"#{i}{_label_text(i, labels, clean_labels)}\n{short} "
                       f"{interval_text(result.estimate[i], result.ci_low[i], result.ci_high[i])}")
            row, column = divmod(n, columns)
            draw_cell(ax, column * CELL_WIDTH, SECTION + row * CELL_HEIGHT, "train", int(i), caption,
                      None if images is None else images.get(int(i)))
    return figure


def influence_grid(rows: Sequence[InfluenceRow], *, labels_train=None, labels_test=None,
                   train_images: Mapping[int, np.ndarray] | None = None,
                   test_images: Mapping[int, np.ndarray] | None = None, confidence: float = 0.95,
                   title: str = "High-influence pairs") -> Figure:
    """Each row: a training example (label, memorization), then the test examples it influences
    most (label, influence with interval), as in Feldman & Zhang (2020)'s figure.

    Args:
        rows: from :func:`~.pairs.rows_from_pairs` or :func:`~.pairs.rows_from_topk`.
        labels_train, labels_test: given labels, or None.
        train_images, test_images: id -> picture for each split (None: blank tiles).
        confidence: level of the intervals, for the title.
        title: the figure's title.
    """
    per_row = max([len(r.test_ids) for r in rows], default=1)
    level = level_text(confidence)
    bands = [("", max(len(rows), 1))]
    height = _height(bands)
    figure = new_figure(max(CELL_WIDTH * (per_row + 1) + GAP, MIN_WIDTH), height, layout=None)
    figure.suptitle(f"{title}: training example (mem [{level}]) | test examples it influences most "
                    f"(infl [{level}])", fontsize=10, y=1 - 0.5 * TITLE / height, va="center")
    if not rows:
        no_data(figure.add_subplot(), "no influence pairs to show")
        return figure
    ax = next(_grid_axes(figure, bands))
    pick = lambda images, i: None if images is None else images.get(int(i))  # noqa: E731
    for r, row in enumerate(rows):
        y = _header("") + r * CELL_HEIGHT
        mem = interval_text(row.memorization, row.mem_low, row.mem_high)
        draw_cell(ax, 0.0, y, "train", row.train_id,
                  f"train #{row.train_id}{_label_text(row.train_id, labels_train, None)}\nmem {mem}",
                  pick(train_images, row.train_id), frame=MEMORIZATION)
        for c, (j, est, lo, hi) in enumerate(zip(row.test_ids, row.influence, row.ci_low, row.ci_high)):
            draw_cell(ax, GAP + (c + 1) * CELL_WIDTH, y, "test", int(j),
                      f"test #{j}{_label_text(int(j), labels_test, None)}\ninfl {interval_text(est, lo, hi, signed=True)}",
                      pick(test_images, j))
    ax.axvline(CELL_WIDTH + GAP / 2, color=NEUTRAL, linewidth=0.8)
    return figure
