"""``digits``: scikit-learn's 8x8 handwritten digits with a small MLP; runs anywhere in seconds.

Data: ``sklearn.datasets.load_digits()`` (1,797 images of 8x8 pixels, values 0..16, bundled with
scikit-learn, no download), in its file order: examples 0..1199 are the training set (ids
0..1199), examples 1200..1796 the test set (ids 0..596). Pixels are divided by 16.

Model: 64-128-10 ReLU MLP, SGD with momentum 0.9, step 0.1, batch 32, 80 epochs: it fits its
70% subset of 840 images to (near) zero training error, including 5% flipped labels
(measured: 99.96% mean training accuracy on the subset, 99.3% of flipped labels fitted).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from heldout_core import hookimpl
from heldout_core.errors import HeldoutError

from .frameworks import require
from .mlp import MLPExperiment, _option_table

N_TRAIN = 1200


class Digits(MLPExperiment):
    name = "digits"
    num_classes = 10
    default_ratios = (0.7,)
    default_runs = 200
    default_epochs = 80
    data_help = "built in: sklearn.datasets.load_digits (first 1200 train, last 597 test)"
    options: ClassVar = _option_table((128,), 128, batch_size=32, max_epochs=80)
    runs_per_batch = 128
    requires = ("tensorflow", "sklearn")

    def load_arrays(self, data_path: Path | None):
        if data_path is not None:
            raise HeldoutError("experiment 'digits' uses the digits bundled with scikit-learn; drop --data.")
        require(self.name, ("sklearn",))
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = (digits.data / 16.0).astype(np.float32)
        y = digits.target.astype(np.int64)
        return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


@hookimpl
def register_experiments(register):
    register(Digits)
