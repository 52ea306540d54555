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
to train several runs in one program, and :meth:`Experiment.evaluate_many` to evaluate them in
one (the MLP experiments of ``heldout_zoo`` do both); override
:meth:`Experiment.devices` and :meth:`Experiment.device_scope` to spread runs over accelerators;
:meth:`Experiment.check_requirements` to say which install is missing before any work starts;
:meth:`Experiment.evaluate_split` to evaluate one split alone (``heldout verify``);
:meth:`Experiment.relabel` to train on changed labels (``heldout train --label-noise``);
:meth:`Experiment.images` to show examples in figures (``heldout report``).
"""

from __future__ import annotations

import abc
import contextlib
import math
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
        default: the value used when the option is not given; its type is the option's type
            (bool, int, float, str, or a tuple of ints).
        parse: turns the command-line string into a value (``int``, ``float``, :func:`int_list`...).
        help: one line for ``heldout plugins``.
        affects_results: False for settings of how runs are executed (batching, compilation),
            which may change between jobs writing into the same folder.
        choices: the values allowed, when there is a fixed list.
        minimum, maximum: inclusive bounds of a number; above, below: exclusive bounds.
    """

    default: Any
    parse: Callable[[str], Any]
    help: str
    affects_results: bool = True
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None

    def value(self, given: Any, key: str, experiment: str) -> Any:
        """``given`` (a command-line string, or a value read back from ``run.json``) as this
        option's type, checked; HeldoutError naming the option otherwise."""
        def refuse(why: str) -> HeldoutError:
            return HeldoutError(f"option '{key}' of experiment '{experiment}' cannot be {given!r}: {why} ({self.help}).")

        value = given
        if isinstance(value, str) and self.parse is not str:
            try:
                value = self.parse(value)
            except ValueError:
                raise refuse("it does not parse") from None
        default = self.default
        if isinstance(default, bool):
            if not isinstance(value, (bool, np.bool_)):
                raise refuse("it must be true or false")
            value = bool(value)
        elif isinstance(default, int):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise refuse("it must be an integer")
            value = int(value)
        elif isinstance(default, float):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
                raise refuse("it must be a number")
            value = float(value)
            if not math.isfinite(value):
                raise refuse("it must be finite")
        elif isinstance(default, tuple):
            if not isinstance(value, (tuple, list)) or not all(
                    isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
                raise refuse("it must be a list of integers")
            value = tuple(int(v) for v in value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise refuse("it must be a string")
        if self.choices is not None and value not in self.choices:
            raise refuse(f"it must be one of {', '.join(map(str, self.choices))}")
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        for bound, fails, words in ((self.minimum, lambda v, b: v < b, "at least"), (self.maximum, lambda v, b: v > b, "at most"),
                                    (self.above, lambda v, b: v <= b, "above"), (self.below, lambda v, b: v >= b, "below")):
            if numeric and bound is not None and fails(value, bound):
                raise refuse(f"it must be {words} {bound:g}")
        return value


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
        self.config: dict[str, Any] = {
            key: option.value(options.get(key, option.default), key, self.name) for key, option in self.options.items()}
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
    def train(self, model: Any, data: Data, subset_idx: np.ndarray, *, seed: int, epochs: int | None) -> None:
        """Train ``model`` in place on the training examples ``subset_idx`` (int64, ascending).

        The minibatch order is a function of ``seed``. ``epochs`` is an int, or None for the
        experiment's :meth:`stopping_rule` (only when it has one).
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
    def stopping_rule(self) -> str | None:
        """When the experiment trains each model by a rule of its own unless a fixed number of
        epochs is asked for (``--epochs``), one line saying what it is (recorded in ``run.json``);
        None (the default) when it trains ``default_epochs`` epochs.

        With a rule, the driver calls :meth:`train` / :meth:`train_many` with ``epochs=None``,
        and each returned model must carry ``epochs_trained``, the epochs it actually trained.
        """
        return None

    def check_requirements(self) -> None:
        """Raise HeldoutError, naming what to install, when something this experiment needs (a
        framework, an optional package) is missing. Called before any data is loaded or any file
        written; the default needs nothing."""

    def relabel(self, data: Data, labels_train: np.ndarray) -> Data:
        """The same data with other training labels, used for training and for correctness on
        the training set (``heldout train --label-noise``). The default handles
        :class:`ArrayData`; experiments with other data objects override it."""
        import dataclasses

        if isinstance(data, ArrayData):
            return dataclasses.replace(data, y_train=np.asarray(labels_train, dtype=np.int64))
        raise HeldoutError(f"experiment '{self.name}' cannot train on changed labels (it does not implement "
                           "Experiment.relabel), so it cannot train with label noise.")

    def evaluate_split(self, model: Any, data: Data, split: str) -> np.ndarray:
        """Correctness on every example of one split (``"train"`` or ``"test"``), bool (n,).

        The default evaluates both splits and keeps one; override it when one split alone is
        cheaper (``heldout verify`` evaluates one split).
        """
        correct_train, correct_test = self.evaluate(model, data)
        return correct_train if split == "train" else correct_test

    def evaluate_many(self, models: Sequence[Any], data: Data) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`evaluate` of each model, in order: [(correct_train, correct_test), ...].

        The driver evaluates every model of a batch through this method; the default loops over
        :meth:`evaluate`. Override it to evaluate many models in one program (the MLP
        experiments of ``heldout_zoo`` do); each model's result must be what :meth:`evaluate`
        gives for it alone.
        """
        return [self.evaluate(model, data) for model in models]

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
                   epochs: int | None) -> list[Any]:
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
