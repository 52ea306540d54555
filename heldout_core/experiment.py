"""What an experiment supplies: data, a model, training on a subset, correctness, checkpoints.

An experiment is a subclass of :class:`Experiment` registered by a plugin (see
:mod:`heldout_core.hookspecs`). The run driver (:mod:`heldout_core.training.driver`) chooses the
subsets, calls the experiment to train and evaluate one model per run, and writes the records;
the experiment never touches the record files. The driver only reads ``n_train``, ``n_test``,
``labels_train`` and ``labels_test`` from the data object, so the data may be arrays in memory
(:class:`ArrayData`) or anything else (tf.data pipelines over TFRecords) the experiment knows how
to train on. Nothing here imports a framework: experiments import TensorFlow inside their
methods, so listing experiments stays fast.

Example ids: training example ``i`` is position ``i`` of the experiment's documented training
order, and likewise for test examples; records of every run refer to examples by these ids.

A complete minimal experiment (numpy only, a nearest-centroid classifier) is the example plugin
in ``tests/example_plugin/heldout_example_plugin/__init__.py``; the README shows it with its
``pyproject.toml`` entry point.

Optional, for many small models: set ``runs_per_batch`` and implement :meth:`Experiment.train_many`
to train several runs in one program (the MLP experiments of ``heldout_zoo`` do this); override
:meth:`Experiment.devices` and :meth:`Experiment.device_scope` to spread runs over accelerators;
:meth:`Experiment.check_requirements` to say which install is missing before any work starts;
:meth:`Experiment.evaluate_split` to evaluate one split alone (``heldout verify``);
:meth:`Experiment.images` to show examples in figures (``heldout report``).
"""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence

import numpy as np

from .errors import HeldoutError


class Data(Protocol):
    """What the driver reads from an experiment's data; everything else is the experiment's own.

    Attributes:
        n_train, n_test: number of training and test examples.
        labels_train: int (n_train,) class labels, as used for training and correctness.
        labels_test: int (n_test,).
        extras: optional per-dataset arrays recorded beside the runs in ``labels.npz``
            (e.g. ``noisy_idx``, ``clean_labels_train`` when labels were flipped on purpose).
    """

    n_train: int
    n_test: int
    labels_train: np.ndarray
    labels_test: np.ndarray


