"""A corpus of bad inputs and faults, each through the command line as a user meets it.

Every case must end with exit status 2, exactly one line ``heldout: error: ...`` that names the
file, field or flag at fault, no traceback, and nothing written: the whole folder the case works
in is the same afterwards (paths, sizes and modification times). Record-file cases are also
checked against ``heldout info``, which must report them as a problem (exit 1), since info and
estimate make the same checks.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from heldout_core import RunSet, hookimpl, plugins, write_release_layout, write_store
from heldout_core.aux_arrays import aux_arrays_of
from heldout_core.cli import main
from heldout_core.experiment import ArrayData, Experiment, Option

from conftest import random_records

N_TRAIN, N_TEST, N_RUNS = 30, 9, 12


# ---------------------------------------------------------------------------- fixtures
class Tiny(Experiment):
    """A numpy nearest-centroid experiment for the train cases."""

    name = "tiny"
    num_classes = 3
    default_epochs = 2
    options = {"spread": Option(1.0, float, "noise around the centroids", above=0.0),
               "width": Option(3, int, "a size", minimum=1)}

    def load_data(self, data_path):
        rng = np.random.default_rng(0)
        y = np.arange(60) % 3
        x = rng.normal(scale=self.config["spread"], size=(60, 2)) + y[:, None]
        return ArrayData(x[:40], y[:40], x[40:], y[40:])

    def build_model(self, data, seed):
        return {"c": np.zeros((3, 2))}

    def train(self, model, data, subset_idx, *, seed, epochs):
        x, y = data.x_train[subset_idx], data.y_train[subset_idx]
        model["c"] = np.stack([x[y == k].mean(0) for k in range(3)])

    def evaluate(self, model, data):
        pred = lambda x: ((x[:, None] - model["c"]) ** 2).sum(-1).argmin(1)  # noqa: E731
        return pred(data.x_train) == data.y_train, pred(data.x_test) == data.y_test

    def save_checkpoint(self, model, prefix, *, epoch):
        np.save(f"{prefix}.npy", model["c"])

    def restore_checkpoint(self, data, prefix):
        return {"c": np.load(f"{prefix}.npy")}


@pytest.fixture
def registry(monkeypatch):
    module = types.ModuleType("tiny_plugin")
    module.register_experiments = hookimpl(lambda register: register(Tiny))
    reg = plugins.build_registry(plugins=[(module, "tiny-plugin")], entry_points=False)
    monkeypatch.setattr(plugins, "_registry", reg)
    return reg


def base_runs(seed=0, n_train=N_TRAIN, ratio=0.7, experiment="toy"):
    mask, correct, test = random_records(seed, N_RUNS, n_train, N_TEST, ratio=ratio)
    rng = np.random.default_rng(seed + 1)
    return RunSet.from_arrays(mask, correct, test, subset_ratio=ratio, experiment=experiment,
                              labels_train=rng.integers(0, 3, n_train), labels_test=rng.integers(0, 3, N_TEST))


@dataclass
class World:
    """The folder a case works in, holding valid records in every form."""

    root: Path

    @property
    def release(self) -> Path:
        return self.root / "rec"

    @property
    def exp(self) -> Path:
        return self.root / "rec" / "toy"

    def aux(self, run: int = 3, ratio: str = "0.7") -> Path:
        return self.exp / ratio / str(run) / "aux_arrays.npz"

    @property
    def store(self) -> Path:
        return self.root / "store" / "toy_0.7.runs.npz"

    @property
    def labels(self) -> Path:
        return self.root / "labels.npz"

    @property
    def out(self) -> Path:
        return self.root / "out"


@pytest.fixture
def world(tmp_path):
    runs = base_runs()
    write_release_layout(runs, tmp_path / "rec")
    write_store(runs, tmp_path / "store")
    np.savez(tmp_path / "labels.npz", tr_labels=runs.labels_train, tt_labels=runs.labels_test)
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "xy.npz", x_train=rng.normal(size=(40, 4)), y_train=np.arange(40) % 3,
             x_test=rng.normal(size=(12, 4)), y_test=np.arange(12) % 3)
    return World(tmp_path)


# ---------------------------------------------------------------------------- file helpers
def arrays_of(path: Path) -> dict:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def change_aux(path: Path, **changes) -> None:
    arrays = arrays_of(path)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value(arrays[key]) if callable(value) else value
    np.savez(path, **arrays)


def zip_members(path: Path, members: dict[str, bytes]) -> None:
    path.unlink(missing_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def npy(arr) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(arr), allow_pickle=True)
    return buffer.getvalue()


def huge_header_npy() -> bytes:
    """A .npy whose header declares 10^12 float64 values over 8 bytes of payload."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    return buffer.getvalue() + b"\0" * 8


