"""``heldout report``: from run records to ``report.html`` and one PNG and PDF per figure.

:func:`build_report` loads the records (or takes a RunSet), finds the labels, reads
``heldout estimate``'s score files where they fit the records (:mod:`.scores`), asks the
experiment for pictures of the examples shown (:mod:`.examples`), draws the figures
(:mod:`.charts`, :mod:`.grids`) and writes the page (:mod:`.page`). Every file is written
atomically. What cannot be shown (no pictures, no labels, one run, examples never held out)
is said on the page, never an error; bad input (no records, a ratio the records lack, an
unreadable score file) raises HeldoutError naming it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import HeldoutError, ParameterError
from ..loading import find_labels_file
from ..records import RunSet

REPORT_FILE = "report.html"
VECTOR_FORMAT = "pdf"
FIGURE_NAMES = ("fit", "distributions", "memorized", "influence", "cscores", "classes", "widths_vs_runs")
DEFAULT_TOP = 12
PREFERRED_RATIO = 0.7  # the papers' ratio for memorization and influence


@dataclass(frozen=True)
class Report:
    """What :func:`build_report` wrote.

    Attributes:
        page: the ``report.html`` path.
        files: every figure file written (PNG and PDF).
        missing: the sentences the page gives under "What is missing".
        seconds: wall time of the whole build.
    """

    page: Path
    files: list[Path]
    missing: list[str]
    seconds: float


def require_matplotlib() -> None:
    """HeldoutError naming the extra to install when matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise HeldoutError("heldout report draws with matplotlib, which is not installed: "
                           "pip install 'heldout-influence[figures]' (in a checkout: pip install -e '.[figures]').")


def choose_ratio(runs: RunSet, ratio: float | None) -> tuple[RunSet, str | None]:
    """The runs at the report's ratio for memorization and influence, and a note when it was
    chosen for the user (several ratios, no ``--ratio``): the ratio with the most runs, ties to
    the one nearest 0.7."""
    if ratio is not None:
        return runs.by_ratio(ratio), None
    if len(runs.ratios) == 1:
        return runs, None
    counts = np.array([np.isclose(runs.subset_ratio, r, rtol=0, atol=1e-9).sum() for r in runs.ratios])
    best = min(range(len(counts)), key=lambda k: (-counts[k], abs(runs.ratios[k] - PREFERRED_RATIO)))
    chosen = float(runs.ratios[best])
    note = (f"the records have subset ratios {', '.join(f'{r:g}' for r in runs.ratios)}; memorization and influence "
            f"are shown at {chosen:g} (most runs); choose another with --ratio (C-scores use every ratio)")
    return runs.by_ratio(chosen), note


def build_report(path: str | os.PathLike, out: str | os.PathLike, *, experiment: str | None = None,
                 ratio: float | None = None, data: str | os.PathLike | None = None,
                 labels: str | os.PathLike | None = None, top: int = DEFAULT_TOP,
                 scores: str | os.PathLike | None = None, runs: RunSet | None = None) -> Report:
    """Write ``out/report.html`` with its figures from the records at ``path``.

    Args:
        path: records, in any shape :func:`heldout_core.load_runs` reads.
        out: the folder for the page and figures (created; the report's own files are replaced).
        experiment: which experiment, when ``path`` holds several; also the one asked for pictures.
        ratio: subset ratio for memorization and influence (default: the only one, or the one with
            the most runs).
        data: the experiment's data (``--data``), for pictures.
        labels: an ``.npz`` of class labels (see :func:`heldout_core.loading.load_labels`);
            default: the ``labels.npz`` beside the records, if any.
        top: examples per group in the grids (most and least memorized, ...).
        scores: folder of ``heldout estimate``'s files (default: ``out``).
        runs: the records already loaded (``path`` is then used only to find labels).
    """
    from .. import params

    start = time.perf_counter()
    require_matplotlib()
    top = params.integer(top, "top", minimum=1)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError("out", f"{{parameter}} {out} exists and is not a folder.")
    scores_dir = Path(scores) if scores is not None else out
    if scores is not None and not scores_dir.is_dir():
        raise ParameterError("scores", f"{{parameter}} {scores_dir} is not a folder.")
    if runs is None:
        from ..loading import load_runs

        runs = load_runs(path, experiment=experiment)
    name = experiment or runs.experiment
    labels_file = Path(labels) if labels is not None else find_labels_file(Path(path), name)
    extras: dict[str, np.ndarray] = {}
    if labels_file is not None:
        from ..loading import load_labels

        labels_train, labels_test = load_labels(labels_file)
        try:
            runs = runs.with_labels(labels_train, labels_test if runs.n_test else None)
        except HeldoutError as exc:  # a labels file of other records: say which file
            raise HeldoutError(f"{labels_file} does not fit the records: {exc}") from None
        extras = _label_noise(labels_file)
    one, ratio_note = choose_ratio(runs, ratio)

    from .content import report_content

    content = report_content(runs, one, scores_dir=scores_dir, data=Path(data) if data is not None else None,
                             experiment=name, extras=extras, top=top, labels_file=labels_file)
    missing = ([ratio_note] if ratio_note else []) + content.missing
    written = _write_figures(content.figures, out)
    from ..atomic import atomic_write
    from ..version import __version__
    from .page import render_page

    subtitle = f"records: {Path(path).resolve()}; heldout-influence {__version__}"
    page = out / REPORT_FILE
    with atomic_write(page, "w") as handle:
        handle.write(render_page(f"heldout report: {name or 'unnamed experiment'}", subtitle, content.facts,
                                 missing, [entry for entry, _ in content.figures]))
    return Report(page, written, missing, time.perf_counter() - start)


def _label_noise(path: Path) -> dict[str, np.ndarray]:
    """``noisy_idx`` and ``clean_labels_train`` (the labels flipped on purpose, as ``heldout
    train -o label_noise=...`` records them) from a labels file already read once, reading just
    those members: a labels file may be a released statistics file of gigabytes."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in ("noisy_idx", "clean_labels_train") if key in data.files}


def _write_figures(figures, out: Path) -> list[Path]:
    """Each figure as ``<name>.png`` and ``<name>.pdf``, atomically; figure files of an earlier
    report in ``out`` that this one does not have are removed, so none is left stale."""
    from ..atomic import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry, figure in figures:
        for fmt in ("png", VECTOR_FORMAT):
            target = out / f"{entry.name}.{fmt}"
            with atomic_path(target) as tmp:
                # the PDF carries no creation date, so the same records give the same file
                figure.savefig(tmp, format=fmt, metadata={"CreationDate": None} if fmt == "pdf" else None)
            written.append(target)
            # the layout is solved while drawing the PNG; the PDF reuses it instead of solving again
            figure.set_layout_engine("none")
    kept = {entry.name for entry, _ in figures}
    for name in FIGURE_NAMES:
        if name not in kept:
            for fmt in ("png", VECTOR_FORMAT):
                (out / f"{name}.{fmt}").unlink(missing_ok=True)
    return written
