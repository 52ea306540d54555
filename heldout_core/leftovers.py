"""What interrupted jobs leave behind, found and cleaned safely.

Every write of the project is atomic, so a killed job never leaves a half-written *result*; it
can leave its scaffolding:

- staging folders ``.heldout-<job>-<random>`` (``heldout import``, ``heldout estimate``), each
  holding its ``.lock``;
- temporary files ``.<name>.heldout-<random>.tmp`` of atomic writes;
- partial checkpoint folders ``<run>/.checkpoints-partial-<uuid>``.

Only these exact names are leftovers (a user's own ``.draft.tmp`` or ``.heldout-notes`` is not),
and hidden folders other than these (``.git``, ``.venv``, ...) are not searched.

A leftover is *in use* while the job that made it runs: its staging folder's or run folder's
lock is held (see :mod:`heldout_core.locks`), or, for a temporary file outside both, it is less
than a minute old. Only leftovers not in use are ever removed. Run folders without a record
(unfinished runs) are not leftovers: they may hold a checkpoint someone wants, and ``heldout
train`` trains them again.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import locks
from .atomic import STAGING_PREFIX, TEMP_MARK, TEMP_SUFFIX
from .layout import PARTIAL_CHECKPOINTS_PREFIX

TEMP_GRACE_SECONDS = 60.0

# tempfile's random part: 8 characters of [a-z0-9_]; uuid4().hex: 32 hex digits
_RANDOM = "[a-z0-9_]{8}"
STAGING_NAME = re.compile(rf"{re.escape(STAGING_PREFIX)}(import|estimate)-{_RANDOM}")
TEMP_NAME = re.compile(rf"\..+{re.escape(TEMP_MARK)}{_RANDOM}{re.escape(TEMP_SUFFIX)}")
PARTIAL_NAME = re.compile(rf"{re.escape(PARTIAL_CHECKPOINTS_PREFIX)}[0-9a-f]{{32}}")


@dataclass(frozen=True)
class Leftover:
    """One leftover: its path, what it is, and whether a running job still uses it."""

    path: Path
    kind: str
    in_use: bool


def _folder_lock_held(folder: Path) -> bool:
    return locks.is_locked(folder / locks.LOCK_FILE)


def find_leftovers(root: str | os.PathLike, *, now: float | None = None) -> list[Leftover]:
    """Every leftover under ``root`` (a folder), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    found = []
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        held = None  # this folder's lock, looked up once when needed
        for name in list(subfolders):
            path = here / name
            if not name.startswith("."):
                continue
            subfolders.remove(name)  # a leftover's contents are part of it; other hidden folders are not ours
            if path.is_symlink():
                continue
            if STAGING_NAME.fullmatch(name) and (path / locks.LOCK_FILE).is_file():
                found.append(Leftover(path, "staging folder", _folder_lock_held(path)))
            elif PARTIAL_NAME.fullmatch(name):
                held = _folder_lock_held(here) if held is None else held
                found.append(Leftover(path, "partial checkpoint", held))
        for name in files:
            if TEMP_NAME.fullmatch(name) and not (here / name).is_symlink():
                path = here / name
                held = _folder_lock_held(here) if held is None else held
                try:
                    young = now - path.stat().st_mtime < TEMP_GRACE_SECONDS
                except OSError:  # gone meanwhile
                    continue
                found.append(Leftover(path, "temporary file", held or young))
    return sorted(found, key=lambda item: str(item.path))


def remove_stale_staging(out_dir: str | os.PathLike, job: str) -> list[Path]:
    """Remove the staging folders ``out_dir/.heldout-<job>-*`` of killed jobs (unlocked ones),
    as the next job of that kind starts; returns what was removed."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    stale = [Leftover(p, "staging folder", _folder_lock_held(p))
             for p in sorted(out_dir.glob(f"{STAGING_PREFIX}{job}-*"))
             if STAGING_NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink() and (p / locks.LOCK_FILE).is_file()]
    return [item.path for item in remove_leftovers(stale)]


def remove_leftovers(leftovers: list[Leftover]) -> list[Leftover]:
    """Remove the leftovers not in use; returns those removed (not those it could not remove)."""
    removed = []
    for item in leftovers:
        if item.in_use:
            continue
        if item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            try:
                item.path.unlink(missing_ok=True)
            except OSError:
                continue
        if not os.path.lexists(item.path):
            removed.append(item)
    return removed


def clean(root: str | os.PathLike, *, dry_run: bool = False) -> list[Leftover]:
    """Find and (unless ``dry_run``) remove the leftovers under ``root`` that no job uses."""
    found = [item for item in find_leftovers(root) if not item.in_use]
    return found if dry_run else remove_leftovers(found)
