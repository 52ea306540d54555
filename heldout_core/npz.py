"""Reading ``.npz`` files that may come from anywhere: plain arrays only, never pickles.

Every file the project reads is data, never code: ``np.load(..., allow_pickle=False)``, and
anything that is not a zip archive of ``.npy`` members is refused with one sentence naming the
file (``np.load`` would otherwise treat an unknown format as a pickle).
"""

from __future__ import annotations

import zipfile

import numpy as np

from .errors import HeldoutError


def load_npz(source, what: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (a path or a file object), never unpickling; errors name ``what``."""
    try:
        _check_zip_magic(source, what)
        with np.load(source, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except HeldoutError:
        raise
    except FileNotFoundError:
        raise HeldoutError(f"{what} does not exist.") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise HeldoutError(f"{what} holds pickled Python objects, which are never loaded; only plain arrays are accepted.") from None
        raise HeldoutError(f"{what} is not a readable .npz file ({exc}).") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise HeldoutError(f"{what} is not a readable .npz file ({exc}).") from None


def _check_zip_magic(source, what: str) -> None:
    # np.load treats anything that is neither .npy nor zip as a pickle; say what it really is.
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


def npz_keys(path) -> set[str] | None:
    """The array names of an ``.npz`` from its zip directory alone (cheap for any size), or None
    when the file is not a readable zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {name[:-4] if name.endswith(".npy") else name for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, EOFError):
        return None
