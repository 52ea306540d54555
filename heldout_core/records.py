"""The run-record interface: one run (:class:`Run`) and a bit-packed set of runs (:class:`RunSet`).

A run is one model trained on a random subset of the training set. Its record says which
training examples were in the subset (``train_mask``) and which training and test examples the
final model classified correctly. A :class:`RunSet` holds R runs of the same training and test
sets, stored example-major and bit-packed (see :mod:`heldout_core.bitpack`), with per-run
metadata (subset ratio, run id, seed). Everything the estimators compute comes from popcounts
over these bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .bitpack import BitColumns, concat_runs, n_words, pack_runs, padding_is_zero, select_runs, unpack_runs
from .errors import HeldoutError, ParameterError

UNKNOWN_SEED = -1


@dataclass(frozen=True)
class Run:
    """One training run, unpacked.

    Attributes:
        train_mask: bool (n_train,), True where the example was in this run's training subset.
        correct_train: bool (n_train,), the final model's correctness on every training example.
        correct_test: bool (n_test,) or None.
        subset_ratio: the nominal fraction of the training set used (e.g. 0.7).
        run_id: integer id, unique within a subset ratio.
        seed: the seed the run was trained with, or -1 when unknown (e.g. released records).
    """

    train_mask: np.ndarray
    correct_train: np.ndarray
    correct_test: np.ndarray | None = None
    subset_ratio: float = float("nan")
    run_id: int = 0
    seed: int = UNKNOWN_SEED
    labels_train: np.ndarray | None = field(default=None, repr=False)
    labels_test: np.ndarray | None = field(default=None, repr=False)

    @property
    def subsample_idx(self) -> np.ndarray:
        """Indices of the training examples this run trained on (int64, ascending)."""
        return np.flatnonzero(self.train_mask)


def _as_bool_matrix(value, name: str, n_dims: int = 2) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != n_dims:
        raise HeldoutError(f"{name} must be a {n_dims}-D array, got shape {arr.shape}.")
    if arr.dtype != bool:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise HeldoutError(f"{name} must hold 0/1 or booleans, got dtype {arr.dtype}.")
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise HeldoutError(f"{name} must hold only 0 and 1.")
        arr = arr.astype(bool)
    return arr


def _per_run(value, n_runs: int, name: str, dtype, default) -> np.ndarray:
    if value is None:
        return np.asarray(default, dtype=dtype)
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim == 0:
        return np.full(n_runs, arr, dtype=dtype)
    if arr.shape != (n_runs,):
        raise HeldoutError(f"{name} must be a scalar or have one entry per run ({n_runs}), got shape {arr.shape}.")
    return arr


def check_labels(value, n: int, name: str) -> np.ndarray:
    """Class labels as int64 (n,): integers, or floats that are finite whole numbers in int64's
    range (``1e30`` or ``inf`` would otherwise wrap around silently); ParameterError naming ``name``."""
    arr = np.asarray(value)
    if arr.shape != (n,):
        raise ParameterError(name, f"{{parameter}} must have shape ({n},), got {arr.shape}.")
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.uint64 and len(arr) and arr.max() > np.iinfo(np.int64).max:
            raise ParameterError(name, f"{{parameter}} must hold class labels in int64's range, got {int(arr.max())}.")
        return arr.astype(np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.floating):
        raise ParameterError(name, f"{{parameter}} must hold integer class labels, got dtype {arr.dtype}.")
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0**62)
    if not whole.all():
        bad = float(arr[~whole][0])
        raise ParameterError(name, f"{{parameter}} must hold whole-number class labels, got {bad:g}.")
    return arr.astype(np.int64)


def _labels(value, n: int, name: str) -> np.ndarray | None:
    return None if value is None else check_labels(value, n, name)


class RunSet:
    """R runs over the same n_train training and n_test test examples, bit-packed.

    Attributes (W = ceil(R / 64)):
        train_mask_bits: uint64 (n_train, W); bit r set when run r trained on the example.
        correct_train_bits: uint64 (n_train, W); bit r set when run r classified it correctly.
        correct_test_bits: uint64 (n_test, W); (0, W) when the runs have no test records.
        subset_ratio: float64 (R,), nominal subset ratio of each run.
        run_id: int64 (R,); unique within a subset ratio.
        seed: int64 (R,); -1 where unknown.
        labels_train, labels_test: int64 class labels or None.
        experiment: name of the experiment the runs belong to, or None.

    Build one with :meth:`from_arrays`, :meth:`from_runs` or :func:`heldout_core.load_runs`.
    """

    def __init__(
        self,
        *,
        train_mask_bits: np.ndarray,
        correct_train_bits: np.ndarray,
        correct_test_bits: np.ndarray | None,
        subset_ratio: np.ndarray,
        run_id: np.ndarray,
        seed: np.ndarray,
        labels_train: np.ndarray | None = None,
        labels_test: np.ndarray | None = None,
        experiment: str | None = None,
    ):
        n_runs = len(run_id)
        if n_runs == 0:
            raise HeldoutError("a RunSet needs at least one run; the set given is empty.")
        w = n_words(n_runs)
        n_train = train_mask_bits.shape[0]
        if n_train == 0:
            raise HeldoutError("the runs have an empty training set (n_train = 0).")
        for name, bits, n in (
            ("train_mask_bits", train_mask_bits, n_train),
            ("correct_train_bits", correct_train_bits, n_train),
        ):
            if bits.dtype != np.uint64 or bits.shape != (n, w):
                raise HeldoutError(f"{name} must be uint64 of shape ({n}, {w}), got {bits.dtype} {bits.shape}.")
        if correct_test_bits is None:
            correct_test_bits = np.zeros((0, w), dtype=np.uint64)
        if correct_test_bits.dtype != np.uint64 or correct_test_bits.ndim != 2 or correct_test_bits.shape[1] != w:
            raise HeldoutError(f"correct_test_bits must be uint64 of shape (n_test, {w}), got {correct_test_bits.dtype} {correct_test_bits.shape}.")
        for name, arr in (("subset_ratio", subset_ratio), ("seed", seed)):
            if len(arr) != n_runs:
                raise HeldoutError(f"{name} has {len(arr)} entries for {n_runs} runs.")
        ratios = np.asarray(subset_ratio, dtype=np.float64)
        if not ((ratios > 0) & (ratios <= 1)).all():
            bad = ratios[~((ratios > 0) & (ratios <= 1))][0]
            raise HeldoutError(f"subset_ratio must be in (0, 1] for every run, got {bad}.")
        for name, bits in (("train_mask_bits", train_mask_bits), ("correct_train_bits", correct_train_bits),
                           ("correct_test_bits", correct_test_bits)):
            if not padding_is_zero(bits, n_runs):
                raise HeldoutError(f"{name} has bits set past run {n_runs - 1}; padding bits must be zero.")
        self.train_mask_bits = np.ascontiguousarray(train_mask_bits)
        self.correct_train_bits = np.ascontiguousarray(correct_train_bits)
        self.correct_test_bits = np.ascontiguousarray(correct_test_bits)
        self.subset_ratio = np.asarray(subset_ratio, dtype=np.float64)
        self.run_id = np.asarray(run_id, dtype=np.int64)
        self.seed = np.asarray(seed, dtype=np.int64)
        self.labels_train = _labels(labels_train, n_train, "labels_train")
        self.labels_test = _labels(labels_test, self.n_test, "labels_test")
        self.experiment = experiment
        self._check_unique_ids()

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        train_mask,
        correct_train,
        correct_test=None,
        *,
        subset_ratio=None,
        run_id=None,
        seed=None,
        labels_train=None,
        labels_test=None,
        experiment: str | None = None,
    ) -> "RunSet":
        """Build from dense 0/1 arrays.

        Args:
            train_mask: (R, n_train) bool, True where run r trained on example i.
            correct_train: (R, n_train) bool correctness of run r's final model on example i.
            correct_test: (R, n_test) bool, or None.
            subset_ratio: scalar or (R,); default: the fraction of training examples over all
                runs, rounded to two decimals, as one ratio (pass it for several ratios, or for
                ratios that are not multiples of 0.01). NaN entries are replaced by that run's
                own fraction, rounded to two decimals.
            run_id: (R,) ints, default 0..R-1. seed: scalar or (R,), default -1 (unknown).
        """
        mask = _as_bool_matrix(train_mask, "train_mask")
        correct = _as_bool_matrix(correct_train, "correct_train")
        n_runs, n_train = mask.shape
        if n_runs == 0:
            raise HeldoutError("train_mask has no runs (shape (0, n_train)); the set is empty.")
        if n_train == 0:
            raise HeldoutError("train_mask has no training examples (shape (R, 0)); the runs have an empty training set.")
        if correct.shape != mask.shape:
            raise HeldoutError(f"correct_train has shape {correct.shape} but train_mask has shape {mask.shape}; they must match (runs, n_train).")
        test_bits = None
        if correct_test is not None:
            test = _as_bool_matrix(correct_test, "correct_test")
            if test.shape[0] != n_runs:
                raise HeldoutError(f"correct_test has {test.shape[0]} runs but train_mask has {n_runs}; both need one row per run.")
            test_bits = pack_runs(test)
        if subset_ratio is None:
            # One design: Bernoulli-drawn subsets vary around the ratio from run to run.
            ratios = np.full(n_runs, np.round(mask.mean(), 2))
        else:
            ratios = _per_run(subset_ratio, n_runs, "subset_ratio", np.float64, None)
            unknown = np.isnan(ratios)
            ratios[unknown] = np.round(mask[unknown].mean(axis=1), 2)
        return cls(
            train_mask_bits=pack_runs(mask),
            correct_train_bits=pack_runs(correct),
            correct_test_bits=test_bits,
            subset_ratio=ratios,
            run_id=_per_run(run_id, n_runs, "run_id", np.int64, np.arange(n_runs)),
            seed=_per_run(seed, n_runs, "seed", np.int64, np.full(n_runs, UNKNOWN_SEED)),
            labels_train=labels_train,
            labels_test=labels_test,
            experiment=experiment,
        )

    @classmethod
    def from_runs(cls, runs: Iterable[Run], *, experiment: str | None = None) -> "RunSet":
        """Build from :class:`Run` objects, which must share n_train and n_test.

        ``runs`` may be a generator: runs are packed as they arrive (see :class:`RunSetBuilder`),
        so memory holds the bit-packed set, never all runs unpacked. A NaN ``subset_ratio`` is
        taken from the run's subset size, rounded to two decimals.
        """
        builder = RunSetBuilder(experiment=experiment)
        for run in runs:
            builder.add(run)
        return builder.build()

    @classmethod
    def concat(cls, sets: Iterable["RunSet"]) -> "RunSet":
        """Join run sets of the same training and test sets (e.g. one per subset ratio)."""
        sets = list(sets)
        if not sets:
            raise HeldoutError("no run sets were given to concatenate.")
        if len(sets) == 1:
            return sets[0]
        first = sets[0]
        for other in sets[1:]:
            if other.n_train != first.n_train or other.n_test != first.n_test:
                raise HeldoutError(
                    f"cannot mix runs with {other.n_train} training / {other.n_test} test examples "
                    f"and runs with {first.n_train} / {first.n_test}."
                )
            for name in ("labels_train", "labels_test"):
                a, b = getattr(first, name), getattr(other, name)
                if a is not None and b is not None and not np.array_equal(a, b):
                    raise HeldoutError(f"the run sets disagree on {name}.")
        joined = lambda attr: concat_runs([(getattr(s, attr), s.n_runs) for s in sets])  # noqa: E731
        labels = lambda name: next((getattr(s, name) for s in sets if getattr(s, name) is not None), None)  # noqa: E731
        experiments = {s.experiment for s in sets if s.experiment}
        if len(experiments) > 1:
            raise HeldoutError(f"cannot mix runs of different experiments: {', '.join(sorted(experiments))}.")
        return cls(
            train_mask_bits=joined("train_mask_bits"),
            correct_train_bits=joined("correct_train_bits"),
            correct_test_bits=joined("correct_test_bits"),
            subset_ratio=np.concatenate([s.subset_ratio for s in sets]),
            run_id=np.concatenate([s.run_id for s in sets]),
            seed=np.concatenate([s.seed for s in sets]),
            labels_train=labels("labels_train"),
            labels_test=labels("labels_test"),
            experiment=experiments.pop() if experiments else None,
        )

    # ----------------------------------------------------------------- views
    @property
    def n_runs(self) -> int:
        return len(self.run_id)

    def __len__(self) -> int:
        return self.n_runs

    @property
    def n_train(self) -> int:
        return self.train_mask_bits.shape[0]

    @property
    def n_test(self) -> int:
        return self.correct_test_bits.shape[0]

    @property
    def ratios(self) -> np.ndarray:
        """The distinct subset ratios, ascending."""
        return np.unique(self.subset_ratio)

    def unpack(self, what: str) -> np.ndarray:
        """Dense (R, n) bool matrix of ``train_mask``, ``correct_train`` or ``correct_test``."""
        bits = {"train_mask": self.train_mask_bits, "correct_train": self.correct_train_bits,
                "correct_test": self.correct_test_bits}
        if what not in bits:
            raise HeldoutError(f"unknown record {what!r}; expected one of {', '.join(bits)}.")
        return unpack_runs(bits[what], self.n_runs)

    def run(self, r: int) -> Run:
        """Run number ``r`` (0-based position in the set), unpacked."""
        if not -self.n_runs <= r < self.n_runs:
            raise IndexError(f"run {r} out of range for {self.n_runs} runs")
        r = r % self.n_runs
        word, bit = divmod(r, 64)
        get = lambda bits: ((bits[:, word] >> np.uint64(bit)) & np.uint64(1)).astype(bool)  # noqa: E731
        return Run(
            train_mask=get(self.train_mask_bits),
            correct_train=get(self.correct_train_bits),
            correct_test=get(self.correct_test_bits) if self.n_test else None,
            subset_ratio=float(self.subset_ratio[r]),
            run_id=int(self.run_id[r]),
            seed=int(self.seed[r]),
            labels_train=self.labels_train,
            labels_test=self.labels_test,
        )

    def __iter__(self):
        return (self.run(r) for r in range(self.n_runs))

    def select(self, runs) -> "RunSet":
        """A new RunSet of the given runs (positions or a boolean mask over runs)."""
        runs = np.asarray(runs)
        if runs.dtype == bool:
            if runs.shape != (self.n_runs,):
                raise HeldoutError(f"a boolean run selection needs {self.n_runs} entries, got {runs.shape}.")
            runs = np.flatnonzero(runs)
        if runs.size == 0:
            raise HeldoutError("the selection contains no runs.")
        repack = lambda bits: select_runs(bits, self.n_runs, runs)  # noqa: E731
        return RunSet(
            train_mask_bits=repack(self.train_mask_bits),
            correct_train_bits=repack(self.correct_train_bits),
            correct_test_bits=repack(self.correct_test_bits),
            subset_ratio=self.subset_ratio[runs],
            run_id=self.run_id[runs],
            seed=self.seed[runs],
            labels_train=self.labels_train,
            labels_test=self.labels_test,
            experiment=self.experiment,
        )

    def by_ratio(self, ratio: float) -> "RunSet":
        """The runs at one subset ratio (matched to 1e-9)."""
        chosen = np.isclose(self.subset_ratio, float(ratio), rtol=0, atol=1e-9)
        if not chosen.any():
            have = ", ".join(f"{r:g}" for r in self.ratios)
            raise HeldoutError(f"no runs at subset ratio {ratio:g}; the runs have ratios {have}.")
        return self if chosen.all() else self.select(chosen)

    def with_labels(self, labels_train=None, labels_test=None) -> "RunSet":
        """A shallow copy with class labels attached (arrays are shared, not copied)."""
        return RunSet(
            train_mask_bits=self.train_mask_bits,
            correct_train_bits=self.correct_train_bits,
            correct_test_bits=self.correct_test_bits,
            subset_ratio=self.subset_ratio,
            run_id=self.run_id,
            seed=self.seed,
            labels_train=self.labels_train if labels_train is None else labels_train,
            labels_test=self.labels_test if labels_test is None else labels_test,
            experiment=self.experiment,
        )

    def __repr__(self) -> str:
        ratios = ", ".join(f"{r:g}" for r in self.ratios)
        name = f"{self.experiment!r}, " if self.experiment else ""
        return f"RunSet({name}runs={self.n_runs}, n_train={self.n_train}, n_test={self.n_test}, ratios=[{ratios}])"

    def _check_unique_ids(self) -> None:
        keys = np.rec.fromarrays([np.round(self.subset_ratio, 9), self.run_id])
        uniq, counts = np.unique(keys, return_counts=True)
        if (counts > 1).any():
            ratio, rid = uniq[np.argmax(counts > 1)]
            raise HeldoutError(f"run id {rid} appears more than once at subset ratio {ratio:g}; run ids must be unique within a ratio.")


class RunSetBuilder:
    """Collects runs one at a time into a :class:`RunSet`, bit-packing each as it arrives.

    Used wherever records stream in (files of a release folder, members of an archive): memory
    holds the packed bits plus one run. ``what`` names where a run came from, so that an error
    names the file (or archive member) at fault.
    """

    def __init__(self, *, experiment: str | None = None):
        self.experiment = experiment
        self._first: tuple[Run, str] | None = None
        self._bits: dict[str, BitColumns] = {}
        self._ratios: list[float] = []
        self._run_ids: list[int] = []
        self._seeds: list[int] = []
        self._seen: set[tuple[float, int]] = set()

    @property
    def n_runs(self) -> int:
        return len(self._run_ids)

    def add(self, run: Run, what: str | None = None) -> None:
        """Append ``run``; HeldoutError when its sets differ from the first run's or its id repeats."""
        label = what or f"run {run.run_id} (ratio {run.subset_ratio:g})"
        n_train = len(run.train_mask)
        n_test = None if run.correct_test is None else len(run.correct_test)
        if self._first is None:
            self._first = (run, what or f"run {run.run_id}")
            self._bits = {"train_mask": BitColumns(n_train), "correct_train": BitColumns(n_train),
                          "correct_test": BitColumns(n_test or 0)}
        first, first_label = self._first
        first_test = None if first.correct_test is None else len(first.correct_test)
        if n_train != len(first.train_mask) or len(run.correct_train) != n_train:
            raise HeldoutError(f"{label} has {n_train} training examples but {first_label} has {len(first.train_mask)}; "
                               f"runs of different training sets cannot be mixed.")
        if n_test != first_test:
            raise HeldoutError(f"{label} has {n_test or 'no'} test examples but {first_label} has {first_test or 'no'}.")
        ratio = float(run.subset_ratio)
        if np.isnan(ratio):
            ratio = round(float(np.mean(run.train_mask)), 2)
        key = (round(ratio, 9), int(run.run_id))
        if key in self._seen:
            raise HeldoutError(f"{label} repeats run id {run.run_id} at subset ratio {ratio:g}; "
                               f"run ids must be unique within a ratio.")
        self._seen.add(key)
        self._bits["train_mask"].append(run.train_mask)
        self._bits["correct_train"].append(run.correct_train)
        if n_test is not None:
            self._bits["correct_test"].append(run.correct_test)
        self._ratios.append(ratio)
        self._run_ids.append(int(run.run_id))
        self._seeds.append(int(run.seed))

    def build(self) -> RunSet:
        """The :class:`RunSet` of every run added, in the order added."""
        if self._first is None:
            raise HeldoutError("no runs were given; the set is empty.")
        first = self._first[0]
        has_test = first.correct_test is not None
        return RunSet(
            train_mask_bits=self._bits["train_mask"].words(),
            correct_train_bits=self._bits["correct_train"].words(),
            correct_test_bits=self._bits["correct_test"].words() if has_test else None,
            subset_ratio=np.asarray(self._ratios, dtype=np.float64),
            run_id=np.asarray(self._run_ids, dtype=np.int64),
            seed=np.asarray(self._seeds, dtype=np.int64),
            labels_train=first.labels_train,
            labels_test=first.labels_test,
            experiment=self.experiment,
        )
