"""``cifar10-inception`` and ``cifar100-inception``: the released CIFAR experiments.

Data (``--data``): ``cifar-10-binary.tar.gz`` / ``cifar-100-binary.tar.gz`` as distributed, the
unpacked ``cifar-10-batches-bin/`` / ``cifar-100-binary/`` folder (or its parent), or ``tfds`` /
``tfds:DIR`` for a prepared TFDS dataset. Example ids follow the source: original file order for
the binary files, TFDS order for TFDS, which is the order of the released run records (see
:mod:`.data`). To compare with or extend the released runs, use ``tfds``.

Model: :class:`~.model.SmallInception`, inputs /255. Training (project defaults, documented
because the release does not publish its training code): SGD with momentum 0.9, batch 128, peak
step 0.1 with a one-epoch linear warm-up and cosine decay, weight decay 5e-4, random crops (pad 4)
and flips. Checkpoints hold ``model``, ``epoch`` and ``global_step`` like the release's, so
``heldout verify`` and the released checkpoints use the same code.

TensorFlow is imported inside the methods only; listing experiments stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from heldout_core import hookimpl
from heldout_core.errors import HeldoutError
from heldout_core.experiment import Experiment, Option

from ..release_checkpoints import ReleaseCheckpoints
from ..tf_devices import OneWorkerPerGPU, wants_bfloat16
from .data import CifarArrays, load_cifar


@dataclass(frozen=True)
class CifarData:
    """Both splits of a CIFAR variant (see :class:`~.data.CifarArrays`)."""

    train: CifarArrays
    test: CifarArrays

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_test(self) -> int:
        return len(self.test)

    @property
    def labels_train(self) -> np.ndarray:
        return self.train.labels[np.argsort(self.train.ids)]

    @property
    def labels_test(self) -> np.ndarray:
        return self.test.labels[np.argsort(self.test.ids)]


class CifarInception(ReleaseCheckpoints, OneWorkerPerGPU, Experiment):
    """SmallInception on a CIFAR variant; subclasses set ``variant`` and ``num_classes``."""

    variant: ClassVar[str] = "cifar10"
    default_ratios = (0.7,)
    default_runs = 100
    default_epochs = 100
    options: ClassVar = {
        "batch_size": Option(128, int, "minibatch size"),
        "learning_rate": Option(0.1, float, "peak SGD step size (after a linear warm-up)"),
        "momentum": Option(0.9, float, "SGD momentum"),
        "weight_decay": Option(5e-4, float, "L2 penalty on convolution and linear weights"),
        "warmup_epochs": Option(1.0, float, "epochs of linear learning-rate warm-up"),
        "eval_batch_size": Option(500, int, "batch size for evaluation"),
        "mixed_precision": Option("auto", str, "auto (bfloat16 convolutions on a GPU), on, or off", False),
    }

    def load_data(self, data_path: Path | None) -> CifarData:
        if data_path is None:
            raise HeldoutError(f"experiment '{self.name}' needs --data: {self.data_help}.")
        return CifarData(load_cifar(self.variant, data_path, "train"), load_cifar(self.variant, data_path, "test"))

    def build_model(self, data: CifarData, seed: int):
        import tensorflow as tf

        from .model import SmallInception

        tf.random.set_seed(int(seed))
        model = SmallInception(self.num_classes)
        model(tf.zeros([1, 32, 32, 3]), is_training=False)  # create the variables now, from the seed
        return model

    def train(self, model, data: CifarData, subset_idx: np.ndarray, *, seed: int, epochs: int) -> None:
        from .data import cifar_dataset
        from .training import train_sgd

        c = self.config
        subset = data.train.subset(subset_idx)
        steps = -(-len(subset) // c["batch_size"])
        model.trained_steps = train_sgd(
            model, lambda epoch: cifar_dataset(subset, c["batch_size"], training=True, seed=int(seed) * 100_003 + epoch),
            epochs=epochs, steps_per_epoch=steps, learning_rate=c["learning_rate"], momentum=c["momentum"],
            weight_decay=c["weight_decay"], warmup_epochs=c["warmup_epochs"],
            mixed_precision=wants_bfloat16(c["mixed_precision"]))

    def evaluate(self, model, data: CifarData) -> tuple[np.ndarray, np.ndarray]:
        return self.evaluate_split(model, data, "train"), self.evaluate_split(model, data, "test")

    def evaluate_split(self, model, data: CifarData, split: str) -> np.ndarray:
        """bool correctness on every example of ``split`` ("train" or "test"), by example id."""
        from .data import cifar_dataset
        from .training import evaluate_correctness

        arrays = data.train if split == "train" else data.test
        return evaluate_correctness(model, cifar_dataset(arrays, self.config["eval_batch_size"], training=False), len(arrays))


class Cifar10Inception(CifarInception):
    name = "cifar10-inception"
    variant = "cifar10"
    num_classes = 10
    data_help = "cifar-10-binary.tar.gz, its cifar-10-batches-bin/ folder, or tfds[:DIR] (the release's order)"


class Cifar100Inception(CifarInception):
    name = "cifar100-inception"
    variant = "cifar100"
    num_classes = 100
    data_help = "cifar-100-binary.tar.gz, its cifar-100-binary/ folder, or tfds[:DIR] (the release's order)"


@hookimpl
def register_experiments(register):
    register(Cifar10Inception)
    register(Cifar100Inception)
