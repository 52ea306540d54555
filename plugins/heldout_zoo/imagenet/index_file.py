"""The release's ImageNet example index, ``imagenet_index.npz``.

It fixes the example ids of the ``imagenet-resnet50`` runs: training example ``i`` is the file
named ``tr_filenames[i]`` (a basename such as ``n01440764_10026.JPEG``) with class
``tr_labels[i]`` in 0..999; validation (test) example ``j`` is ``tt_filenames[j]`` (such as
``ILSVRC2012_val_00000293.JPEG``) with class ``tt_labels[j]``. Other keys (e.g. ``tr_mem``) are
ignored.

The file name arrays may be stored as fixed-width bytes/str, or as numpy object arrays, which
``np.load`` can only read by unpickling. Object arrays are read with an unpickler that builds
nothing but numpy arrays of strings, so the file stays data, never code.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass

import numpy as np

from heldout_core.errors import HeldoutError
from heldout_core.npz import PickledArrayError, default_budget, read_npy_member

KEYS = ("tr_filenames", "tr_labels", "tt_filenames", "tt_labels")


@dataclass(frozen=True)
class ImagenetIndex:
    """Ids of the released ImageNet examples.

    Attributes:
        train_filenames, test_filenames: str arrays of basenames; position = example id.
        train_labels, test_labels: int64 arrays of classes 0..999.
    """

    train_filenames: np.ndarray
    train_labels: np.ndarray
    test_filenames: np.ndarray
    test_labels: np.ndarray

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(filenames, labels) of ``"train"`` or ``"test"`` (the ImageNet validation set)."""
        if split == "train":
            return self.train_filenames, self.train_labels
        if split == "test":
            return self.test_filenames, self.test_labels
        raise HeldoutError(f"unknown split '{split}'; expected 'train' or 'test'.")

    def wnid_labels(self) -> dict[str, int]:
        """Class of each WordNet id, read off the training file names (``<wnid>_<n>.JPEG``)."""
        table: dict[str, int] = {}
        for name, label in zip(self.train_filenames, self.train_labels):
            wnid = name.split("_", 1)[0]
            if table.setdefault(wnid, int(label)) != label:
                raise HeldoutError(f"the index file gives class {table[wnid]} and class {label} to files of {wnid}.")
        return table


class _StringArrayUnpickler(pickle.Unpickler):
    """Unpickles a numpy array and nothing else: any other global is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles spell bytes
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def _read_object_array(archive: zipfile.ZipFile, member: str, what: str) -> np.ndarray:
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(handle)
        if dtype != object:
            raise HeldoutError(f"{what}: '{member}' could not be read.")
        try:
            array = _StringArrayUnpickler(handle).load()
        except Exception as exc:
            raise HeldoutError(f"{what}: '{member}' is a pickled object array with more than strings in it ({exc}); it is not loaded.") from None
    if not isinstance(array, np.ndarray) or not all(isinstance(x, (bytes, str)) for x in array.ravel()):
        raise HeldoutError(f"{what}: '{member}' must hold file names only.")
    return array


def _as_names(array: np.ndarray, key: str, what: str) -> np.ndarray:
    if array.ndim != 1:
        raise HeldoutError(f"{what}: '{key}' must be 1-D, got shape {array.shape}.")
    return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in array.tolist()], dtype=str)


def _as_labels(array: np.ndarray, n: int, key: str, what: str) -> np.ndarray:
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer):
        raise HeldoutError(f"{what}: '{key}' must be {n} integer labels, got {array.dtype} with shape {array.shape}.")
    if n and (array.min() < 0 or array.max() > 999):
        raise HeldoutError(f"{what}: '{key}' has labels outside 0..999.")
    return array.astype(np.int64)


def read_index(path: str | os.PathLike) -> ImagenetIndex:
    """Read ``imagenet_index.npz``; errors name the file and key."""
    what = str(path)
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            for key in KEYS:
                member = f"{key}.npy"
                if member not in members:
                    raise HeldoutError(f"{what} has no key '{key}' (expected {', '.join(KEYS)}).")
                info = archive.getinfo(member)
                if info.file_size > default_budget():
                    raise HeldoutError(f"{what}: '{key}' is {info.file_size} bytes, more than a file may take here.")
                try:
                    arrays[key] = read_npy_member(archive, info, key, what)
                except PickledArrayError:  # file names stored as an object array: read strings only
                    arrays[key] = _read_object_array(archive, member, what)
    except FileNotFoundError:
        raise HeldoutError(f"{what} does not exist.") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise HeldoutError(f"{what} is not a readable .npz file ({exc}).") from None
    train_names = _as_names(arrays["tr_filenames"], "tr_filenames", what)
    test_names = _as_names(arrays["tt_filenames"], "tt_filenames", what)
    for key, names in (("tr_filenames", train_names), ("tt_filenames", test_names)):
        if len(np.unique(names)) != len(names):
            raise HeldoutError(f"{what}: '{key}' names some file more than once.")
    return ImagenetIndex(train_names, _as_labels(arrays["tr_labels"], len(train_names), "tr_labels", what),
                         test_names, _as_labels(arrays["tt_labels"], len(test_names), "tt_labels", what))