def odd_header_npy(descr: str, shape: tuple) -> bytes:
    """A .npy whose header numpy writes but no array can have (a negative size, 0-byte elements,
    too many dimensions)."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 4


def replace_member(path: Path, key: str, data: bytes) -> None:
    members = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            members[info.filename] = archive.read(info)
    members[f"{key}.npy"] = data
    zip_members(path, members)


def change_meta(path: Path, change) -> None:
    arrays = arrays_of(path)
    meta = json.loads(str(arrays["metadata"]))
    new = change(meta)
    arrays["metadata"] = np.array(new if isinstance(new, str) else json.dumps(meta))
    np.savez(path, **arrays)


def add_run_folder(world: World, ratio_name: str, run_name: str, runs: RunSet | None = None, run: int = 0):
    from heldout_core.aux_arrays import write_aux_arrays

    runs = runs or base_runs(seed=5)
    write_aux_arrays(runs.run(run), world.exp / ratio_name / run_name)


# ---------------------------------------------------------------------------- the corpus
def estimate(world, *extra):
    return ["estimate", str(world.release), "--out", str(world.out), *extra]


def estimate_store(world, *extra):
    return ["estimate", str(world.store), "--out", str(world.out), *extra]


def _aux_raw_bytes(w):
    replace_member(w.aux(), "subsample_idx", os.urandom(64))
    return estimate(w), "member 'subsample_idx.npy' is not a readable .npy array", w.aux()


def _aux_text_member(w):
    replace_member(w.aux(), "notes", b"")
    zip_members(w.aux(), {**{f"{k}.npy": npy(v) for k, v in arrays_of(w.aux()).items()}, "notes.txt": b"hello"})
    return estimate(w), "member 'notes.txt' is not a .npy array", w.aux()


def _aux_huge_header(w):
    replace_member(w.aux(), "correctness_test", huge_header_npy())
    return estimate(w), "'correctness_test' declares shape (1000000000000,)", w.aux()


def _aux_odd_header(descr, shape):
    def case(w):
        replace_member(w.aux(), "correctness_test", odd_header_npy(descr, shape))
        return estimate(w), "'correctness_test' declares shape", w.aux()
    return case


def _aux_pickle(w):
    change_aux(w.aux(), subsample_idx=np.array([object()], dtype=object))
    return estimate(w), "pickled Python objects", w.aux()


def _aux_not_zip(w):
    w.aux().write_text("not a zip")
    return estimate(w), "is not a readable .npz file (it is not a zip archive)", w.aux()


def _aux_is_npy(w):
    w.aux().write_bytes(npy(np.arange(3)))
    return estimate(w), "is not a readable .npz file (it is a .npy array)", w.aux()


def _aux_truncated(w):
    w.aux().write_bytes(w.aux().read_bytes()[:300])
    return estimate(w), "is not a readable .npz file", w.aux()


def _aux_duplicate_member(w):
    arrays = arrays_of(w.aux())
    with zipfile.ZipFile(w.aux(), "w") as archive:
        for key, value in arrays.items():
            archive.writestr(f"{key}.npy", npy(value))
        with pytest.warns(UserWarning):
            archive.writestr("subsample_idx.npy", npy(arrays["subsample_idx"]))
    return estimate(w), "holds member 'subsample_idx.npy' more than once", w.aux()


def _aux_missing_key(w):
    change_aux(w.aux(), subsample_idx=None)
    return estimate(w), "has no key 'subsample_idx'", w.aux()


def _aux_two(w):
    change_aux(w.aux(), correctness_test=lambda a: np.where(a, 2, 0))
    return estimate(w), "'correctness_test' must hold only 0/1", w.aux()


def _aux_nan(w):
    change_aux(w.aux(), correctness_train=lambda a: np.where(a, np.nan, 0.0))
    return estimate(w), "'correctness_train' must hold only 0/1", w.aux()


def _aux_not_permutation(w):
    change_aux(w.aux(), index_test=lambda a: np.zeros_like(a))
    return estimate(w), "index_test (with correctness_test) is not a permutation", w.aux()


def _aux_out_of_range(w):
    change_aux(w.aux(), subsample_idx=lambda a: np.r_[a[:-1], 10**6])
    return estimate(w), "'subsample_idx' has indices outside 0..29", w.aux()


def _aux_duplicated_idx(w):
    change_aux(w.aux(), subsample_idx=lambda a: np.r_[a[:-1], a[0]])
    return estimate(w), "'subsample_idx' lists 1 training examples more than once", w.aux()


def _aux_other_examples(w):
    arrays = arrays_of(w.aux())
    sub = arrays["subsample_idx"].copy()
    sub[0] = arrays["index_removed"][0]
    change_aux(w.aux(), subsample_idx=np.sort(sub))
    return estimate(w), "'index_train' does not name the same examples as 'subsample_idx'", w.aux()


def _aux_2d(w):
    change_aux(w.aux(), correctness_test=lambda a: a[None, :])
    return estimate(w), "'correctness_test' must be 1-D", w.aux()


def _aux_float_ids(w):
    change_aux(w.aux(), index_test=lambda a: a.astype(float))
    return estimate(w), "'index_test' must be a 1-D integer array", w.aux()


def _aux_empty_subset(w):
    arrays = arrays_of(w.aux())
    everything = np.arange(N_TRAIN)
    change_aux(w.aux(), subsample_idx=np.zeros(0, np.int64), index_train=np.zeros(0, np.int64),
               correctness_train=np.zeros(0, bool), index_removed=everything,
               correctness_removed=np.zeros(N_TRAIN, bool))
    del arrays
    return estimate(w), "'subsample_idx' is empty", w.aux()


def _aux_no_examples(w):
    change_aux(w.aux(), subsample_idx=np.zeros(0, np.int64), index_train=np.zeros(0, np.int64),
               correctness_train=np.zeros(0, bool), index_removed=np.zeros(0, np.int64),
               correctness_removed=np.zeros(0, bool))
    return estimate(w), "records no training examples", w.aux()


def _ratio_folder_one(w):
    (w.exp / "0.7").rename(w.exp / "1")
    return estimate(w), "does not fit its subset ratio 1", w.exp / "1"


def _ratio_folder_one_and_a_half(w):
    add_run_folder(w, "1.5", "0")
    return estimate(w), "1.5 is not a subset ratio in (0, 1]", w.exp / "1.5"


def _ratio_folders_collide(w):
    add_run_folder(w, "0.70", "40")
    return estimate(w), "ratio folders '0.7' and '0.70' both name subset ratio 0.7", w.exp


def _run_folders_collide(w):
    shutil.copytree(w.exp / "0.7" / "1", w.exp / "0.7" / "01")
    return estimate(w), "run folders '1' and '01' both name run 1", w.exp / "0.7"


def _two_experiments(w):
    write_release_layout(base_runs(seed=3, experiment="other"), w.release)
    return estimate(w), "holds several experiments (other, toy); choose one with --experiment", w.release


def _absent_experiment(w):
    return estimate(w, "--experiment", "nope"), "has no runs of experiment 'nope'", w.release


def _different_sizes(w):
    add_run_folder(w, "0.7", "99", runs=base_runs(seed=6, n_train=31))
    return estimate(w), "runs of different training sets cannot be mixed", w.exp / "0.7" / "99"


def _file_budget(w, monkeypatch):
    monkeypatch.setenv("HELDOUT_MAX_FILE_BYTES", "200")
    return estimate(w), "more than the 200 bytes a file may take here; if it is genuine, raise HELDOUT_MAX_FILE_BYTES", w.aux(0)


def _meta(change, message):
    def case(w):
        change_meta(w.store, change)
        return estimate_store(w), message, w.store
    return case


def _store_member(key, data_fn, message):
    def case(w):
        replace_member(w.store, key, data_fn())
        return estimate_store(w), message, w.store
    return case


def _store_bits(w):
    arrays = arrays_of(w.store)
    arrays["correct_train_bits"] = arrays["correct_train_bits"] | np.uint64(1 << 40)
    np.savez(w.store, **arrays)
    return estimate_store(w), "has bits set past run 11", w.store


def _store_wrong_shape(w):
    arrays = arrays_of(w.store)
    arrays["train_mask_bits"] = arrays["train_mask_bits"][:-1]
    np.savez(w.store, **arrays)
    return estimate_store(w), "'train_mask_bits' has uint64 (29, 1) but the metadata says uint64 (30, 1)", w.store


def _store_labels(w):
    arrays = arrays_of(w.store)
    arrays["labels_train"] = arrays["labels_train"][:-1]
    np.savez(w.store, **arrays)
    return estimate_store(w), "labels_train must have shape (30,)", w.store


def _store_no_meta(w):
    arrays = arrays_of(w.store)
    del arrays["metadata"]
    np.savez(w.store, **arrays)
    return estimate_store(w), "has no 'metadata' block", w.store


def _store_meta_floats(w):
    arrays = arrays_of(w.store)
    arrays["metadata"] = np.zeros(3)
    np.savez(w.store, **arrays)
    return estimate_store(w), "the 'metadata' block must be one string", w.store


def _labels_file(make, message):
    def case(w):
        np.savez(w.labels, **make())
        return estimate(w, "--labels", str(w.labels)), message, w.labels
    return case


def _labels_not_npz(w):
    w.labels.write_text("tr_labels,tt_labels\n")
    return estimate(w, "--labels", str(w.labels)), "is not a readable .npz file", w.labels


def _flag(*extra, message):
    def case(w):
        return estimate(w, "--labels", str(w.labels), *extra), message, None
    return case


def _out_is_file(w):
    w.out.write_text("x")
    return estimate(w), f"--out {w.out} exists and is not a folder", w.out


def _out_has_results(w):
    w.out.mkdir()
    (w.out / "memorization.npz").write_text("my old results")
    return estimate(w), "already holds memorization.npz; pass --overwrite to replace them", w.out


def _path_missing(w):
    return ["estimate", str(w.root / "nothing"), "--out", str(w.out)], "nothing does not exist", w.root / "nothing"


def _path_empty(w):
    (w.root / "empty").mkdir()
    return ["estimate", str(w.root / "empty"), "--out", str(w.out)], "holds no run records", w.root / "empty"


def _path_odd_file(w):
    (w.root / "notes.txt").write_text("x")
    return (["estimate", str(w.root / "notes.txt"), "--out", str(w.out)],
            "is neither an aux_arrays.npz nor a compact store", w.root / "notes.txt")


RECORD_CASES = [
    pytest.param(_aux_raw_bytes, id="aux-member-raw-bytes"),
    pytest.param(_aux_text_member, id="aux-member-not-npy"),
    pytest.param(_aux_huge_header, id="aux-npy-header-huge-shape"),
    pytest.param(_aux_odd_header("|i1", (-2, -2)), id="aux-npy-header-negative-shape"),
    pytest.param(_aux_odd_header("|V0", (3,)), id="aux-npy-header-empty-elements"),
    pytest.param(_aux_odd_header("|i1", (1,) * 70), id="aux-npy-header-70-dimensions"),
    pytest.param(_aux_pickle, id="aux-pickle"),
    pytest.param(_aux_not_zip, id="aux-not-zip"),
    pytest.param(_aux_is_npy, id="aux-is-npy"),
    pytest.param(_aux_truncated, id="aux-truncated"),
    pytest.param(_aux_duplicate_member, id="aux-duplicate-member"),
    pytest.param(_aux_missing_key, id="aux-missing-key"),
    pytest.param(_aux_two, id="aux-correctness-2"),
    pytest.param(_aux_nan, id="aux-correctness-nan"),
    pytest.param(_aux_not_permutation, id="aux-index-not-permutation"),
    pytest.param(_aux_out_of_range, id="aux-subsample-out-of-range"),
    pytest.param(_aux_duplicated_idx, id="aux-subsample-duplicated"),
    pytest.param(_aux_other_examples, id="aux-index-train-mismatch"),
    pytest.param(_aux_2d, id="aux-2d"),
    pytest.param(_aux_float_ids, id="aux-float-ids"),
    pytest.param(_aux_empty_subset, id="aux-empty-subset"),
    pytest.param(_aux_no_examples, id="aux-no-examples"),
    pytest.param(_ratio_folder_one, id="ratio-folder-1-with-70pct"),
    pytest.param(_ratio_folder_one_and_a_half, id="ratio-folder-1.5"),
    pytest.param(_ratio_folders_collide, id="ratio-folders-0.7-0.70"),
    pytest.param(_run_folders_collide, id="run-folders-1-01"),
    pytest.param(_different_sizes, id="runs-of-another-size"),
    pytest.param(_meta(lambda m: m.update(n_runs=12.0), "field 'n_runs' must be an integer, got 12.0"), id="meta-n_runs-float"),
    pytest.param(_meta(lambda m: m.update(n_runs="12"), "field 'n_runs' must be an integer, got '12'"), id="meta-n_runs-str"),
    pytest.param(_meta(lambda m: json.dumps(m).replace('"n_runs": 12', '"n_runs": Infinity'),
                       "field 'n_runs' must be an integer, got inf"), id="meta-n_runs-infinity"),
    pytest.param(_meta(lambda m: m.update(n_runs=True), "field 'n_runs' must be an integer, got True"), id="meta-n_runs-bool"),
    pytest.param(_meta(lambda m: m.update(subset_ratio="0.7"), "field 'subset_ratio' must be a number"), id="meta-ratio-str"),
    pytest.param(_meta(lambda m: m.update(subset_ratio=None), "field 'subset_ratio' must be a number"), id="meta-ratio-null"),
    pytest.param(_meta(lambda m: m.update(subset_ratio=1.5), "field 'subset_ratio' must be a finite number in (0, 1]"),
                 id="meta-ratio-1.5"),
    pytest.param(_meta(lambda m: m.update(run_ids=[str(i) for i in m["run_ids"]]), "field 'run_ids' must hold integers"),
                 id="meta-run-ids-str"),
    pytest.param(_meta(lambda m: m.update(run_ids=[2**70] + m["run_ids"][1:]), "field 'run_ids' must hold integers in"),
                 id="meta-run-ids-huge"),
    pytest.param(_meta(lambda m: "[" * 100_000 + "]" * 100_000, "nested too deep"), id="meta-deep-nesting"),
    pytest.param(_meta(lambda m: m.update(seeds=[[1]] * 12), "field 'seeds' must hold integers"), id="meta-seeds-nested"),
    pytest.param(_meta(lambda m: m.update(seeds=[1, 2]), "field 'seeds' has 2 entries for 12 runs"), id="meta-seeds-short"),
    pytest.param(_meta(lambda m: "{not json", "is not valid JSON"), id="meta-not-json"),
    pytest.param(_meta(lambda m: m.update(schema_version=99), "store schema version 99"), id="meta-schema-99"),
    pytest.param(_meta(lambda m: m.update(format="other"), "does not describe a heldout-runs store"), id="meta-format"),
    pytest.param(_meta(lambda m: m.update(n_train=-1), "field 'n_train' must lie in 1.."), id="meta-n_train-negative"),
    pytest.param(_meta(lambda m: m.update(experiment=7), "field 'experiment' must be a string"), id="meta-experiment-int"),
    pytest.param(_store_member("train_mask_bits", huge_header_npy, "'train_mask_bits' declares shape (1000000000000,)"),
                 id="store-npy-huge-shape"),
    pytest.param(_store_bits, id="store-padding-bits"),
    pytest.param(_store_wrong_shape, id="store-bits-shape"),
    pytest.param(_store_labels, id="store-labels-length"),
    pytest.param(_store_no_meta, id="store-no-metadata"),
    pytest.param(_store_meta_floats, id="store-metadata-not-string"),
]

ESTIMATE_CASES = [
    pytest.param(_two_experiments, id="two-experiments"),
    pytest.param(_absent_experiment, id="absent-experiment"),
    pytest.param(_labels_file(lambda: dict(tr_labels=np.r_[np.full(29, 1.0), np.inf], tt_labels=np.zeros(N_TEST)),
                              "labels_train must hold whole-number class labels, got inf"), id="labels-inf"),
    pytest.param(_labels_file(lambda: dict(tr_labels=np.full(N_TRAIN, 1e30), tt_labels=np.zeros(N_TEST)),
                              "labels_train must hold whole-number class labels, got 1e+30"), id="labels-1e30"),
    pytest.param(_labels_file(lambda: dict(tr_labels=np.full(N_TRAIN, 2**64 - 1, np.uint64), tt_labels=np.zeros(N_TEST, int)),
                              "labels_train must hold class labels in int64's range, got 18446744073709551615"),
                 id="labels-uint64-huge"),
    pytest.param(_labels_file(lambda: dict(tr_labels=np.full(N_TRAIN, 0.5), tt_labels=np.zeros(N_TEST)),
                              "labels_train must hold whole-number class labels, got 0.5"), id="labels-fraction"),
    pytest.param(_labels_file(lambda: dict(tr_labels=np.zeros(5, int), tt_labels=np.zeros(N_TEST, int)),
                              "labels_train must have shape (30,), got (5,)"), id="labels-length"),
    pytest.param(_labels_file(lambda: dict(tr_labels=np.array(["a"] * N_TRAIN), tt_labels=np.zeros(N_TEST, int)),
                              "labels_train must hold integer class labels"), id="labels-strings"),
    pytest.param(_labels_file(lambda: dict(other=np.zeros(3)), "has no labels"), id="labels-no-keys"),
    pytest.param(_labels_not_npz, id="labels-not-npz"),
    pytest.param(_flag("--infl-threshold", "nan", message="--infl-threshold must be a finite number in [-1, 1], got nan"),
                 id="flag-infl-threshold-nan"),
    pytest.param(_flag("--mem-threshold", "2", message="--mem-threshold must be a finite number in [-1, 1], got 2"),
                 id="flag-mem-threshold-2"),
    pytest.param(_flag("--confidence", "0", message="--confidence must be a finite number in (0, 1), got 0"),
                 id="flag-confidence-0"),
    pytest.param(_flag("--confidence", "nan", message="--confidence must be a finite number in (0, 1), got nan"),
                 id="flag-confidence-nan"),
    pytest.param(_flag("--n-boot", "1", message="--n-boot must be at least 2, got 1"), id="flag-n-boot-1"),
    pytest.param(_flag("--n-boot", "10000000000", "--method", "bootstrap",
                       message="--n-boot=10000000000 bootstrap replicates need"), id="flag-n-boot-huge"),
    pytest.param(_flag("--seed", "-1", message="--seed must be at least 0, got -1"), id="flag-seed-negative"),
    pytest.param(_flag("--seed", str(2**64), message="--seed must be at most 9223372036854775807"), id="flag-seed-huge"),
    pytest.param(_flag("--top-k", "0", message="--top-k must be at least 1, got 0"), id="flag-top-k-0"),
    pytest.param(_flag("--ratio", "0.5", message="no runs at subset ratio 0.5"), id="flag-ratio-absent"),
    pytest.param(_flag("--ratio", "nan", message="--ratio must be a finite number in (0, 1), got nan"), id="flag-ratio-nan"),
    pytest.param(_flag("--ratio", "2", message="--ratio must be a finite number in (0, 1), got 2"), id="flag-ratio-2"),
    pytest.param(_flag("--labels", "/nonexistent/labels.npz", message="--labels /nonexistent/labels.npz does not exist"),
                 id="flag-labels-missing"),
    pytest.param(_out_is_file, id="out-is-a-file"),
    pytest.param(_out_has_results, id="out-has-results"),
    pytest.param(_path_missing, id="path-missing"),
    pytest.param(_path_empty, id="path-empty"),
    pytest.param(_path_odd_file, id="path-odd-file"),
]


# ---------------------------------------------------------------------------- train
def train(world, *extra, experiment="tiny"):
    return ["train", experiment, "--out", str(world.root / "runs"), "--runs", "3", "-q", *extra]


def _train(*extra, message, experiment="tiny"):
    def case(w):
        return train(w, *extra, experiment=experiment), message, None
    return case


def _trained(change, message):
    """A finished run whose run.json is then changed; the job that would resume must refuse it."""
    def case(w):
        assert main(train(w)) == 0
        path = w.root / "runs" / "tiny" / "0.7" / "1" / "run.json"
        info = json.loads(path.read_text())
        text = change(info)
        path.write_text(text if isinstance(text, str) else json.dumps(info))
        return train(w, "--runs", "4"), message, path
    return case


def _settings_differ(w):
    assert main(train(w, "--epochs", "2")) == 0
    (w.root / "runs" / "tiny" / "settings.json").unlink()   # runs copied in: each run.json is compared
    return train(w, "--epochs", "3", "--runs", "5"), "was trained with epochs=2, but this job asks for 3", None


def _settings_not_a_file(kind):
    def case(w):
        path = w.root / "runs" / "tiny" / "settings.json"
        path.parent.mkdir(parents=True)
        if kind == "folder":
            path.mkdir()
        else:
            path.symlink_to(w.root / "nowhere")
        return train(w), f"{path} exists but is not a file", path
    return case


def _settings_file_differs(w):
    assert main(train(w, "--epochs", "2")) == 0
    for run in (w.root / "runs" / "tiny" / "0.7").iterdir():  # records without run.json (copied in)
        (run / "run.json").unlink()
    return (train(w, "--epochs", "3", "--runs", "5"), "holds runs trained with epochs=2 (see settings.json)",
            w.root / "runs" / "tiny")


TRAIN_CASES = [
    pytest.param(_train("-o", "spread=nan", message="option 'spread' of experiment 'tiny' cannot be 'nan': it must be finite"),
                 id="option-nan"),
    pytest.param(_train("-o", "spread=inf", message="option 'spread' of experiment 'tiny' cannot be 'inf': it must be finite"),
                 id="option-inf"),
    pytest.param(_train("-o", "spread=0", message="option 'spread' of experiment 'tiny' cannot be '0': it must be above 0"),
                 id="option-zero"),
    pytest.param(_train("-o", "width=0", message="option 'width' of experiment 'tiny' cannot be '0': it must be at least 1"),
                 id="option-below-minimum"),
    pytest.param(_train("-o", "width=2.5", message="option 'width' of experiment 'tiny' cannot be '2.5': it does not parse"),
                 id="option-int-fraction"),
    pytest.param(_train("-o", "depth=3", message="experiment 'tiny' has no option 'depth'"), id="option-unknown"),
    pytest.param(_train("-o", "spread", message="-o/--option expects NAME=VALUE, got 'spread'"), id="option-no-value"),
    pytest.param(_train("-o", "noise_seed=-1", experiment="arrays",
                        message="option 'noise_seed' of experiment 'arrays' cannot be '-1': it must be at least 0"),
                 id="arrays-noise-seed-negative"),
    pytest.param(_train("-o", "learning_rate=nan", experiment="arrays",
                        message="option 'learning_rate' of experiment 'arrays' cannot be 'nan': it must be finite"),
                 id="arrays-learning-rate-nan"),
    pytest.param(_train("-o", "momentum=inf", experiment="arrays",
                        message="option 'momentum' of experiment 'arrays' cannot be 'inf': it must be finite"),
                 id="arrays-momentum-inf"),
    pytest.param(_train("-o", "label_noise=1.5", experiment="arrays",
                        message="option 'label_noise' of experiment 'arrays' cannot be '1.5': it must be below 1"),
                 id="arrays-label-noise"),
    pytest.param(_train("-o", "mixed_precision=maybe", experiment="arrays",
                        message="it must be one of auto, on, off"), id="arrays-mixed-precision"),
    pytest.param(_train("-o", "jit=perhaps", experiment="arrays",
                        message="option 'jit' of experiment 'arrays' cannot be 'perhaps': it does not parse"),
                 id="arrays-jit"),
    pytest.param(_train("-o", "hidden=a,b", experiment="arrays",
                        message="option 'hidden' of experiment 'arrays' cannot be 'a,b': it does not parse"),
                 id="arrays-hidden"),
    pytest.param(_train("--ratio", "1.2", message="--ratio must be a finite number in (0, 1), got 1.2"), id="ratio-1.2"),
    pytest.param(_train("--ratio", "nan", message="--ratio must be a finite number in (0, 1), got nan"), id="ratio-nan"),
    pytest.param(_train("--ratio", "0.7", "--ratio", "0.7", message="each subset ratio (--ratio) may be given only once"),
                 id="ratio-twice"),
    pytest.param(_train("--ratio", "0.001", message="--ratio 0.001 of 40 training examples leaves 0 in the subset"),
                 id="ratio-leaves-none"),
    pytest.param(_train("--label-noise", "1", message="--label-noise must be a finite number in [0, 1), got 1"),
                 id="label-noise-1"),
    pytest.param(_train("--label-noise", "0.1", "--noise-seed", "-2", message="--noise-seed must be at least 0, got -2"),
                 id="noise-seed-negative"),
    pytest.param(_train("--runs", "0", message="--runs must be at least 1, got 0"), id="runs-0"),
    pytest.param(_train("--runs", "1000000000000", message="--runs must be at most 1000000"), id="runs-huge"),
    pytest.param(_train("--epochs", "0", message="--epochs must be at least 1, got 0"), id="epochs-0"),
    pytest.param(_train("--seed", "-1", message="--seed must be at least 0, got -1"), id="seed-negative"),
    pytest.param(_train("--design", "balanced", "--ratio", "0.1234567", message="--ratio 0.123457 has no balanced design"),
                 id="balanced-ratio"),
    pytest.param(_train(message="unknown experiment 'nope'", experiment="nope"), id="unknown-experiment"),
    pytest.param(_trained(lambda i: "42", "run.json must hold a JSON object, got int"), id="run-json-number"),
    pytest.param(_trained(lambda i: i.update(options=3), "field 'options' must be a JSON object, got 3"),
                 id="run-json-options-not-mapping"),
    pytest.param(_trained(lambda i: i.update(epochs="2"), "field 'epochs' must be an integer, got '2'"),
                 id="run-json-epochs-str"),
    pytest.param(_trained(lambda i: json.dumps(i).replace('"epochs": 2', '"epochs": NaN'),
                          "field 'epochs' must be an integer, got nan"), id="run-json-nan"),
    pytest.param(_trained(lambda i: i.update(options={"spread": [[1]]}), "'spread' must be a number, string, boolean"),
                 id="run-json-option-nested"),
    pytest.param(_trained(lambda i: "{", "run.json is not valid JSON"), id="run-json-broken"),
    pytest.param(_settings_differ, id="settings-differ"),
    pytest.param(_settings_file_differs, id="settings-file-differs"),
    pytest.param(_settings_not_a_file("folder"), id="settings-a-folder"),
    pytest.param(_settings_not_a_file("link"), id="settings-a-dangling-link"),
]


# ---------------------------------------------------------------------------- import
def _tar(path: Path, members: list[tuple[str, bytes | None, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind is not None:
                info.type = kind
                info.linkname = data.decode()
                tar.addfile(info)
                continue
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _aux_bytes(seed=0, run=0) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **aux_arrays_of(base_runs(seed).run(run)))
    return buffer.getvalue()


def _import(members, message, *flags):
    def case(w):
        path = _tar(w.root / "a.tar.gz", members(w))
        return ["import", str(path), "--out", str(w.out), "--no-verify", *flags], message, w.root / "a.tar.gz"
    return case


def _import_budget(w, monkeypatch=None):
    path = _tar(w.root / "a.tar.gz", [("exp/0.7/0/aux_arrays.npz", None, _aux_bytes())])
    return ["import", str(path), "--out", str(w.out), "--no-verify", "--aux-only"], "a run record may take", path


IMPORT_CASES = [
    *[pytest.param(_import(lambda w: [("exp/0.7/0/aux_arrays.npz", None, _aux_bytes()),
                                      ("exp/0.70/1/aux_arrays.npz", None, _aux_bytes(run=1))],
                           "ratio folders 'exp/0.7' and 'exp/0.70' both name subset ratio 0.7", *flags),
                   id=f"tar-ratio-spelled-twice{flags[0] if flags else ''}") for flags in ((), ("--aux-only",))],
    *[pytest.param(_import(lambda w: [("exp/0.7/1/aux_arrays.npz", None, _aux_bytes(run=1)),
                                      ("exp/0.7/01/aux_arrays.npz", None, _aux_bytes(run=1))],
                           "run folders '1' and '01' of exp/0.7 both name run 1", *flags),
                   id=f"tar-run-spelled-twice{flags[0] if flags else ''}") for flags in ((), ("--aux-only",))],
    pytest.param(_import(lambda w: [("exp/0.7/0/aux_arrays.npz", None, _aux_bytes()),
                                    ("./exp/0.7/0/aux_arrays.npz", None, _aux_bytes(1))], "both write exp/0.7/0/aux_arrays.npz"),
                 id="tar-same-path-dot-slash"),
    pytest.param(_import(lambda w: [("exp/0.7/0/aux_arrays.npz", None, _aux_bytes()),
                                    ("exp//0.7/0/aux_arrays.npz", None, _aux_bytes(1))], "both write exp/0.7/0/aux_arrays.npz",
                         "--aux-only"), id="tar-double-slash-aux-only"),
    pytest.param(_import(lambda w: [("exp/x", None, b"1"), ("exp/x", None, b"2")], "both write exp/x"),
                 id="tar-same-name-twice"),
    pytest.param(_import(lambda w: [("exp/x", None, b"1"), ("exp/x/y", None, b"2")], "members 'exp/x' and 'exp/x/y'"),
                 id="tar-file-then-folder"),
    pytest.param(_import(lambda w: [("exp/x/y", None, b"1"), ("exp/x", None, b"2")], "both write exp/x"),
                 id="tar-folder-then-file"),
    pytest.param(_import(lambda w: [("exp/7/0/aux_arrays.npz", None, _aux_bytes())], "the ratio folder '7' is not a subset ratio",
                         "--aux-only"), id="tar-ratio-7"),
    pytest.param(_import(lambda w: [("exp/0.7/0/aux_arrays.npz", None, b"PK\x03\x04junk")], "exp/0.7/0/aux_arrays.npz",
                         "--aux-only"), id="tar-aux-not-npz"),
    pytest.param(_import(lambda w: [("exp/link", tarfile.SYMTYPE, b"../../etc/passwd")], "archives with links are refused"),
                 id="tar-symlink"),
    pytest.param(_import(lambda w: [("/abs/x", None, b"1")], "has an absolute path"), id="tar-absolute"),
    pytest.param(_import(lambda w: [("exp/../../x", None, b"1")], "contains '..'"), id="tar-dotdot"),
]


def _import_not_tar(w):
    (w.root / "a.tar.gz").write_bytes(b"not gzip at all")
    return ["import", str(w.root / "a.tar.gz"), "--out", str(w.out), "--no-verify"], "is not a readable tar.gz", None


def _import_bad_md5(w):
    path = _tar(w.root / "a.tar.gz", [("exp/0.7/0/aux_arrays.npz", None, _aux_bytes())])
    return ["import", str(path), "--out", str(w.out), "--md5", "xyz"], "--md5 must be 32 hexadecimal digits", None


def _import_md5_mismatch(w):
    path = _tar(w.root / "a.tar.gz", [("exp/0.7/0/aux_arrays.npz", None, _aux_bytes())])
    return ["import", str(path), "--out", str(w.out), "--md5", "0" * 32, "--aux-only"], "was expected", path


OTHER_CASES = [
    pytest.param(_import_not_tar, id="import-not-tar"),
    pytest.param(_import_bad_md5, id="import-md5-flag"),
    pytest.param(_import_md5_mismatch, id="import-md5-mismatch"),
    pytest.param(lambda w: (["verify", str(w.exp / "0.7"), "--data", "x"], "has no aux_arrays.npz", w.exp / "0.7"),
                 id="verify-not-a-run"),
    pytest.param(lambda w: (["verify", str(w.exp / "0.7" / "2")], "holds 0 checkpoints", w.exp / "0.7" / "2"),
                 id="verify-no-checkpoint"),
    pytest.param(lambda w: (["clean", str(w.labels)], "is not a folder", w.labels), id="clean-a-file"),
]


# ---------------------------------------------------------------------------- the checks
def snapshot(root: Path) -> dict:
    state = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        st = path.lstat()
        state[str(path.relative_to(root))] = (path.is_dir(), st.st_size, st.st_mtime_ns)
    return state


def run_case(world, capsys, setup, monkeypatch):
    args = setup(world)
    argv, message, names = args
    capsys.readouterr()
    before = snapshot(world.root)
    code = main(argv)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("heldout: error: ")]
    assert code == 2, f"exit {code}; stderr: {captured.err}"
    assert "Traceback" not in captured.err + captured.out
    assert len(errors) == 1, captured.err
    assert message in errors[0], errors[0]
    if names is not None:
        assert str(names) in errors[0] or Path(names).name in errors[0], f"{errors[0]} does not name {names}"
    assert snapshot(world.root) == before, "the failed command changed files"
    return errors[0]


@pytest.mark.parametrize("setup", RECORD_CASES)
def test_bad_records_are_refused_by_estimate_and_reported_by_info(world, capsys, monkeypatch, request, setup):
    error = run_case(world, capsys, setup, monkeypatch)
    # heldout info makes the same checks and reports the same problem (exit 1)
    in_store = request.node.callspec.id.startswith(("meta", "store"))
    assert main(["info", str(world.store.parent if in_store else world.release)]) == 1
    out = capsys.readouterr().out
    assert "problem(s):" in out and "no problems found" not in out
    problem = error.removeprefix("heldout: error: ")
    assert any(problem in line or line.strip() in problem for line in out.splitlines() if line.startswith("  ")), out


@pytest.mark.parametrize("setup", ESTIMATE_CASES)
def test_bad_estimate_input_is_one_line_and_writes_nothing(world, capsys, monkeypatch, setup):
    run_case(world, capsys, setup, monkeypatch)


def test_file_budget_is_one_line(world, capsys, monkeypatch):
    run_case(world, capsys, lambda w: _file_budget(w, monkeypatch), monkeypatch)


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "lots"])
def test_a_bad_file_budget_setting_is_one_line_before_anything_runs(world, capsys, monkeypatch, value):
    monkeypatch.setenv("HELDOUT_MAX_FILE_BYTES", value)
    for argv in (estimate(world), ["info", str(world.release)]):
        run_case(world, capsys, lambda w: (argv, f"HELDOUT_MAX_FILE_BYTES={value!r} is not a number of bytes", None),
                 monkeypatch)


@pytest.mark.parametrize("setup", TRAIN_CASES)
def test_bad_train_input_is_one_line_and_writes_nothing(world, capsys, monkeypatch, registry, setup):
    run_case(world, capsys, setup, monkeypatch)


@pytest.mark.parametrize("setup", IMPORT_CASES + OTHER_CASES)
def test_bad_archives_and_other_commands_are_one_line(world, capsys, monkeypatch, setup):
    run_case(world, capsys, setup, monkeypatch)
    assert not world.out.exists(), "a failed import left its output folder"


def test_record_budget_refuses_a_large_aux_member_before_reading_it(world, capsys, monkeypatch):
    monkeypatch.setenv("HELDOUT_MAX_FILE_BYTES", "1000")
    run_case(world, capsys, _import_budget, monkeypatch)


def test_the_corpus_is_large_enough():
    n = len(RECORD_CASES) + len(ESTIMATE_CASES) + len(TRAIN_CASES) + len(IMPORT_CASES) + len(OTHER_CASES) + 1
    assert n >= 60, n
