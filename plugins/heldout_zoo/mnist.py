"""``mnist``: the original demonstration's MLP on MNIST, in the original IDX file order.

Data (``--data PATH``), either:

- a folder with the four IDX files of http://yann.lecun.com/exdb/mnist/ --
  ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each optionally gzipped (``.gz``; ``train-images.idx3-ubyte``
  spellings are accepted too); or
- Keras' ``mnist.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``; the IDX order),
  or a folder holding it.

Without ``--data`` it looks for ``~/.keras/datasets/mnist.npz`` (where
``keras.datasets.mnist.load_data()`` caches it). Example ids are positions in the files:
training ids 0..59999, test ids 0..9999. This is *not* the TFDS order, which differs from the
IDX file order.
Pixels are divided by 255.

Model (Feldman & Zhang 2020, the demonstration): 784-512-256-10 ReLU MLP, SGD with momentum
0.9, step 0.1, batch 128, 10 epochs, subset ratio 0.7, 2,000 runs.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from heldout_core import hookimpl
from heldout_core.errors import HeldoutError
from heldout_core.npz import default_budget, load_npz

from .mlp import MLPExperiment, _option_table

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
NPZ_NAME = "mnist.npz"
_UBYTE = 0x08


def default_locations() -> list[Path]:
    """Where the experiment looks when no ``--data`` is given."""
    return [Path.home() / ".keras" / "datasets" / NPZ_NAME]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes as a uint8 array of its declared shape.

    Format: two zero bytes, type code 0x08 (ubyte), number of dimensions, then each dimension as
    a big-endian uint32, then the data in C order. The header is read first and its declared size
    checked against a budget, so a damaged (or hostile) gzip cannot make us inflate gigabytes.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise HeldoutError(f"{path} is not an IDX file (it does not start with two zero bytes).")
            if head[2] != _UBYTE:
                raise HeldoutError(f"{path} holds IDX type 0x{head[2]:02x}; MNIST files hold unsigned bytes (0x08).")
            dims = handle.read(4 * head[3])
            if len(dims) < 4 * head[3]:
                raise HeldoutError(f"{path} is truncated inside its IDX header.")
            shape = struct.unpack(f">{head[3]}I", dims)
            expected = math.prod(shape)
            budget = default_budget()
            if expected > budget:
                raise HeldoutError(f"{path} declares shape {shape} ({expected} bytes), more than the {budget} bytes "
                                   f"a file may take here; it is not an MNIST file.")
            raw = handle.read(expected + 1)  # one byte more tells a file that is too long
    except HeldoutError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise HeldoutError(f"{path} cannot be read ({exc}).") from None
    if len(raw) != expected:
        held = f"{len(raw)} bytes" if len(raw) <= expected else "more bytes"
        raise HeldoutError(f"{path} declares shape {shape} ({expected} bytes) but holds {held} of data.")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_folder(folder: Path) -> dict[str, np.ndarray] | None:
    """The four MNIST arrays from IDX files in ``folder``; None when none of them is there."""
    found = {key: _find_idx(folder, stem) for key, stem in IDX_FILES.items()}
    if not any(found.values()):
        return None
    missing = [IDX_FILES[k] for k, p in found.items() if p is None]
    if missing:
        raise HeldoutError(f"{folder} has some MNIST IDX files but not {missing[0]}[.gz].")
    return {key: read_idx(path) for key, path in found.items()}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The four arrays of Keras' ``mnist.npz``."""
    arrays = load_npz(path, str(path))
    for key in IDX_FILES:
        if key not in arrays:
            raise HeldoutError(f"{path} has no key '{key}'; Keras' mnist.npz has x_train, y_train, x_test, y_test.")
    return {key: arrays[key] for key in IDX_FILES}


def check_mnist(arrays: dict[str, np.ndarray], where: str) -> None:
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise HeldoutError(f"{where}: the {split} images have shape {x.shape}; MNIST images are (n, 28, 28).")
        if y.shape != (x.shape[0],):
            raise HeldoutError(f"{where}: {x.shape[0]} {split} images but {y.shape[0] if y.ndim else 0} labels.")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise HeldoutError(f"{where}: {split} labels must be digits 0..9.")


def load_mnist(data_path: Path | None) -> dict[str, np.ndarray]:
    """MNIST in IDX file order from ``data_path`` (folder or .npz) or the default locations."""
    candidates = [Path(data_path)] if data_path is not None else default_locations()
    for candidate in candidates:
        if candidate.is_file():
            arrays, where = read_npz(candidate), str(candidate)
        elif candidate.is_dir():
            arrays, where = read_idx_folder(candidate), str(candidate)
            if arrays is None and (candidate / NPZ_NAME).is_file():
                arrays, where = read_npz(candidate / NPZ_NAME), str(candidate / NPZ_NAME)
            if arrays is None:
                continue
        else:
            continue
        check_mnist(arrays, where)
        return arrays
    looked = ", ".join(str(c) for c in candidates)
    raise HeldoutError(
        f"MNIST was not found (looked in {looked}): put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        f"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (or Keras' mnist.npz) in a folder and pass it with --data."
    )


class MNIST(MLPExperiment):
    name = "mnist"
    num_classes = 10
    default_ratios = (0.7,)
    default_runs = 2000
    default_epochs = 10
    data_help = "--data: folder of MNIST IDX files (.gz or not) or Keras mnist.npz; default ~/.keras/datasets/mnist.npz"
    options: ClassVar = _option_table((512, 256), 16, max_epochs=30)
    runs_per_batch = 16

    def load_arrays(self, data_path: Path | None):
        a = load_mnist(data_path)
        scale = lambda x: (x.reshape(len(x), -1) / 255.0).astype(np.float32)  # noqa: E731
        return scale(a["x_train"]), a["y_train"].astype(np.int64), scale(a["x_test"]), a["y_test"].astype(np.int64)


@hookimpl
def register_experiments(register):
    register(MNIST)
