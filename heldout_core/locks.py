"""Advisory file locks (``flock``), so several jobs can share one output folder safely.

A job holds the lock of what it is writing (a run folder's ``.lock``, a staging folder's
``.lock``) for as long as it writes; another job, or a cleanup, that finds the lock held leaves
that work alone. Locks are released by the kernel when a process dies, so a lock that can be
taken belongs to nobody: what it guarded is a leftover. Where ``fcntl`` is missing (Windows)
every lock succeeds and none is ever seen as held.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

LOCK_FILE = ".lock"
NO_FCNTL = -1


def try_lock(path: str | os.PathLike) -> int | None:
    """Take the exclusive lock of the file ``path`` (created if needed) without waiting.

    Returns an open descriptor that holds the lock (give it to :func:`unlock`), or None when
    another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return NO_FCNTL
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def unlock(fd: int) -> None:
    """Release a lock taken by :func:`try_lock` (closing the descriptor releases it)."""
    if fd != NO_FCNTL:
        os.close(fd)


def is_locked(path: str | os.PathLike) -> bool:
    """Whether another process holds the lock of ``path`` now (False when there is no such file).

    Asked through a read-only descriptor (flock needs no write access), so that a folder one
    may only read can be surveyed; a lock file that cannot be opened counts as held (in use).
    """
    path = Path(path)
    if not path.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


@contextlib.contextmanager
def folder_locked(folder: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` itself (flock on the folder's descriptor, waiting for
    it), so that jobs publishing into one folder take turns; no lock file is made in it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
