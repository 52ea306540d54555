import json

import numpy as np
import pytest

from heldout_core import HeldoutError, RunSet, load_runs, read_aux_arrays, read_store, write_release_layout, write_store
from heldout_core.aux_arrays import AUX_KEYS, aux_arrays_of, write_aux_arrays
from heldout_core.loading import find_record_files, load_labels
from heldout_core.store import store_path

from conftest import random_records


def make_runs(seed=0, n_runs=12, n_train=30, n_test=9, ratio=0.7, experiment="exp", run_id=None):
    mask, correct, test = random_records(seed, n_runs, n_train, n_test, ratio=ratio)
    return RunSet.from_arrays(mask, correct, test, subset_ratio=ratio, experiment=experiment, run_id=run_id)


def test_aux_arrays_have_exactly_the_released_keys(tmp_path):
    run = make_runs().run(0)
    path = write_aux_arrays(run, tmp_path / "exp" / "0.7" / "0")
    with np.load(path) as data:
        assert sorted(data.files) == sorted(AUX_KEYS)
        np.testing.assert_array_equal(np.sort(np.concatenate([data["index_train"], data["index_removed"]])), np.arange(30))
        np.testing.assert_array_equal(data["subsample_idx"], np.flatnonzero(run.train_mask))


def test_release_layout_roundtrip_with_several_ratios(tmp_path):
    runs = RunSet.concat([make_runs(1, ratio=0.3), make_runs(2, n_runs=70, ratio=0.7)])
    write_release_layout(runs, tmp_path)
    assert (tmp_path / "exp" / "0.3" / "11" / "aux_arrays.npz").is_file()
    for path in (tmp_path, tmp_path / "exp"):
        loaded = load_runs(path)
        assert loaded.experiment == "exp" and list(loaded.ratios) == [0.3, 0.7]
        for ratio in (0.3, 0.7):
            a, b = loaded.by_ratio(ratio), runs.by_ratio(ratio)
            order = np.argsort(a.run_id)
            np.testing.assert_array_equal(a.run_id[order], b.run_id)
            for what in ("train_mask", "correct_train", "correct_test"):
                np.testing.assert_array_equal(a.unpack(what)[order], b.unpack(what))
    one_ratio = load_runs(tmp_path / "exp" / "0.3")
    assert one_ratio.n_runs == 12 and list(one_ratio.ratios) == [0.3]
    assert load_runs(tmp_path, ratio=0.7).n_runs == 70
    single = load_runs(tmp_path / "exp" / "0.7" / "5" / "aux_arrays.npz")
    assert single.n_runs == 1 and single.run_id[0] == 5 and single.subset_ratio[0] == 0.7


def test_correctness_is_aligned_through_the_index_arrays(tmp_path):
    """Arrays stored in a shuffled evaluation order come back in example order."""
    run = make_runs(3).run(4)
    arrays = aux_arrays_of(run)
    rng = np.random.default_rng(0)
    for part in ("train", "removed", "test"):
        perm = rng.permutation(len(arrays[f"index_{part}"]))
        arrays[f"index_{part}"] = arrays[f"index_{part}"][perm]
        arrays[f"correctness_{part}"] = arrays[f"correctness_{part}"][perm].astype(np.int8)
    np.savez(tmp_path / "aux_arrays.npz", **arrays)
    back = read_aux_arrays(tmp_path / "aux_arrays.npz")
    np.testing.assert_array_equal(back.correct_train, run.correct_train)
    np.testing.assert_array_equal(back.correct_test, run.correct_test)
    np.testing.assert_array_equal(back.train_mask, run.train_mask)


def _broken(arrays, key, value):
    arrays = dict(arrays)
    if value is None:
        del arrays[key]
    else:
        arrays[key] = value
    return arrays


