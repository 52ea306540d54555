"""Property-based tests: mutated record files are either read correctly or refused cleanly.

Hypothesis mutates valid ``aux_arrays.npz`` files (array by array, and byte by byte), compact
stores (their metadata) and ``run.json`` files. Reading one must either succeed with the content
the file really holds (checked against a plain re-reading of the mutated arrays) or raise the
project's HeldoutError, never any other exception.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from heldout_core import HeldoutError, RunSet
from heldout_core.aux_arrays import AUX_KEYS, aux_arrays_of, read_aux_arrays
from heldout_core.layout import read_run_info
from heldout_core.store import read_store, write_store

from conftest import random_records

N_TRAIN, N_TEST = 12, 5
EXAMPLES = 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid_run():
    mask, correct, test = random_records(0, 4, N_TRAIN, N_TEST)
    return RunSet.from_arrays(mask, correct, test, subset_ratio=0.7).run(1)


def npz_bytes(arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def expected_run(arrays):
    """What a correct reader must return for these arrays, by the plainest route: every check
    written out with Python sets, or None when the arrays are not a valid record."""
    try:
        keys = set(arrays)
        if not {"subsample_idx", "correctness_train", "index_train", "correctness_removed", "index_removed"} <= keys:
            return None
        if ("correctness_test" in keys) != ("index_test" in keys):
            return None
        ids = {}
        for key in ("subsample_idx", "index_train", "index_removed", "index_test"):
            if key in arrays:
                a = arrays[key]
                if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
                    return None
                ids[key] = [int(v) for v in a]
        values = {}
        for key in ("correctness_train", "correctness_removed", "correctness_test"):
            if key in arrays:
                a = arrays[key]
                if a.ndim != 1 or not (a.dtype == bool or np.issubdtype(a.dtype, np.number)):
                    return None
                if not all(v in (0, 1) for v in a.tolist()):
                    return None
                values[key] = [bool(v) for v in a.tolist()]
        n = len(ids["index_train"]) + len(ids["index_removed"])
        every = ids["index_train"] + ids["index_removed"]
        flags = values["correctness_train"] + values["correctness_removed"]
        if n == 0 or len(every) != len(flags) or sorted(every) != list(range(n)):
            return None
        sub = ids["subsample_idx"]
        if not sub or len(set(sub)) != len(sub) or min(sub) < 0 or max(sub) >= n or set(sub) != set(ids["index_train"]):
            return None
        correct = [False] * n
        for i, v in zip(every, flags):
            correct[i] = v
        test = None
        if "index_test" in ids:
            t_ids, t_vals = ids["index_test"], values["correctness_test"]
            if len(t_ids) != len(t_vals) or sorted(t_ids) != list(range(len(t_ids))):
                return None
            test = [False] * len(t_ids)
            for i, v in zip(t_ids, t_vals):
                test[i] = v
        return {"mask": [i in set(sub) for i in range(n)], "correct": correct, "test": test}
    except (TypeError, ValueError, KeyError):
        return None


arrays_strategy = st.one_of(
    st.builds(lambda n, dt: np.zeros(n, dtype=dt), st.integers(0, 20), st.sampled_from(["i8", "i4", "u1", "f8", "?", "f4"])),
    st.builds(lambda v: np.array(v), st.lists(st.integers(-3, 20), max_size=20)),
    st.builds(lambda v: np.array(v, dtype=float), st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=15)),
    st.builds(lambda v: np.array(v, dtype=bool), st.lists(st.booleans(), max_size=20)),
    st.builds(lambda: np.zeros((2, 3))),
    st.builds(lambda s: np.array(s), st.text(max_size=5)),
)


@FUZZ
@given(data=st.data())
def test_mutated_aux_arrays_are_read_correctly_or_refused(tmp_path, data):
    arrays = aux_arrays_of(valid_run())
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["replace", "delete", "shuffle", "perturb", "extra"]))
        key = data.draw(st.sampled_from(AUX_KEYS))
        if action == "delete":
            arrays.pop(key, None)
        elif action == "replace":
            arrays[key] = data.draw(arrays_strategy)
        elif action == "shuffle" and key in arrays and arrays[key].ndim == 1:
            arrays[key] = arrays[key][data.draw(st.permutations(range(len(arrays[key]))))]
        elif action == "perturb" and key in arrays and arrays[key].ndim == 1 and len(arrays[key]):
            with np.errstate(invalid="ignore"):   # a replaced float array may hold NaN: any int will do
                a = arrays[key].astype(np.int64)
            a[data.draw(st.integers(0, len(a) - 1))] += data.draw(st.integers(-2, 2))
            arrays[key] = a
        elif action == "extra":
            arrays["extra_key"] = data.draw(arrays_strategy)
    path = tmp_path / "aux_arrays.npz"
    path.write_bytes(npz_bytes(arrays))
    want = expected_run(arrays)
    try:
        run = read_aux_arrays(path)
    except HeldoutError:
        event("refused")
        assert want is None, "a valid record was refused"
        return
    event("accepted")
    assert want is not None, "an invalid record was accepted"
    assert run.train_mask.tolist() == want["mask"]
    assert run.correct_train.tolist() == want["correct"]
    assert (run.correct_test is None and want["test"] is None) or run.correct_test.tolist() == want["test"]


@FUZZ
@given(data=st.data())
def test_damaged_aux_bytes_are_read_as_written_or_refused(tmp_path, data):
    run = valid_run()
    raw = bytearray(npz_bytes(aux_arrays_of(run)))
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    pos = data.draw(st.integers(0, len(raw) - 1))
    if kind == "flip":
        raw[pos] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        raw = raw[:pos]
    else:
        raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
    path = tmp_path / "aux_arrays.npz"
    path.write_bytes(bytes(raw))
    try:
        back = read_aux_arrays(path)
    except HeldoutError:
        event("refused")
        return
    event("accepted")
    # accepted: then it must be exactly what was written (the zip CRCs guard the data)
    assert np.array_equal(back.train_mask, run.train_mask)
    assert np.array_equal(back.correct_train, run.correct_train)
    assert np.array_equal(back.correct_test, run.correct_test)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
STORE_FIELDS = ("format", "schema_version", "experiment", "subset_ratio", "n_runs", "n_train", "n_test", "run_ids", "seeds")


@FUZZ
@given(data=st.data())
def test_mutated_store_metadata_is_read_correctly_or_refused(tmp_path, data):
    mask, correct, test = random_records(1, 70, N_TRAIN, N_TEST)
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7, experiment="e", seed=np.arange(70))
    (path,) = write_store(runs, tmp_path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["metadata"]))
    for _ in range(data.draw(st.integers(1, 3))):
        field = data.draw(st.sampled_from(STORE_FIELDS))
        if data.draw(st.booleans()):
            meta[field] = data.draw(json_values)
        else:
            meta.pop(field, None)
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    try:
        back = read_store(path)
    except HeldoutError:
        event("refused")
        return
    event("accepted")
    # accepted: the set is what the (mutated) metadata and the arrays say
    assert back.n_runs == meta["n_runs"] == 70 and back.n_train == meta["n_train"] == N_TRAIN
    assert back.run_id.tolist() == meta["run_ids"] and back.seed.tolist() == meta["seeds"]
    assert np.all(back.subset_ratio == float(meta["subset_ratio"])) and 0 < meta["subset_ratio"] <= 1
    assert back.experiment == meta.get("experiment")
    np.testing.assert_array_equal(back.train_mask_bits, runs.train_mask_bits)


RUN_JSON_FIELDS = ("experiment", "seed", "design", "epochs", "options", "n_train", "n_test", "subset_ratio", "run_id",
                   "plugin", "execution", "run_seed")


@FUZZ
@given(data=st.data())
def test_mutated_run_json_is_read_correctly_or_refused(tmp_path, data):
    info = {"format": "heldout-run", "experiment": "digits", "seed": 0, "design": "random", "epochs": 80,
            "options": {"hidden": [128], "learning_rate": 0.1}, "n_train": 1200, "n_test": 597,
            "subset_ratio": 0.7, "run_id": 3}
    whole = data.draw(st.booleans())
    if whole and data.draw(st.booleans()):
        text = json.dumps(data.draw(json_values))
    else:
        for _ in range(data.draw(st.integers(1, 3))):
            info[data.draw(st.sampled_from(RUN_JSON_FIELDS))] = data.draw(json_values)
        text = json.dumps(info)
    (tmp_path / "run.json").write_text(text)
    try:
        back = read_run_info(tmp_path)
    except HeldoutError:
        event("refused")
        return
    event("accepted")
    assert isinstance(back, dict)
    for field in ("seed", "epochs", "n_train", "n_test", "run_id"):
        if field in back and not (field == "epochs" and back[field] is None):  # epochs None: trained to fit
            assert isinstance(back[field], int) and not isinstance(back[field], bool) and back[field] >= 0
    if "options" in back:
        assert isinstance(back["options"], dict)
    if "subset_ratio" in back:
        assert 0 < back["subset_ratio"] <= 1


def test_fuzzing_really_reaches_both_outcomes(tmp_path):
    """A sanity check of the harness: a valid record is read, a broken one refused."""
    run = valid_run()
    path = tmp_path / "aux_arrays.npz"
    path.write_bytes(npz_bytes(aux_arrays_of(run)))
    assert expected_run(aux_arrays_of(run)) is not None
    assert np.array_equal(read_aux_arrays(path).train_mask, run.train_mask)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("junk.bin", b"x")
    with pytest.raises(HeldoutError):
        read_aux_arrays(path)
