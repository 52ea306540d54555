"""The shared base of the released experiments: a Sonnet 2 network trained with SGD on tf.data.

:class:`SonnetExperiment` holds what the CIFAR (SmallInception) and ImageNet (ResNet-50)
experiments have in common: the training options, seeded model building, training with
:func:`~heldout_zoo.sonnet_training.train_sgd`, evaluation by example id, and checkpoints in
the release's format. A subclass supplies its data, its network and its two tf.data pipelines.

Checkpoints: the release wrote ``tf.train.Checkpoint(model=..., epoch=..., global_step=...)``
around Sonnet 2 modules (Feldman & Zhang 2020's released archives); saving and restoring the
same way is what lets ``heldout verify`` read the released checkpoints and ours alike. A restore
rebuilds the model with ``build_model(data, seed=0)`` and requires every one of its variables.

TensorFlow and Sonnet are imported inside the methods only; listing experiments stays fast.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from heldout_core.experiment import Experiment, Option

from .frameworks import NeedsPackages
from .tf_devices import OneWorkerPerGPU, wants_bfloat16

# each epoch's pipeline is seeded with run_seed * EPOCH_SEED_STRIDE + epoch
EPOCH_SEED_STRIDE = 100_003


def sonnet_options(*, batch_size: int, weight_decay: float, warmup_epochs: float) -> dict[str, Option]:
    """The options of a released experiment, with its own defaults where they differ."""
    return {
        "batch_size": Option(batch_size, int, "minibatch size", minimum=1),
        "learning_rate": Option(0.1, float, "peak SGD step size (after a linear warm-up)", above=0.0),
        "momentum": Option(0.9, float, "SGD momentum", minimum=0.0, below=1.0),
        "weight_decay": Option(weight_decay, float, "L2 penalty on convolution and linear weights", minimum=0.0),
        "warmup_epochs": Option(warmup_epochs, float, "epochs of linear learning-rate warm-up", minimum=0.0),
        "eval_batch_size": Option(500, int, "batch size for evaluation", minimum=1),
        "mixed_precision": Option("auto", str, "auto (bfloat16 convolutions on a GPU), on, or off", False,
                                  choices=("auto", "on", "off")),
    }


class SonnetExperiment(NeedsPackages, OneWorkerPerGPU, Experiment):
    """A released network trained on subsets; subclasses implement the four abstract methods.

    Class attributes:
        input_shape: (height, width, channels) of one image, for building the variables.
    """

    requires = ("tensorflow", "sonnet")
    input_shape: ClassVar[tuple[int, int, int]] = (32, 32, 3)

    # ----------------------------------------------------------------- what a subclass supplies
    @abc.abstractmethod
    def new_network(self) -> Any:
        """A new, unbuilt Sonnet module with the release's attribute tree."""

    @abc.abstractmethod
    def training_batches(self, data: Any, subset_idx: np.ndarray) -> Callable[[int], Any]:
        """A function of a seed giving one epoch of training batches of the subset:
        ``{"image": float32 (b, h, w, c), "label": int64 (b,)}``, batch size ``batch_size``."""

    @abc.abstractmethod
    def evaluation_batches(self, data: Any, split: str) -> tuple[Any, int]:
        """Batches ``{"image", "label", "index"}`` covering every example of ``split`` once, and
        the number of examples in it."""

    # ----------------------------------------------------------------- shared
    def build_model(self, data: Any, seed: int):
        import tensorflow as tf

        tf.random.set_seed(int(seed))
        model = self.new_network()
        model(tf.zeros([1, *self.input_shape]), is_training=False)  # create the variables now, from the seed
        return model

    def train(self, model, data: Any, subset_idx: np.ndarray, *, seed: int, epochs: int) -> None:
        from .sonnet_training import train_sgd

        c = self.config
        batches = self.training_batches(data, subset_idx)
        steps = -(-len(subset_idx) // c["batch_size"])
        model.trained_steps = train_sgd(
            model, lambda epoch: batches(int(seed) * EPOCH_SEED_STRIDE + epoch),
            epochs=epochs, steps_per_epoch=steps, learning_rate=c["learning_rate"], momentum=c["momentum"],
            weight_decay=c["weight_decay"], warmup_epochs=c["warmup_epochs"],
            mixed_precision=wants_bfloat16(c["mixed_precision"]))

    def evaluate(self, model, data: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.evaluate_split(model, data, "train"), self.evaluate_split(model, data, "test")

    def evaluate_split(self, model, data: Any, split: str) -> np.ndarray:
        """bool correctness on every example of ``split`` ("train" or "test"), by example id."""
        from .sonnet_training import evaluate_correctness

        batches, n = self.evaluation_batches(data, split)
        return evaluate_correctness(model, batches, n)

    def save_checkpoint(self, model, prefix: Path, *, epoch: int) -> None:
        from .sonnet_training import save_release_checkpoint

        save_release_checkpoint(model, prefix, epoch=epoch, global_step=getattr(model, "trained_steps", 0))

    def restore_checkpoint(self, data: Any, prefix: Path):
        from .sonnet_training import restore_release_checkpoint

        model = self.build_model(data, seed=0)
        restore_release_checkpoint(model, prefix)
        return model
