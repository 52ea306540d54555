"""Reading ``.npz`` files that may come from anywhere: plain arrays only, sizes checked first.

Every file the project reads is data, never code, and its sizes are checked before anything is
allocated:

- the file must be a zip archive whose members are all ``.npy`` arrays, each name once;
- a member's header must be readable and must not declare Python objects (which ``np.load``
  could only read by unpickling);
- the shape and dtype a header declares must account exactly for the bytes the member holds, so
  a tiny file cannot make us allocate terabytes;
- the members together must fit a byte budget (``max_bytes``), so a small compressed file that
  expands to gigabytes is refused before it is inflated.

Every problem is one :class:`~heldout_core.errors.HeldoutError` naming the file and member.
"""

from __future__ import annotations

import lzma
import math
import os
import zipfile
import zlib
from collections import Counter

import numpy as np

from .errors import HeldoutError
from .resources import format_bytes, physical_memory_bytes

MAX_BYTES_ENV = "HELDOUT_MAX_FILE_BYTES"
_MAX_HEADER = 10_000


def default_budget(cap: int | None = None) -> int:
    """Bytes one file may expand to: ``HELDOUT_MAX_FILE_BYTES`` when set, else half the machine's
    memory, or ``cap`` when that is smaller (e.g. for one run's record)."""
    value = os.environ.get(MAX_BYTES_ENV)
    if value:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not math.isfinite(number) or number < 1:
            raise HeldoutError(f"{MAX_BYTES_ENV}={value!r} is not a number of bytes (a finite number of at least 1).")
        return int(number)
    half = physical_memory_bytes() // 2
    return half if cap is None else min(half, int(cap))


def _check_zip_magic(source, what: str) -> None:
    # np.load would treat anything that is neither .npy nor zip as a pickle; say what it really is.
    if hasattr(source, "read"):
        start = source.tell()
        magic = source.read(4)
        source.seek(start)
    else:
        with open(source, "rb") as handle:
            magic = handle.read(4)
    if not magic.startswith(b"PK"):
        kind = "a .npy array" if magic.startswith(b"\x93NUM") else "not a zip archive"
        raise HeldoutError(f"{what} is not a readable .npz file (it is {kind}).")


class PickledArrayError(HeldoutError):
    """A member declares Python objects (readable only by unpickling): refused."""


_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22


def _check_directory(archive: zipfile.ZipFile, source, what: str) -> None:
    """The zip's end record must list as many members as its directory holds: a damaged
    directory can otherwise hide members (a run's test records) without any other error."""
    handle = source if hasattr(source, "read") else None
    opened = None
    try:
        if handle is None:
            opened = handle = open(source, "rb")
        start = handle.tell()
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - _EOCD_SIZE))
        end = handle.read(_EOCD_SIZE)
        handle.seek(start)
    finally:
        if opened is not None:
            opened.close()
    if len(end) == _EOCD_SIZE and end.startswith(_EOCD):  # no archive comment: np.savez never writes one
        entries = int.from_bytes(end[10:12], "little")
        if entries != 0xFFFF and entries != len(archive.infolist()):  # 0xFFFF: the count is in a zip64 record
            raise HeldoutError(f"{what} is damaged: its zip directory lists {len(archive.infolist())} of the "
                               f"{entries} members it declares.")


def read_npy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, what: str) -> np.ndarray:
    """One ``.npy`` member of a zip archive, its header checked against its size (see the module
    docstring); PickledArrayError for an object array."""
    with archive.open(info) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle, max_header_size=_MAX_HEADER)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle, max_header_size=_MAX_HEADER)
        except (ValueError, EOFError, SyntaxError, TypeError) as exc:
            raise HeldoutError(f"{what}: member '{info.filename}' is not a readable .npy array ({exc}).") from None
        if dtype.hasobject:
            raise PickledArrayError(f"{what}: '{key}' holds pickled Python objects, which are never loaded; "
                               "only plain arrays are accepted.")
        if len(shape) > 32 or any(d < 0 for d in shape) or dtype.itemsize == 0:
            raise HeldoutError(f"{what}: '{key}' declares shape {shape} of {dtype}, which is not an array this "
                               "project writes (more than 32 dimensions, a negative size, or empty elements).")
        header_bytes = handle.tell()
        n_bytes = math.prod(shape) * dtype.itemsize
        if n_bytes != info.file_size - header_bytes:
            raise HeldoutError(f"{what}: '{key}' declares shape {shape} of {dtype} ({format_bytes(n_bytes)}) but holds "
                               f"{format_bytes(max(info.file_size - header_bytes, 0))} of data.")
        buffer = bytearray(n_bytes)
        view = memoryview(buffer)
        filled = 0
        while filled < n_bytes:
            got = handle.readinto(view[filled:])
            if not got:
                raise HeldoutError(f"{what}: '{key}' is cut short ({filled} of {n_bytes} bytes).")
            filled += got
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def load_npz(source, what: str, *, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (a path or a binary file object), checked as the module says.

    Args:
        source: the file.
        what: how errors name the file (its path, or ``archive.tar.gz:member``).
        max_bytes: the most bytes the arrays may take together (default :func:`default_budget`).
    """
    budget = default_budget() if max_bytes is None else int(max_bytes)
    try:
        _check_zip_magic(source, what)
        with zipfile.ZipFile(source) as archive:
            _check_directory(archive, source, what)
            infos = archive.infolist()
            names = [info.filename for info in infos]
            repeated = sorted(name for name, count in Counter(names).items() if count > 1)
            if repeated:
                raise HeldoutError(f"{what} holds member '{repeated[0]}' more than once; it is not a valid .npz file.")
            for info in infos:
                if not info.filename.endswith(".npy") or info.is_dir():
                    raise HeldoutError(f"{what}: member '{info.filename}' is not a .npy array; "
                                       "an .npz file holds only arrays.")
            total = sum(info.file_size for info in infos)
            if total > budget:
                raise HeldoutError(f"{what} expands to {format_bytes(total)}, more than the {format_bytes(budget)} "
                                   f"a file may take here; if it is genuine, raise {MAX_BYTES_ENV}.")
            return {info.filename[:-4]: read_npy_member(archive, info, info.filename[:-4], what) for info in infos}
    except HeldoutError:
        raise
    except FileNotFoundError:
        raise HeldoutError(f"{what} does not exist.") from None
    except IsADirectoryError:
        raise HeldoutError(f"{what} is a folder, not an .npz file.") from None
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError,
            zlib.error, lzma.LZMAError) as exc:
        # RuntimeError: encrypted members; NotImplementedError: an unknown compression method;
        # zlib / lzma errors: a damaged compressed member
        raise HeldoutError(f"{what} is not a readable .npz file ({type(exc).__name__}: {exc}).") from None


def npz_keys(path) -> set[str] | None:
    """The array names of an ``.npz`` from its zip directory alone (cheap for any size), or None
    when the file is not a readable zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {name[:-4] if name.endswith(".npy") else name for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, EOFError):
        return None