@pytest.mark.parametrize("key, value, message", [
    ("subsample_idx", None, "has no key 'subsample_idx'"),
    ("index_test", np.zeros(9, dtype=np.int64), r"index_test .* is not a permutation of 0..8 \(8 ids missing, 1 repeated\)"),
    ("index_removed", "shift", r"is not a permutation of 0..29"),
    ("subsample_idx", "out_of_range", r"'subsample_idx' has indices outside 0..29"),
    ("subsample_idx", "duplicated", r"'subsample_idx' lists 1 training examples more than once"),
    ("subsample_idx", "other", "'index_train' does not name the same examples as 'subsample_idx'"),
    ("correctness_test", np.full(9, 2), "'correctness_test' must hold only 0/1"),
    ("correctness_train", "short", "have different lengths"),
    ("index_test", np.arange(9.0), "'index_test' must be a 1-D integer array"),
])
def test_aux_validation_names_file_and_field(tmp_path, key, value, message):
    arrays = aux_arrays_of(make_runs(4).run(0))
    if isinstance(value, str):
        v = arrays[key].copy()
        if value == "shift":
            v = v + 1
        elif value == "out_of_range":
            v[-1] = 30
        elif value == "duplicated":
            v[-1] = v[0]
        elif value == "other":
            v[0] = arrays["index_removed"][0]
            v = np.sort(v)
        elif value == "short":
            v = v[:-1]
        value = v
    path = tmp_path / "aux_arrays.npz"
    np.savez(path, **_broken(arrays, key, value))
    with pytest.raises(HeldoutError, match=message) as info:
        read_aux_arrays(path)
    assert str(path) in str(info.value)


def test_pickles_and_non_npz_files_are_refused(tmp_path):
    path = tmp_path / "aux_arrays.npz"
    arrays = aux_arrays_of(make_runs().run(0))
    arrays["subsample_idx"] = np.array([object()], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(HeldoutError, match="pickled Python objects, which are never loaded"):
        read_aux_arrays(path)
    path.write_text("not a zip")
    with pytest.raises(HeldoutError, match="is not a readable .npz file"):
        read_aux_arrays(path)
    with pytest.raises(HeldoutError, match="does not exist"):
        load_runs(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HeldoutError, match="holds no run records"):
        load_runs(empty)


def test_several_experiments_need_a_choice_and_sizes_must_agree(tmp_path):
    write_release_layout(make_runs(5, experiment="a"), tmp_path)
    write_release_layout(make_runs(6, n_train=31, experiment="b"), tmp_path)
    with pytest.raises(HeldoutError, match=r"holds several experiments \(a, b\); choose one"):
        load_runs(tmp_path)
    assert load_runs(tmp_path, experiment="b").n_train == 31
    with pytest.raises(HeldoutError, match="has no runs of experiment 'c'"):
        load_runs(tmp_path, experiment="c")
    # a run of another training-set size inside one ratio folder
    write_aux_arrays(make_runs(7, n_train=31).run(0), tmp_path / "a" / "0.7" / "99")
    with pytest.raises(HeldoutError, match="runs of different training sets cannot be mixed"):
        load_runs(tmp_path, experiment="a")


def test_store_roundtrip_keeps_everything(tmp_path):
    runs = RunSet.concat([make_runs(8, ratio=0.3, run_id=np.arange(12) + 40), make_runs(9, n_runs=130)])
    runs = runs.with_labels(np.arange(30) % 4, np.arange(9) % 4)
    runs = RunSet.from_arrays(runs.unpack("train_mask"), runs.unpack("correct_train"), runs.unpack("correct_test"),
                              subset_ratio=runs.subset_ratio, run_id=runs.run_id, seed=np.arange(142) * 7,
                              labels_train=runs.labels_train, labels_test=runs.labels_test, experiment="exp")
    paths = write_store(runs, tmp_path)
    assert paths == [store_path(tmp_path, "exp", 0.3), store_path(tmp_path, "exp", 0.7)]
    back = load_runs(tmp_path)
    assert back.experiment == "exp" and back.n_runs == 142
    for name in ("train_mask_bits", "correct_train_bits", "correct_test_bits", "subset_ratio", "run_id", "seed",
                 "labels_train", "labels_test"):
        np.testing.assert_array_equal(getattr(back, name), getattr(runs, name), err_msg=name)
    assert read_store(paths[0]).n_runs == 12


def _rewrite_store(path, change):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["metadata"]))
    change(arrays, meta)
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a, m: m.update(schema_version=99), "written with store schema version 99; this version reads 1"),
    (lambda a, m: m.update(n_train=31), r"'train_mask_bits' has uint64 \(30, 1\) but the metadata says uint64 \(31, 1\)"),
    (lambda a, m: m.update(seeds=[1, 2]), "metadata: field 'seeds' has 2 entries for 12 runs"),
    (lambda a, m: a.update(correct_train_bits=a["correct_train_bits"] | np.uint64(1 << 40)), "bits set past run 11"),
    (lambda a, m: m.update(format="other"), "does not describe a heldout-runs store"),
])
def test_store_metadata_is_checked_on_load(tmp_path, change, message):
    (path,) = write_store(make_runs(10), tmp_path)
    _rewrite_store(path, change)
    with pytest.raises(HeldoutError, match=message):
        read_store(path)


