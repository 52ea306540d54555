"""``imagenet-resnet50``: the released ImageNet experiment.

Data (``--data``): a folder with the indexed TFRecords (``train-*-of-*``, ``validation-*-of-*``,
written by :mod:`.builder` or the release's builder) and ``imagenet_index.npz``, which gives the
class of every example id (the labels the run records refer to).

Model: Sonnet 2's ResNet-50 (:mod:`.model`), 224x224 inputs normalized per channel
(:mod:`.records`). Training (project defaults; the release does not publish its training code):
SGD with momentum 0.9, batch 256, peak step 0.1 with a 5-epoch linear warm-up and cosine decay,
weight decay 1e-4, 90 epochs. Training and evaluating one run takes a GPU about a day; the
defaults are meant for accelerators, not for this machine's tests.
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

INDEX_FILE = "imagenet_index.npz"


@dataclass(frozen=True)
class ImagenetData:
    """TFRecord shards of both splits and the labels of every example id.

    Attributes:
        train_files, test_files: TFRecord paths; test is the ImageNet validation set.
        labels_train: int64 (n_train,), labels_test: int64 (n_test,), classes 0..999.
        relabelled: True when ``labels_train`` differ from the records' (label noise): the
            training pipelines then take labels from ``labels_train`` by example id.
    """

    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    labels_train: np.ndarray
    labels_test: np.ndarray
    relabelled: bool = False

    @property
    def n_train(self) -> int:
        return len(self.labels_train)

    @property
    def n_test(self) -> int:
        return len(self.labels_test)


class ImagenetResnet50(SonnetExperiment):
    name = "imagenet-resnet50"
    num_classes = 1000
    default_ratios = (0.7,)
    default_runs = 2000
    default_epochs = 90
    input_shape = (224, 224, 3)
    data_help = f"a folder with train-*/validation-* indexed TFRecords and {INDEX_FILE}"
    options: ClassVar = sonnet_options(batch_size=256, weight_decay=1e-4, warmup_epochs=5.0)

    def load_data(self, data_path: Path | None) -> ImagenetData:
        from .index_file import read_index
        from .records import record_files

        if data_path is None:
            raise HeldoutError(f"experiment '{self.name}' needs --data: {self.data_help}.")
        folder = Path(data_path)
        if not (folder / INDEX_FILE).is_file():
            raise HeldoutError(f"{folder / INDEX_FILE} does not exist; the run records' example ids come from it.")
        index = read_index(folder / INDEX_FILE)
        return ImagenetData(tuple(record_files(folder, "train")), tuple(record_files(folder, "test")),
                            index.train_labels, index.test_labels)

    def relabel(self, data: ImagenetData, labels_train: np.ndarray) -> ImagenetData:
        return dataclasses.replace(data, labels_train=np.asarray(labels_train, dtype=np.int64), relabelled=True)

    def images(self, data_path: Path | None, split: str, ids: np.ndarray) -> list:
        """Centre crops of ``ids`` decoded from the TFRecords of ``--data``, None for an id not
        found within the bounded read of :func:`.records.read_pictures`."""
        from .records import read_pictures

        data = self.load_data(data_path)
        files, n = (data.train_files, data.n_train) if split == "train" else (data.test_files, data.n_test)
        return read_pictures(files, ids, n)

    def new_network(self):
        from .model import resnet50

        return resnet50(self.num_classes)

    def training_batches(self, data: ImagenetData, subset_idx: np.ndarray):
        from .records import imagenet_dataset

        labels = data.labels_train if data.relabelled else None
        return lambda seed: imagenet_dataset(data.train_files, self.config["batch_size"], training=True, seed=seed,
                                             subset_ids=subset_idx, labels=labels)

    def evaluation_batches(self, data: ImagenetData, split: str):
        from .records import imagenet_dataset

        if split == "train":
            labels = data.labels_train if data.relabelled else None
            return imagenet_dataset(data.train_files, self.config["eval_batch_size"], training=False, labels=labels), data.n_train
        return imagenet_dataset(data.test_files, self.config["eval_batch_size"], training=False), data.n_test


@hookimpl
def register_experiments(register):
    register(ImagenetResnet50)