@dataclass(frozen=True)
class ArrayData:
    """A dataset held as arrays in memory.

    Attributes:
        x_train: (n_train, ...) inputs; y_train: int (n_train,) labels.
        x_test: (n_test, ...) inputs; y_test: int (n_test,) labels.
        extras: per-dataset arrays to record with the runs (see :class:`Data`).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def labels_train(self) -> np.ndarray:
        return self.y_train

    @property
    def labels_test(self) -> np.ndarray:
        return self.y_test


# ---------------------------------------------------------------------------- options
def int_list(text: str) -> tuple[int, ...]:
    """Parse ``"512,256"`` into ``(512, 256)`` (an empty string gives ``()``)."""
    if isinstance(text, (tuple, list)):
        return tuple(int(v) for v in text)
    return tuple(int(v) for v in str(text).replace(" ", "").split(",") if v)


def boolean(text: str) -> bool:
    """Parse ``true/false/1/0/yes/no`` (any case) into a bool."""
    if isinstance(text, bool):
        return text
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Option:
    """One setting an experiment accepts (``heldout train ... -o name=value``).

    Attributes:
        default: the value used when the option is not given.
        parse: turns the command-line string into a value (``int``, ``float``, :func:`int_list`...).
        help: one line for ``heldout plugins``.
        affects_results: False for settings of how runs are executed (batching, compilation),
            which may change between jobs writing into the same folder.
        choices: the values allowed, when there is a fixed list.
    """

    default: Any
    parse: Callable[[str], Any]
    help: str
    affects_results: bool = True
    choices: tuple[Any, ...] | None = None


# ---------------------------------------------------------------------------- the interface
class Experiment(abc.ABC):
    """A model family on a dataset, trained many times on subsets of its training set.

    Class attributes (read by ``heldout plugins`` without building anything):
        name: the experiment's name, also its folder in the released layout.
        num_classes: number of classes, or None when it comes from the data (``arrays``).
        default_ratios: subset ratios ``heldout train`` uses when no ``--ratio`` is given.
        default_runs: runs per ratio when no ``--runs`` is given.
        default_epochs: epochs when no ``--epochs`` is given.
        data_help: where the experiment looks for its data (one line).
        options: the settings it accepts, name -> :class:`Option`.
        runs_per_batch: when > 0, :meth:`train_many` trains up to this many runs at once.

    Instances hold the chosen option values in ``self.config`` (name -> value).
    """

    name: ClassVar[str] = ""
    num_classes: ClassVar[int | None] = None
    default_ratios: ClassVar[tuple[float, ...]] = (0.7,)
    default_runs: ClassVar[int] = 100
    default_epochs: ClassVar[int] = 10
    data_help: ClassVar[str] = "built in"
    options: ClassVar[Mapping[str, Option]] = {}
    runs_per_batch: ClassVar[int] = 0

    def __init__(self, **options: Any):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise HeldoutError(f"experiment '{self.name}' has no option '{unknown[0]}' (options: {known}).")
        self.config: dict[str, Any] = {}
        for key, option in self.options.items():
            value = options.get(key, option.default)
            if isinstance(value, str) and option.parse is not str:
                try:
                    value = option.parse(value)
                except ValueError:
                    raise HeldoutError(f"option '{key}' of experiment '{self.name}' cannot be {value!r} ({option.help}).") from None
            if option.choices is not None and value not in option.choices:
                allowed = ", ".join(map(str, option.choices))
                raise HeldoutError(f"option '{key}' of experiment '{self.name}' must be one of {allowed}, got {value!r}.")
            self.config[key] = value
        # Which plugin (and version) supplied this experiment: set by the registry that built it
        # (heldout_core.plugins.Registry.create) and recorded in every run.json.
        self.plugin: str | None = None
        self.plugin_version: str | None = None

    # -- required ---------------------------------------------------------------------
    @abc.abstractmethod
    def load_data(self, data_path: Path | None) -> Data:
        """Load the training and test sets (``data_path`` is ``--data``, or None).

        Raises HeldoutError saying where to put the files when they are missing.
        """

    @abc.abstractmethod
    def build_model(self, data: Data, seed: int) -> Any:
        """A freshly initialised model; the initialisation is a function of ``seed``."""

    @abc.abstractmethod
    def train(self, model: Any, data: Data, subset_idx: np.ndarray, *, seed: int, epochs: int) -> None:
        """Train ``model`` in place on the training examples ``subset_idx`` (int64, ascending).

        The minibatch order is a function of ``seed``.
        """

    @abc.abstractmethod
    def evaluate(self, model: Any, data: Data) -> tuple[np.ndarray, np.ndarray]:
        """Correctness of the model: bool (n_train,) on every training example, bool (n_test,)."""

    @abc.abstractmethod
    def save_checkpoint(self, model: Any, prefix: Path, *, epoch: int) -> None:
        """Write the model under ``prefix`` (``<run>/checkpoints/ckpt-<epoch>``; a file prefix,
        e.g. for ``tf.train.Checkpoint.write``). The driver makes the folder appear atomically."""

    @abc.abstractmethod
    def restore_checkpoint(self, data: Data, prefix: Path) -> Any:
        """A model restored from what :meth:`save_checkpoint` wrote at ``prefix``."""

    # -- optional ---------------------------------------------------------------------
    def check_requirements(self) -> None:
        """Raise HeldoutError, naming what to install, when something this experiment needs (a
        framework, an optional package) is missing. Called before any data is loaded or any file
        written; the default needs nothing."""

    def evaluate_split(self, model: Any, data: Data, split: str) -> np.ndarray:
        """Correctness on every example of one split (``"train"`` or ``"test"``), bool (n,).

        The default evaluates both splits and keeps one; override it when one split alone is
        cheaper (``heldout verify`` evaluates one split).
        """
        correct_train, correct_test = self.evaluate(model, data)
        return correct_train if split == "train" else correct_test

    def images(self, data_path: Path | None, split: str, ids: np.ndarray) -> Any:
        """Pictures of the examples ``ids`` (int64) of ``split`` (``"train"`` or ``"test"``), for
        figures (``heldout report``); ``data_path`` is ``--data``, or None.

        Returns (len(ids), H, W) grey or (len(ids), H, W, 3) RGB images, uint8 or float in
        [0, 1] (:func:`heldout_core.example_images.as_images` makes them from most inputs); or
        a sequence with one such image, or None, per id when only some can be had. The default,
        None, means the experiment has no pictures: figures show ids and labels instead. Raise
        HeldoutError, saying what to pass, when the data cannot be found; a report says so and
        goes on without pictures.
        """
        return None

    def train_many(self, data: Data, subsets: Sequence[np.ndarray], seeds: Sequence[int], *,
                   epochs: int) -> list[Any]:
        """Train ``len(subsets)`` models at once (one per subset and seed); return them in order.

        Each returned model must work with :meth:`evaluate` and :meth:`save_checkpoint`. Only
        called when ``runs_per_batch > 0``, with at most that many subsets of equal size.
        """
        raise NotImplementedError(f"experiment '{self.name}' does not train runs in batches.")

    def devices(self) -> list[str]:
        """Accelerators to spread runs over (one run, or one batch of runs, per device at a time).

        The default, one unnamed device, runs everything in the calling thread.
        """
        return [""]

    def device_scope(self, device: str) -> contextlib.AbstractContextManager:
        """A context in which work runs on ``device`` (one of :meth:`devices`)."""
        return contextlib.nullcontext()

    def describe(self) -> dict[str, Any]:
        """What ``run.json`` records about the experiment besides seed and epochs: ``options``
        (checked when a job adds runs to a folder) and ``execution`` settings (not checked)."""
        plain = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731  (as JSON reads back)
        return {
            "options": {k: plain(v) for k, v in self.config.items() if self.options[k].affects_results},
            "execution": {k: plain(v) for k, v in self.config.items() if not self.options[k].affects_results},
        }