def test_find_record_files_on_mixed_folder(tmp_path):
    write_release_layout(make_runs(11), tmp_path / "release")
    write_store(make_runs(12), tmp_path / "stores")
    kinds = {f.kind for f in find_record_files(tmp_path / "release")} | {f.kind for f in find_record_files(tmp_path / "stores")}
    assert kinds == {"aux", "store"}


def test_load_labels_accepts_released_key_names(tmp_path):
    np.savez(tmp_path / "l.npz", tr_labels=np.arange(3), tt_labels=np.arange(2))
    train, test = load_labels(tmp_path / "l.npz")
    assert list(train) == [0, 1, 2] and list(test) == [0, 1]
    np.savez(tmp_path / "c.npz", labels=np.arange(4), scores=np.zeros(4))
    assert load_labels(tmp_path / "c.npz")[1] is None
    np.savez(tmp_path / "bad.npz", other=np.arange(4))
    with pytest.raises(HeldoutError, match="has no labels"):
        load_labels(tmp_path / "bad.npz")


def test_relative_paths_and_folders_not_named_by_ratio(tmp_path, monkeypatch):
    runs = make_runs(13, run_id=np.arange(12) + 3)
    write_release_layout(runs, tmp_path)
    monkeypatch.chdir(tmp_path / "exp" / "0.7")
    here = load_runs(".")
    assert list(here.ratios) == [0.7] and sorted(here.run_id) == list(range(3, 15)) and here.experiment == "exp"
    monkeypatch.chdir(tmp_path / "exp" / "0.7" / "5")
    assert load_runs(".").run_id[0] == 5
    # runs copied into a folder whose name is no ratio: the ratio comes from the subset size
    (tmp_path / "exp" / "0.7").rename(tmp_path / "exp" / "myruns")
    moved = load_runs(tmp_path / "exp" / "myruns")
    assert list(moved.ratios) == [0.7] and moved.n_runs == 12


def test_npy_named_npz_is_a_clear_error(tmp_path):
    path = tmp_path / "aux_arrays.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.arange(3))
    with pytest.raises(HeldoutError, match=r"is not a readable .npz file \(it is a .npy array\)"):
        read_aux_arrays(path)


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        (path,) = write_store(make_runs(14), tmp_path)
        aux = write_aux_arrays(make_runs(14).run(0), tmp_path / "run")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(aux.stat().st_mode) == 0o644


def test_unknown_ratios_are_inferred_never_nan():
    mask, correct, _ = random_records(15, 6, 40, 0, ratio=0.25)
    runs = RunSet.from_arrays(mask, correct, subset_ratio=[np.nan, 0.5, np.nan, 0.5, 0.5, 0.5], run_id=np.arange(6))
    np.testing.assert_array_equal(runs.subset_ratio, [0.25, 0.5, 0.25, 0.5, 0.5, 0.5])
    with pytest.raises(HeldoutError, match=r"subset_ratio must be in \(0, 1\]"):
        RunSet.from_arrays(mask, correct, subset_ratio=1.5)
