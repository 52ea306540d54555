"""What a folder of run records holds, and everything wrong with it (``heldout info``).

:func:`survey` makes the same checks :func:`~heldout_core.loading.load_runs` makes (every file
read and validated; run ids unique per ratio, one ratio folder per ratio; training and test sets
of one size; labels that agree), and more that a load does not need: runs of one experiment
trained with different settings (``run.json``), run folders without records, and what killed
jobs left behind. Instead of stopping at the first problem it collects them all, so one look
lists everything that needs fixing.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .aux_arrays import read_aux_arrays
from .diagnostics import DEFAULT_FIT_THRESHOLD, FitDiagnostics, fit_diagnostics
from .errors import HeldoutError
from .layout import MATCHED_SETTINGS, find_unfinished_runs, read_run_info, read_settings, settings_conflict
from .leftovers import Leftover, find_leftovers
from .loading import RecordFile, find_record_files
from .records import RunSet, RunSetBuilder
from .store import read_store


@dataclass(frozen=True)
class RecordGroup:
    """Runs of one experiment and subset ratio from one source.

    Attributes:
        experiment: the experiment's name (None when the records do not say).
        subset_ratio: the ratio of every run in the group.
        source: "release layout", or "store" for a compact store file.
        path: the store file (None for the release layout).
        run_ids: the runs' ids, ascending.
        n_train, n_test: the sizes of the runs' training and test sets.
    """

    experiment: str | None
    subset_ratio: float
    source: str
    path: Path | None
    run_ids: list[int]
    n_train: int
    n_test: int


@dataclass
class Survey:
    """The groups of runs under a path, every problem found (one sentence each), the unfinished
    run folders and the leftovers of interrupted jobs."""

    path: Path
    groups: list[RecordGroup] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unfinished: list[Path] = field(default_factory=list)
    leftovers: list[Leftover] = field(default_factory=list)
    fit: dict[str | None, FitDiagnostics] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def survey(path: str | os.PathLike, *, progress: Callable[[int, int], None] | None = None,
           fit_threshold: float = DEFAULT_FIT_THRESHOLD) -> Survey:
    """Read every record file under ``path`` and report groups, problems and how well the models
    of each experiment fit their subsets (:func:`~heldout_core.diagnostics.fit_diagnostics`).

    Raises HeldoutError only when ``path`` holds no records at all (or does not exist); every
    problem with a file is collected in :attr:`Survey.problems` instead.
    """
    report = Survey(Path(path))
    if Path(path).is_dir():
        report.leftovers = find_leftovers(path)
    try:
        files = find_record_files(path, problems=report.problems)
    except HeldoutError:
        if not any(not item.in_use for item in report.leftovers):
            raise
        files = []  # an output folder holding only what a killed job left: report that
        report.problems.append(f"{path} holds no run records.")
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(files))

    # stores say their experiment inside; release folders by their folder names
    sets: dict[str | None, list[RunSet]] = defaultdict(list)
    aux: dict[str | None, list[RecordFile]] = defaultdict(list)
    for f in files:
        if f.kind == "aux":
            aux[f.experiment].append(f)
            continue
        try:
            runs = read_store(f.path)
            sets[runs.experiment].append(runs)
            report.groups += [_group(runs.by_ratio(r), "store", f.path) for r in runs.ratios]
        except HeldoutError as exc:
            report.problems.append(str(exc))
        step()
    for experiment in list(dict.fromkeys([*sets, *aux])):
        builder = RunSetBuilder(experiment=experiment)
        for f in aux[experiment]:
            try:
                builder.add(read_aux_arrays(f.path, subset_ratio=f.subset_ratio, run_id=f.run_id or 0), str(f.path))
            except HeldoutError as exc:
                report.problems.append(str(exc))
            step()
        parts = sets[experiment]
        if builder.n_runs:
            runs = builder.build()
            parts.append(runs)
            report.groups += [_group(runs.by_ratio(r), "release layout", None) for r in runs.ratios]
        joined = parts[0] if len(parts) == 1 else None
        if len(parts) > 1:
            try:  # the checks load_runs makes when it joins the parts
                joined = RunSet.concat(parts)
            except HeldoutError as exc:
                report.problems.append(f"{experiment or '(unnamed)'}: {exc}")
        if joined is not None:
            report.fit[experiment] = fit_diagnostics(joined, threshold=fit_threshold)
        report.problems += _mixed_settings(aux[experiment])
    report.groups.sort(key=lambda g: (str(g.experiment), g.subset_ratio, g.source))
    report.unfinished = find_unfinished_runs(path)
    if report.unfinished:
        shown = ", ".join(str(p) for p in report.unfinished[:3]) + (", ..." if len(report.unfinished) > 3 else "")
        report.problems.append(f"{len(report.unfinished)} run folder(s) without aux_arrays.npz (unfinished, crashed "
                               f"or not fully downloaded; they are skipped, and `heldout train` with the same settings "
                               f"trains them again): {shown}")
    stale = [item for item in report.leftovers if not item.in_use]
    if stale:
        kinds = ", ".join(sorted({item.kind for item in stale}))
        report.problems.append(f"{len(stale)} leftover(s) of interrupted jobs ({kinds}), e.g. {stale[0].path}; "
                               f"`heldout clean {path}` removes them.")
    return report


def _group(runs: RunSet, source: str, path: Path | None) -> RecordGroup:
    return RecordGroup(runs.experiment, float(runs.ratios[0]), source, path, sorted(runs.run_id.tolist()),
                       runs.n_train, runs.n_test)


def _mixed_settings(files: list[RecordFile]) -> list[str]:
    """Problems when the runs of one experiment folder were trained with different settings."""
    problems, seen = [], {}
    folders = {f.path.parent.parent.parent for f in files if f.experiment}
    recorded = {}
    for folder in folders:
        try:
            recorded[folder] = read_settings(folder)
        except HeldoutError as exc:
            problems.append(str(exc))
    for f in files:
        try:
            info = read_run_info(f.path.parent)
        except HeldoutError as exc:
            problems.append(str(exc))
            continue
        if info is None:
            continue
        key = tuple(repr(info.get(k)) for k in MATCHED_SETTINGS)
        seen.setdefault(key, []).append((f, info))
        folder = f.path.parent.parent.parent
        wanted = recorded.get(folder)
        if wanted is not None and settings_conflict(wanted, info) is not None:
            k = settings_conflict(wanted, info)
            problems.append(f"{f.path.parent} was trained with {k}={info[k]!r}, but its folder's settings.json "
                            f"records {wanted[k]!r}.")
    if len(seen) > 1:
        variants = sorted(seen.values(), key=len, reverse=True)
        first = variants[0][0][1]
        for variant in variants[1:]:
            f, info = variant[0]
            k = settings_conflict(first, info)
            problems.append(f"the runs were trained with mixed settings: {len(variant)} run(s) such as {f.path.parent} "
                            f"with {k}={info.get(k)!r}, {len(variants[0])} with {first.get(k)!r}; estimates from "
                            f"them mix models of different training.")
    return problems


def id_ranges(ids: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"`` (at most six ranges shown)."""
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
