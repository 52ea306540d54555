"""``cifar10-inception`` and ``cifar100-inception``: the released CIFAR experiments.

Data (``--data``): ``cifar-10-binary.tar.gz`` / ``cifar-100-binary.tar.gz`` as distributed, the
unpacked ``cifar-10-batches-bin/`` / ``cifar-100-binary/`` folder (or its parent), or ``tfds`` /
``tfds:DIR`` for a prepared TFDS dataset. Example ids follow the source: original file order for
the binary files, TFDS order for TFDS, which is the order of the released run records (see
:mod:`.data`). To compare with or extend the released runs, use ``tfds``.

Model: :class:`~.model.SmallInception`, inputs /255. Training (project defaults, documented
because the release does not publish its training code): SGD with momentum 0.9, batch 128, peak
step 0.1 with a one-epoch linear warm-up and cosine decay, weight decay 5e-4, random crops (pad 4)
and flips. Training, evaluation and checkpoints in the release's format come from
:class:`~heldout_zoo.sonnet_experiment.SonnetExperiment`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from heldout_core import hookimpl
from heldout_core.errors import HeldoutError

from ..sonnet_experiment import SonnetExperiment, sonnet_options
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


class CifarInception(SonnetExperiment):
    """SmallInception on a CIFAR variant; subclasses set ``variant`` and ``num_classes``."""

    variant: ClassVar[str] = "cifar10"
    default_ratios = (0.7,)
    default_runs = 100
    default_epochs = 100
    input_shape = (32, 32, 3)
    options: ClassVar = sonnet_options(batch_size=128, weight_decay=5e-4, warmup_epochs=1.0)

    def load_data(self, data_path: Path | None) -> CifarData:
        if data_path is None:
            raise HeldoutError(f"experiment '{self.name}' needs --data: {self.data_help}.")
        return CifarData(load_cifar(self.variant, data_path, "train"), load_cifar(self.variant, data_path, "test"))

    def relabel(self, data: CifarData, labels_train: np.ndarray) -> CifarData:
        """The data with other training labels (given by example id)."""
        train = dataclasses.replace(data.train, labels=np.asarray(labels_train, dtype=np.int64)[data.train.ids])
        return dataclasses.replace(data, train=train)

    def images(self, data_path: Path | None, split: str, ids: np.ndarray) -> np.ndarray:
        """uint8 (len(ids), 32, 32, 3) images of ``ids``, read from ``--data`` as for training."""
        if data_path is None:
            raise HeldoutError(f"experiment '{self.name}' needs --data for its images: {self.data_help}.")
        return load_cifar(self.variant, data_path, split).subset(ids).images

    def new_network(self):
        from .model import SmallInception

        return SmallInception(self.num_classes)

    def training_batches(self, data: CifarData, subset_idx: np.ndarray):
        from .data import cifar_dataset

        subset = data.train.subset(subset_idx)
        return lambda seed: cifar_dataset(subset, self.config["batch_size"], training=True, seed=seed)

    def evaluation_batches(self, data: CifarData, split: str):
        from .data import cifar_dataset

        arrays = data.train if split == "train" else data.test
        return cifar_dataset(arrays, self.config["eval_batch_size"], training=False), len(arrays)


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
