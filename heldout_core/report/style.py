"""What every figure shares: a matplotlib Figure on the Agg canvas, colours, interval wording.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot: nothing
is shown, no global figure list grows, and the Agg canvas renders them the same with any
default backend.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MEMORIZATION = "#c0392b"
CSCORE = "#2471a3"
NEUTRAL = "#7f8c8d"
TRAIN_ACCURACY, HELDOUT_ACCURACY, TEST_ACCURACY = "#1e8449", "#b9770e", "#6c3483"
CELL_FONT = 7  # points; grid captions are three short lines under 1-inch images
DPI = 100


def new_figure(width: float, height: float, *, layout: str | None = "constrained") -> Figure:
    """A Figure of ``width`` x ``height`` inches on an Agg canvas (constrained layout by default;
    None where the caller places everything itself)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def interval_text(estimate: float, low: float, high: float, *, signed: bool = False) -> str:
    """``0.98 [0.91, 1.00]`` (``+0.64 [+0.55, +0.70]`` when ``signed``); ``undefined`` for NaN."""
    if not np.isfinite(estimate):
        return "undefined"
    spec = "+.2f" if signed else ".2f"
    # + 0.0 turns -0.0 into 0.0, and rounding to two places could still print "-0.00"
    clean = lambda v: round(float(v), 2) + 0.0  # noqa: E731
    return f"{clean(estimate):{spec}} [{clean(low):{spec}}, {clean(high):{spec}}]"


def count_text(n: int, noun: str) -> str:
    """``1 training example``, ``3 training examples``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def level_text(confidence: float) -> str:
    """``95%`` for 0.95."""
    return f"{confidence:.0%}" if round(confidence * 100, 6).is_integer() else f"{confidence:.1%}"


def no_data(axes, text: str) -> None:
    """Say on an empty panel why it is empty."""
    axes.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=axes.transAxes, color=NEUTRAL)
    axes.set_xticks([])
    axes.set_yticks([])
