"""``arrays``: bring your own data as an ``.npz``, trained with a configurable MLP.

``--data PATH`` names an ``.npz`` (plain arrays, no pickles) with ``x_train`` (n_train, ...),
``y_train`` (n_train,), ``x_test`` (n_test, ...) and ``y_test`` (n_test,). Inputs are used as
given, flattened to float32, so scale them first (e.g. to [0, 1]); labels are integers
0..K-1 and the number of classes K is 1 + the largest label. Example ids are row positions.

Model: an MLP with hidden sizes, step size, epochs... set by options, e.g.::

    heldout train arrays --data my.npz --out runs --ratio 0.7 --runs 500 \\
        --epochs 30 -o hidden=512,256 -o learning_rate=0.05 -o batch_size=64

Defaults: one hidden layer of 256 units, SGD with momentum 0.9, step 0.05, batch 64, 30 epochs.
Check that the training accuracy on the subsets is near 100% (``heldout train`` records it in
each run's aux_arrays.npz as ``correctness_train``): memorization estimates mean little for
models that have not fit their training set.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from heldout_core import hookimpl
from heldout_core.errors import HeldoutError, ParameterError
from heldout_core.npz import load_npz
from heldout_core.records import check_labels

from .mlp import MLPExperiment, _option_table

KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four arrays of a bring-your-own-data ``.npz``, checked."""
    arrays = load_npz(path, str(path))
    for key in KEYS:
        if key not in arrays:
            raise HeldoutError(f"{path} has no key '{key}'; it needs x_train, y_train, x_test and y_test.")
    x_train, y_train, x_test, y_test = (arrays[k] for k in KEYS)
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if y.ndim != 1:
            raise HeldoutError(f"{path}: 'y_{name}' must be 1-D integer class labels, got {y.dtype} {y.shape}.")
        try:
            check_labels(y, len(y), f"y_{name}")
        except ParameterError as exc:
            raise HeldoutError(f"{path}: {exc.naming(repr(f'y_{name}'))}") from None
        if x.ndim < 1 or x.shape[0] != y.shape[0]:
            raise HeldoutError(f"{path}: 'x_{name}' has {x.shape[0] if x.ndim else 0} rows but 'y_{name}' has {y.shape[0]}.")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise HeldoutError(f"{path}: 'x_{name}' must be numeric, got {x.dtype}.")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise HeldoutError(f"{path}: 'x_train' examples have shape {x_train.shape[1:]} but 'x_test' examples {x_test.shape[1:]}.")
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32)  # noqa: E731
    if not (np.isfinite(flat(x_train)).all() and np.isfinite(flat(x_test)).all()):
        raise HeldoutError(f"{path}: x_train and x_test must be finite (no NaN or inf).")
    return flat(x_train), y_train.astype(np.int64), flat(x_test), y_test.astype(np.int64)


class Arrays(MLPExperiment):
    name = "arrays"
    num_classes = None
    default_ratios = (0.7,)
    default_runs = 100
    default_epochs = 100
    data_help = "--data: an .npz with x_train, y_train, x_test, y_test"
    options: ClassVar = _option_table((256,), 32, learning_rate=0.1, batch_size=32, max_epochs=100)
    runs_per_batch = 32

    def load_arrays(self, data_path: Path | None):
        if data_path is None:
            raise HeldoutError("experiment 'arrays' needs --data PATH, an .npz with x_train, y_train, x_test and y_test.")
        return read_arrays(Path(data_path))

    def images(self, data_path: Path | None, split: str, ids: np.ndarray):
        """``x_<split>[ids]`` as pictures when the arrays hold images, in the shape the file gives
        (2-D or 3-D per example, or square-length vectors); None for other inputs."""
        from heldout_core.example_images import as_images

        if data_path is None:
            self.load_arrays(None)  # raises, saying that --data is needed
        x = load_npz(Path(data_path), str(data_path)).get(f"x_{split}")
        return None if x is None else as_images(x[ids])

@hookimpl
def register_experiments(register):
    register(Arrays)
