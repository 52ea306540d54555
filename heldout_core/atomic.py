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
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

TEMP_SUFFIX = ".tmp"


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
    """A fresh hidden name beside ``path`` (``.<name>.<random>.tmp``); the file is created empty
    with the permissions a plain ``open()`` would give it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes files private (0600)
    finally:
        os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``path`` in ``mode`` ("wb" or "w"); it replaces ``path`` only
    when the block ends without an exception."""
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle


def save_npz_atomic(path: str | os.PathLike, **arrays) -> Path:
    """``np.savez`` (uncompressed) written atomically to exactly ``path``."""
    with atomic_write(path) as handle:
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
