"""What a folder of run records holds, and what is wrong with it (``heldout info``).

:func:`survey` reads every record file under a path (see :func:`~heldout_core.loading.find_record_files`),
groups runs by experiment, subset ratio and source, and collects every problem found instead of
stopping at the first, so one look lists all that needs fixing.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .aux_arrays import read_aux_arrays
from .errors import HeldoutError
from .layout import find_unfinished_runs
from .loading import find_record_files
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
        sizes: the (n_train, n_test) pairs seen (more than one is a problem).
    """

    experiment: str | None
    subset_ratio: float
    source: str
    path: Path | None
    run_ids: list[int]
    sizes: list[tuple[int, int]]


@dataclass
class Survey:
    """The groups of runs under a path, and every problem found (one sentence each)."""

    path: Path
    groups: list[RecordGroup] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unfinished: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def survey(path: str | os.PathLike, *, progress: Callable[[int, int], None] | None = None) -> Survey:
    """Read every record file under ``path`` and report groups and problems.

    Raises HeldoutError only when ``path`` holds no records at all (or does not exist); every
    problem with a file is collected in :attr:`Survey.problems` instead.
    """
    files = find_record_files(path)
    report = Survey(Path(path))
    ids: dict[tuple, list[int]] = defaultdict(list)
    sizes: dict[tuple, set] = defaultdict(set)
    for done, f in enumerate(files, 1):
        try:
            if f.kind == "store":
                runs = read_store(f.path)
                for ratio in runs.ratios:
                    key = (runs.experiment, float(ratio), "store", f.path)
                    ids[key].extend(runs.by_ratio(ratio).run_id.tolist())
                    sizes[key].add((runs.n_train, runs.n_test))
            else:
                run = read_aux_arrays(f.path, subset_ratio=f.subset_ratio, run_id=f.run_id or 0)
                key = (f.experiment, f.subset_ratio, "release layout", None)
                ids[key].append(f.run_id)
                sizes[key].add((len(run.train_mask), 0 if run.correct_test is None else len(run.correct_test)))
        except HeldoutError as exc:
            report.problems.append(str(exc))
        if progress is not None:
            progress(done, len(files))
    report.unfinished = find_unfinished_runs(path)
    if report.unfinished:
        shown = ", ".join(str(p) for p in report.unfinished[:3]) + (", ..." if len(report.unfinished) > 3 else "")
        report.problems.append(f"{len(report.unfinished)} run folder(s) without aux_arrays.npz (unfinished, crashed "
                               f"or not fully downloaded; they are skipped): {shown}")
    for key in sorted(ids, key=lambda k: (str(k[0]), k[1])):
        experiment, ratio, source, where = key
        group = RecordGroup(experiment, ratio, source, where, sorted(ids[key]), sorted(sizes[key]))
        report.groups.append(group)
        if len(group.sizes) > 1:
            report.problems.append(f"{experiment} ratio {ratio:g}: runs of different training/test-set sizes "
                                   f"({describe_sizes(group.sizes)}).")
    by_experiment: dict[str | None, set] = defaultdict(set)
    for group in report.groups:
        by_experiment[group.experiment] |= set(group.sizes)
    for experiment, seen in by_experiment.items():
        if len(seen) > 1 and not any(p.startswith(f"{experiment} ratio") for p in report.problems):
            report.problems.append(f"{experiment}: ratios disagree on the training/test-set sizes ({sorted(seen)}).")
    return report


def describe_sizes(sizes: list[tuple[int, int]]) -> str:
    """``[(50000, 10000)]`` -> ``"n_train 50000, n_test 10000"``."""
    return ", ".join(f"n_train {a}, n_test {b}" for a, b in sizes)


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
