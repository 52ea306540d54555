"""Figures and the HTML report of ``heldout report``.

- :mod:`.charts`: distributions of the scores and their interval widths, per-class means,
  interval width vs runs, fit of the runs;
- :mod:`.grids`: the most and least memorized examples (lowest and highest C-scores) and the
  influence pairs, as image grids;
- :mod:`.convergence`, :mod:`.class_means`, :mod:`.pairs`: the numbers those figures draw;
- :mod:`.scores`, :mod:`.examples`: scores read from ``heldout estimate``'s files or computed,
  pictures asked of the experiment;
- :mod:`.content`, :mod:`.page`, :mod:`.builder`: what the page says, its HTML, and writing it.

Every figure function returns a :class:`matplotlib.figure.Figure` and shows nothing. matplotlib
(the ``figures`` extra) is imported by the modules that draw, never by ``import heldout_core``
or by this package's ``__init__``.
"""

from .builder import Report, build_report

__all__ = ["Report", "build_report"]
