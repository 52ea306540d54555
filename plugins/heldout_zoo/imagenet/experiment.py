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

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from heldout_core import hookimpl
from heldout_core.errors import HeldoutError
from heldout_core.experiment import Experiment, Option

from ..release_checkpoints import ReleaseCheckpoints
from ..tf_devices import OneWorkerPerGPU, wants_bfloat16

INDEX_FILE = "imagenet_index.npz"


@dataclass(frozen=True)
class ImagenetData:
    """TFRecord shards of both splits and the labels of every example id.

    Attributes:
        train_files, test_files: TFRecord paths; test is the ImageNet validation set.
        labels_train: int64 (n_train,), labels_test: int64 (n_test,), classes 0..999.
    """

    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    labels_train: np.ndarray
    labels_test: np.ndarray

    @property
    def n_train(self) -> int:
        return len(self.labels_train)

    @property
    def n_test(self) -> int:
        return len(self.labels_test)


class ImagenetResnet50(ReleaseCheckpoints, OneWorkerPerGPU, Experiment):
    name = "imagenet-resnet50"
    num_classes = 1000
    default_ratios = (0.7,)
    default_runs = 2000
    default_epochs = 90
    data_help = f"a folder with train-*/validation-* indexed TFRecords and {INDEX_FILE}"
    options: ClassVar = {
        "batch_size": Option(256, int, "minibatch size"),
        "learning_rate": Option(0.1, float, "peak SGD step size (after a linear warm-up)"),
        "momentum": Option(0.9, float, "SGD momentum"),
        "weight_decay": Option(1e-4, float, "L2 penalty on convolution and linear weights"),
        "warmup_epochs": Option(5.0, float, "epochs of linear learning-rate warm-up"),
        "eval_batch_size": Option(500, int, "batch size for evaluation"),
        "mixed_precision": Option("auto", str, "auto (bfloat16 convolutions on a GPU), on, or off", False),
    }

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

    def build_model(self, data: ImagenetData, seed: int):
        import tensorflow as tf

        from .model import resnet50

        tf.random.set_seed(int(seed))
        model = resnet50(self.num_classes)
        model(tf.zeros([1, 224, 224, 3]), is_training=False)
        return model

    def train(self, model, data: ImagenetData, subset_idx: np.ndarray, *, seed: int, epochs: int) -> None:
        from heldout_zoo.cifar.training import train_sgd

        from .records import imagenet_dataset

        c = self.config
        steps = -(-len(subset_idx) // c["batch_size"])
        model.trained_steps = train_sgd(
            model, lambda epoch: imagenet_dataset(data.train_files, c["batch_size"], training=True,
                                                  seed=int(seed) * 100_003 + epoch, subset_ids=subset_idx),
            epochs=epochs, steps_per_epoch=steps, learning_rate=c["learning_rate"], momentum=c["momentum"],
            weight_decay=c["weight_decay"], warmup_epochs=c["warmup_epochs"],
            mixed_precision=wants_bfloat16(c["mixed_precision"]))

    def evaluate(self, model, data: ImagenetData) -> tuple[np.ndarray, np.ndarray]:
        return self.evaluate_split(model, data, "train"), self.evaluate_split(model, data, "test")

    def evaluate_split(self, model, data: ImagenetData, split: str) -> np.ndarray:
        """bool correctness on every example of ``split`` ("train" or "test"), by example id."""
        from heldout_zoo.cifar.training import evaluate_correctness

        from .records import imagenet_dataset

        files, n = (data.train_files, data.n_train) if split == "train" else (data.test_files, data.n_test)
        return evaluate_correctness(model, imagenet_dataset(files, self.config["eval_batch_size"], training=False), n)


@hookimpl
def register_experiments(register):
    register(ImagenetResnet50)
