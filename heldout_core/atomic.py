"""Atomic writes: every file the project writes appears whole or not at all.

A file is written under a hidden temporary name in its destination folder, flushed and fsynced,
then renamed over the destination, and the folder is fsynced so that the new name survives a
power cut. A crash or an exception leaves the destination as it was (the old file, or nothing)
and removes the temporary file. Folders (a run's checkpoints) are published the same way: every
file inside is fsynced, then the folder is renamed into place.

- :func:`atomic_path`: a temporary path to write by any means (a TFRecord writer, a memmap).
- :func:`atomic_write`: an open file handle.
- :func:`save_npz_atomic`: ``np.savez`` to exactly one path.
- :func:`atomic_memmaps`: several ``.npy`` files filled chunk by chunk, renamed together.
- :func:`publish_folder`: a finished folder renamed over its destination.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from . import locks

TEMP_SUFFIX = ".tmp"
TEMP_MARK = ".heldout-"  # temporary files are .<name>.heldout-<8 random characters>.tmp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make the names in ``folder`` durable (a rename is not, until its folder is synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's bytes to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """A fresh hidden name beside ``path`` (``.<name>.heldout-<random>.tmp``, a name no other
    program makes, so that cleanups find exactly these); the file is created empty with the
    permissions a plain ``open()`` would give it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes files private (0600)
    finally:
        os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    With ``exclusive``, the file is published only if ``path`` does not exist yet (a hard link,
    which fails when the name is taken): FileExistsError otherwise, and the temporary file is
    removed. Of several jobs publishing the same file at once exactly one wins.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        fsync_file(tmp)
        if exclusive:
            _link_exclusive(tmp, path)
        else:
            os.replace(tmp, path)
        fsync_folder(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _link_exclusive(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename (a narrow race)
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, exclusive: bool = False) -> Iterator:
    """Open a temporary file beside ``path`` in ``mode`` ("wb" or "w"); it replaces ``path`` (or,
    with ``exclusive``, is published only if ``path`` is new) when the block ends without error."""
    with atomic_path(path, exclusive=exclusive) as tmp, open(tmp, mode) as handle:
        yield handle


def save_npz_atomic(path: str | os.PathLike, *, exclusive: bool = False, **arrays) -> Path:
    """``np.savez`` (uncompressed) written atomically to exactly ``path`` (see :func:`atomic_path`)."""
    with atomic_write(path, exclusive=exclusive) as handle:
        np.savez(handle, **arrays)
    return Path(path)


@contextlib.contextmanager
def atomic_memmaps(paths: Sequence[str | os.PathLike], shape: tuple[int, ...],
                   dtype=np.float32) -> Iterator[tuple[np.memmap, ...]]:
    """Memory-mapped ``.npy`` files, one per path, to be filled in place (so memory stays at what
    the caller touches, however large the arrays are); when the block succeeds each is flushed,
    fsynced and renamed into place, and on an exception none is."""
    paths = [Path(p) for p in paths]
    with contextlib.ExitStack() as stack:
        temps = [stack.enter_context(atomic_path(p)) for p in paths]
        maps = [np.lib.format.open_memmap(t, mode="w+", dtype=dtype, shape=shape) for t in temps]
        yield tuple(maps)
        for m in maps:
            m.flush()
        del maps


def publish_folder(partial: Path, final: Path) -> None:
    """Rename the finished folder ``partial`` to ``final`` (replacing an old one), after making
    every file inside it durable."""
    for root, _, files in os.walk(partial):
        for name in files:
            fsync_file(Path(root) / name)
        fsync_folder(root)
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    fsync_folder(final.parent)


# ---------------------------------------------------------------------------- staging folders
STAGING_PREFIX = ".heldout-"


@contextlib.contextmanager
def staged_folder(out_dir: str | os.PathLike, job: str) -> Iterator[Path]:
    """A hidden folder ``out_dir/.heldout-<job>-<random>`` to write a job's outputs into, locked
    while the job runs and removed when it ends, whatever happens; publish the finished files
    with :func:`publish_files`. A killed job leaves it behind, unlocked: the next job of the
    same kind, ``heldout clean`` and ``heldout info`` find it (see :mod:`heldout_core.leftovers`)."""
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{job}-", dir=out_dir))
    fd = locks.try_lock(stage / locks.LOCK_FILE)
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:  # a failed job leaves no trace, not even the folder it made
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if fd is not None:
            locks.unlock(fd)


def publish_files(stage: Path, out_dir: Path, names: Sequence[str], *, overwrite: bool = False,
                  stale: Sequence[str] = ()) -> list[Path]:
    """Move the finished files ``names`` from ``stage`` into ``out_dir``, each made durable, under
    the lock of ``out_dir`` (jobs publishing into one folder take turns, so none mixes its files
    with another's).

    Args:
        overwrite: rename over old files of those names; without it, FileExistsError (naming
            the first such file) if any exists when the job publishes, and nothing is moved.
        stale: names of earlier outputs to remove once the new files are in (outputs an earlier
            job made that this one does not), with ``overwrite``.

    Raises:
        FileExistsError: see ``overwrite``; IsADirectoryError: a name is taken by a folder (or
            anything but a file) in ``out_dir``; nothing is moved.
    """
    with locks.folder_locked(out_dir):
        for name in names:
            dest = out_dir / name
            if os.path.lexists(dest):
                if not overwrite:
                    raise FileExistsError(errno.EEXIST, "exists", str(dest))
                if dest.is_symlink() or not dest.is_file():
                    raise IsADirectoryError(errno.EISDIR, "exists and is not a file", str(dest))
        moved = []
        for name in names:
            fsync_file(stage / name)
            os.replace(stage / name, out_dir / name)
            moved.append(out_dir / name)
        if overwrite:
            for name in set(stale) - set(names):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    (out_dir / name).unlink()
        fsync_folder(out_dir)
    return moved
