"""The MLP experiment family: everything but the data, shared by ``digits``, ``mnist`` and ``arrays``.

A concrete experiment subclasses :class:`MLPExperiment` and implements :meth:`load_arrays`.
Options (``heldout train EXP -o name=value``) shared by the family:

==================  ========================================================================
``hidden``          hidden layer sizes, e.g. ``512,256``
``learning_rate``   SGD step size
``momentum``        SGD momentum
``batch_size``      minibatch size (the last, partial batch of an epoch is kept, as in Keras)
``label_noise``     fraction of training labels replaced by another class, chosen with
                    ``noise_seed``; the flipped ids and clean labels are recorded in
                    ``labels.npz`` (``noisy_idx``, ``clean_labels_train``)
``noise_seed``      seed of the label noise (independent of ``--seed``)
``runs_per_batch``  models trained together by the batched trainer
``mixed_precision`` ``auto``: bfloat16 matmuls when training on a GPU; ``on``: always; ``off``: float32
``jit``             compile the batched trainer's epoch with XLA (``true``/``false``)
==================  ========================================================================

TensorFlow is imported by the methods that need it (see :mod:`heldout_zoo.tf_mlp`).
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from heldout_core.errors import HeldoutError
from heldout_core.experiment import ArrayData, Experiment, Option, boolean, int_list
from heldout_core.training.label_noise import flip_labels, noise_extras

from .frameworks import NeedsPackages
from .tf_devices import OneWorkerPerGPU, wants_bfloat16


# classes an MLP's output layer may have when they come from the data (ImageNet has 1,000)
MAX_CLASSES = 100_000


def _option_table(hidden: tuple[int, ...], runs_per_batch: int, learning_rate: float = 0.1,
                  batch_size: int = 128, max_epochs: int = 100) -> dict[str, Option]:
    return {
        "hidden": Option(hidden, int_list, "hidden layer sizes, e.g. 512,256"),
        "learning_rate": Option(learning_rate, float, "SGD step size", above=0.0),
        "momentum": Option(0.9, float, "SGD momentum", minimum=0.0, below=1.0),
        "batch_size": Option(batch_size, int, "minibatch size", minimum=1),
        "fit_target": Option(1.0, float, "without --epochs, train each model until its accuracy on its own subset "
                                         "reaches this (0: train max_epochs epochs)", minimum=0.0, maximum=1.0),
        "max_epochs": Option(max_epochs, int, "without --epochs, the most epochs a model trains", minimum=1),
        "label_noise": Option(0.0, float, "fraction of training labels flipped to another class", minimum=0.0, below=1.0),
        "noise_seed": Option(0, int, "seed of the label noise", minimum=0, maximum=2**63 - 1),
        "runs_per_batch": Option(runs_per_batch, int, "models trained together by the batched trainer", False, minimum=1),
        "mixed_precision": Option("auto", str, "auto (bfloat16 matmuls on a GPU), on, or off", False,
                                  choices=("auto", "on", "off")),
        "jit": Option(True, boolean, "XLA-compile the batched trainer (true/false)", False),
    }


class MLPExperiment(NeedsPackages, OneWorkerPerGPU, Experiment):
    """An MLP trained with SGD + momentum on arrays; subclasses supply :meth:`load_arrays`."""

    requires = ("tensorflow",)
    options: ClassVar[dict[str, Option]] = _option_table((512, 256), 16)

    def __init__(self, **options: Any):
        super().__init__(**options)
        c = self.config
        if any(h < 1 for h in c["hidden"]):
            raise HeldoutError(f"option hidden must be positive layer sizes, got {c['hidden']}.")
        # instances may batch a different number of runs than the class default
        self.runs_per_batch = int(c["runs_per_batch"])

    # ----------------------------------------------------------------- data
    @abc.abstractmethod
    def load_arrays(self, data_path: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``x_train, y_train, x_test, y_test``: float32 inputs scaled for training, int labels."""

    def load_data(self, data_path: Path | None) -> ArrayData:
        x_train, y_train, x_test, y_test = self.load_arrays(data_path)
        y_train = np.asarray(y_train, dtype=np.int64)
        y_test = np.asarray(y_test, dtype=np.int64)
        k = self.classes_of(y_train, y_test)
        extras: dict[str, np.ndarray] = {}
        if self.config["label_noise"] > 0:
            noisy, flipped = flip_labels(y_train, self.config["label_noise"], k, self.config["noise_seed"])
            extras = noise_extras(y_train, flipped)
            y_train = noisy
        return ArrayData(np.asarray(x_train, dtype=np.float32), y_train, np.asarray(x_test, dtype=np.float32), y_test, extras)

    def images(self, data_path: Path | None, split: str, ids: np.ndarray):
        """The inputs of ``ids`` as pictures when they are square-length vectors (digits' 64 ->
        8x8, MNIST's 784 -> 28x28, as :meth:`load_arrays` scales them); None otherwise."""
        from heldout_core.example_images import as_images

        x_train, _, x_test, _ = self.load_arrays(data_path)
        return as_images(np.asarray(x_train if split == "train" else x_test)[ids])

    def classes_of(self, y_train: np.ndarray, y_test: np.ndarray) -> int:
        """Number of classes: ``num_classes``, or 1 + the largest label when it comes from the data."""
        largest = int(max(y_train.max(initial=0), y_test.max(initial=0)))
        if min(y_train.min(initial=0), y_test.min(initial=0)) < 0:
            raise HeldoutError(f"experiment '{self.name}': labels must be 0, 1, ..., got negative labels.")
        if self.num_classes is None and largest >= MAX_CLASSES:
            raise HeldoutError(f"experiment '{self.name}': the labels go up to {largest}, so the model would need "
                               f"{largest + 1} outputs; number the classes 0, 1, ..., K-1 (K at most {MAX_CLASSES}).")
        if self.num_classes is not None:
            if largest >= self.num_classes:
                raise HeldoutError(f"experiment '{self.name}' has {self.num_classes} classes but the data has label {largest}.")
            return self.num_classes
        return max(largest + 1, 2)

    def sizes(self, data: ArrayData) -> tuple[int, ...]:
        """Layer sizes (d_in, hidden..., classes)."""
        d_in = int(np.prod(data.x_train.shape[1:]))
        return (d_in, *self.config["hidden"], self.classes_of(data.y_train, data.y_test))

    # ----------------------------------------------------------------- model
    def build_model(self, data: ArrayData, seed: int):
        from . import tf_mlp

        return tf_mlp.build(self.sizes(data), seed)

    def stopping_rule(self) -> str | None:
        c = self.config
        if c["fit_target"] <= 0:
            return None
        return (f"each model until its accuracy on its subset reaches {c['fit_target']:g}, "
                f"at most {c['max_epochs']} epochs")

    def _schedule(self, epochs: int | None) -> dict:
        """Fixed epochs, or the fit rule (max_epochs alone when fit_target is 0)."""
        c = self.config
        if epochs is not None:
            return {"epochs": epochs}
        if c["fit_target"] <= 0:
            return {"epochs": c["max_epochs"]}
        return {"epochs": None, "fit_target": c["fit_target"], "max_epochs": c["max_epochs"]}

    def train(self, model, data: ArrayData, subset_idx: np.ndarray, *, seed: int, epochs: int | None) -> None:
        from . import tf_mlp

        c = self.config
        tf_mlp.train_keras(model, data.x_train, data.y_train, subset_idx, seed=seed, learning_rate=c["learning_rate"],
                           momentum=c["momentum"], batch_size=c["batch_size"], **self._schedule(epochs))

    def train_many(self, data: ArrayData, subsets: Sequence[np.ndarray], seeds: Sequence[int], *, epochs: int | None):
        from . import tf_mlp

        c = self.config
        mixed = wants_bfloat16(c["mixed_precision"])
        return tf_mlp.train_batched(data.x_train, data.y_train, subsets, seeds, sizes=self.sizes(data),
                                    learning_rate=c["learning_rate"], momentum=c["momentum"],
                                    batch_size=c["batch_size"], mixed_precision=mixed, jit=c["jit"],
                                    **self._schedule(epochs))

    def evaluate(self, model, data: ArrayData) -> tuple[np.ndarray, np.ndarray]:
        return self.evaluate_many([model], data)[0]

    def evaluate_many(self, models, data: ArrayData) -> list[tuple[np.ndarray, np.ndarray]]:
        """All models of a batch in one graph call per chunk of examples (see ``tf_mlp.predict_many``)."""
        from . import tf_mlp

        train = tf_mlp.predict_many(models, data.x_train) == data.y_train
        test = tf_mlp.predict_many(models, data.x_test) == data.y_test
        return list(zip(train, test))

    def save_checkpoint(self, model, prefix: Path, *, epoch: int) -> None:
        from . import tf_mlp

        tf_mlp.save(model, prefix, epoch)

    def restore_checkpoint(self, data: ArrayData, prefix: Path):
        from . import tf_mlp

        return tf_mlp.restore(self.sizes(data), prefix)
