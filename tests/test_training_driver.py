"""The run driver with a numpy experiment: layout, records, resume after crashes, executors, CLI."""

import io
import json
import shutil
import threading
import types

import numpy as np
import pytest

from heldout_core import hookimpl, load_runs, plugins, read_aux_arrays
from heldout_core.cli import main
from heldout_core.errors import HeldoutError
from heldout_core.experiment import ArrayData, Experiment, Option
from heldout_core.aux_arrays import AUX_KEYS
from heldout_core.layout import run_dir
from heldout_core.progress import Progress, format_duration
from heldout_core.training import driver
from heldout_core.training import subsets as S


class Crash(Exception):
    """Stands for a crash (power cut, OOM kill) in the middle of a job."""


class Centroids(Experiment):
    """Nearest-centroid classifier on noisy blobs; counts what the driver asks of it."""

    name = "centroids"
    num_classes = 3
    default_epochs = 2
    options = {"spread": Option(1.0, float, "noise around the centroids")}

    def __init__(self, **options):
        super().__init__(**options)
        self.trained = []          # (run seed, subset) per model trained
        self.crash_after = None    # raise Crash when this many models have been trained
        self.batches = []          # sizes of train_many calls

    def load_data(self, data_path):
        rng = np.random.default_rng(0)
        y = np.arange(90) % 3
        x = rng.normal(scale=self.config["spread"], size=(90, 2)) + 1.5 * np.stack([y, y % 2], 1)
        return ArrayData(x[:60], y[:60], x[60:], y[60:])

    def build_model(self, data, seed):
        return {"c": np.zeros((3, 2)), "seed": seed}

    def _fit(self, model, data, subset_idx, seed):
        if self.crash_after is not None and len(self.trained) >= self.crash_after:
            raise Crash()
        x, y = data.x_train[subset_idx], data.y_train[subset_idx]
        model["c"] = np.stack([x[y == k].mean(0) for k in range(3)])
        self.trained.append((seed, np.array(subset_idx)))

    def train(self, model, data, subset_idx, *, seed, epochs):
        self._fit(model, data, subset_idx, seed)

    def train_many(self, data, subsets, seeds, *, epochs):
        self.batches.append(len(subsets))
        models = []
        for idx, seed in zip(subsets, seeds):
            model = self.build_model(data, seed)
            self._fit(model, data, idx, seed)
            models.append(model)
        return models

    def _predict(self, model, x):
        return ((x[:, None] - model["c"]) ** 2).sum(-1).argmin(1)

    def evaluate(self, model, data):
        return self._predict(model, data.x_train) == data.y_train, self._predict(model, data.x_test) == data.y_test

    def save_checkpoint(self, model, prefix, *, epoch):
        np.save(f"{prefix}.npy", model["c"])

    def restore_checkpoint(self, data, prefix):
        return {"c": np.load(f"{prefix}.npy")}


def train(exp, out, **kw):
    kw.setdefault("ratios", [0.7])
    kw.setdefault("runs", 6)
    kw.setdefault("show_progress", False)
    return driver.train_runs(exp, out, **kw)


def records(out, name="centroids"):
    """{(ratio, run_id): dict of aux arrays} of every finished run under ``out``."""
    found = {}
    for path in sorted((out / name).glob("*/*/aux_arrays.npz")):
        with np.load(path) as f:
            found[(float(path.parent.parent.name), int(path.parent.name))] = {k: f[k] for k in f.files}
    return found


def assert_same_records(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert np.array_equal(a[key][name], b[key][name]), (key, name)


def test_writes_the_released_layout_with_seeded_subsets(tmp_path):
    exp = Centroids()
    summary = train(exp, tmp_path, ratios=[0.7, 0.5], runs=4, seed=9)
    assert summary.trained == {0.7: 4, 0.5: 4} and summary.skipped == {0.7: 0, 0.5: 0}
    for ratio in (0.7, 0.5):
        for run_id in range(4):
            folder = run_dir(tmp_path, "centroids", ratio, run_id)
            assert sorted(p.name for p in folder.iterdir()) == ["aux_arrays.npz", "checkpoints", "run.json"]
            assert [p.name for p in (folder / "checkpoints").iterdir()] == ["ckpt-2.npy"]
            with np.load(folder / "aux_arrays.npz") as f:
                assert sorted(f.files) == sorted(AUX_KEYS)      # exactly the released keys, no more
            run = read_aux_arrays(folder / "aux_arrays.npz")
            assert np.array_equal(run.subsample_idx, S.random_subset(60, ratio, 9, run_id))
            info = json.loads((folder / "run.json").read_text())
            assert (info["seed"], info["epochs"], info["subset_ratio"], info["run_id"]) == (9, 2, ratio, run_id)
            assert info["run_seed"] == S.run_seed(9, ratio, run_id) and info["options"] == {"spread": 1.0}
            # the checkpoint restores to a model with the recorded correctness
            model = exp.restore_checkpoint(None, folder / "checkpoints" / "ckpt-2")
            correct_train, correct_test = exp.evaluate(model, exp.load_data(None))
            assert np.array_equal(correct_train, run.correct_train) and np.array_equal(correct_test, run.correct_test)
    with np.load(tmp_path / "centroids" / "labels.npz") as f:
        assert np.array_equal(f["labels_train"], np.arange(60) % 3) and np.array_equal(f["labels_test"], np.arange(30) % 3)
    runs = load_runs(tmp_path / "centroids")
    assert runs.n_runs == 8 and runs.n_train == 60 and runs.n_test == 30


def test_same_seed_gives_identical_records_and_other_seeds_differ(tmp_path):
    train(Centroids(), tmp_path / "a", seed=1)
    train(Centroids(), tmp_path / "b", seed=1)
    train(Centroids(), tmp_path / "c", seed=2)
    assert_same_records(records(tmp_path / "a"), records(tmp_path / "b"))
    a, c = records(tmp_path / "a"), records(tmp_path / "c")
    assert not np.array_equal(a[(0.7, 0)]["subsample_idx"], c[(0.7, 0)]["subsample_idx"])


def test_resumes_after_a_crash_without_losing_or_repeating_runs(tmp_path):
    clean = tmp_path / "clean"
    train(Centroids(), clean, runs=8)
    out = tmp_path / "crashed"
    exp = Centroids()
    exp.crash_after = 3
    with pytest.raises(Crash):
        train(exp, out, runs=8)
    assert sorted(records(out)) == [(0.7, 0), (0.7, 1), (0.7, 2)]
    again = Centroids()
    summary = train(again, out, runs=8)
    assert summary.trained == {0.7: 5} and summary.skipped == {0.7: 3}
    # exactly the five missing runs were trained, with their own seeds and subsets
    assert [s for s, _ in again.trained] == [S.run_seed(0, 0.7, r) for r in range(3, 8)]
    assert_same_records(records(out), records(clean))
    # nothing to do the third time
    assert train(Centroids(), out, runs=8).trained == {0.7: 0}


def test_crash_between_checkpoint_and_records_leaves_an_unfinished_run(tmp_path, monkeypatch):
    real = driver.write_aux_arrays
    calls = []

    def crash_on_third(run, folder):
        calls.append(run.run_id)
        if len(calls) == 3:
            raise Crash()
        return real(run, folder)

    monkeypatch.setattr(driver, "write_aux_arrays", crash_on_third)
    with pytest.raises(Crash):
        train(Centroids(), tmp_path, runs=5)
    folder = run_dir(tmp_path, "centroids", 0.7, 2)
    assert (folder / "checkpoints").is_dir() and (folder / "run.json").exists()
    assert not driver.is_finished(folder) and not list(folder.glob(".*aux_arrays*"))
    monkeypatch.setattr(driver, "write_aux_arrays", real)
    again = Centroids()
    assert train(again, tmp_path, runs=5).trained == {0.7: 3}
    assert len(again.trained) == 3 and sorted(records(tmp_path)) == [(0.7, r) for r in range(5)]


def test_crash_while_writing_a_checkpoint_leaves_no_checkpoints_folder(tmp_path, monkeypatch):
    exp = Centroids()

    def half_written(model, prefix, *, epoch):
        np.save(f"{prefix}.npy", model["c"][:1])
        raise Crash()

    monkeypatch.setattr(exp, "save_checkpoint", half_written)
    with pytest.raises(Crash):
        train(exp, tmp_path, runs=2)
    folder = run_dir(tmp_path, "centroids", 0.7, 0)
    assert not (folder / "checkpoints").exists() and len(list(folder.glob(".checkpoints-partial-*"))) == 1
    train(Centroids(), tmp_path, runs=2)
    assert sorted(p.name for p in folder.iterdir()) == ["aux_arrays.npz", "checkpoints", "run.json"]
    assert np.load(folder / "checkpoints" / "ckpt-2.npy").shape == (3, 2)


def test_unreadable_records_are_trained_again(tmp_path):
    train(Centroids(), tmp_path, runs=3)
    aux = run_dir(tmp_path, "centroids", 0.7, 1) / "aux_arrays.npz"
    aux.write_bytes(aux.read_bytes()[:50])  # e.g. a copy cut short by a full disk
    again = Centroids()
    assert train(again, tmp_path, runs=3).trained == {0.7: 1}
    assert read_aux_arrays(aux).train_mask.sum() == 42


def test_finished_runs_with_other_settings_stop_the_job(tmp_path):
    train(Centroids(), tmp_path, runs=2, seed=1)
    settings = (tmp_path / "centroids" / "settings.json").read_bytes()
    with pytest.raises(HeldoutError, match=r"centroids holds runs trained with seed=1 \(see settings.json\), but this "
                                           r"job asks for 2"):
        train(Centroids(), tmp_path, runs=3, seed=2)
    (tmp_path / "centroids" / "settings.json").unlink()      # runs copied in without it: each run.json is compared
    with pytest.raises(HeldoutError, match=r"0\.7/0 was trained with seed=1, but this job asks for 2"):
        train(Centroids(), tmp_path, runs=3, seed=2)
    with pytest.raises(HeldoutError, match="was trained with epochs=2, but this job asks for 5"):
        train(Centroids(), tmp_path, runs=3, seed=1, epochs=5)
    (tmp_path / "centroids" / "settings.json").write_bytes(settings)
    with pytest.raises(HeldoutError, match="labels.npz records different 'labels_train'"):
        exp = Centroids()
        data = exp.load_data(None)
        train(exp, tmp_path, runs=3, seed=1, data=ArrayData(data.x_train, data.y_train[::-1].copy(), data.x_test, data.y_test))
    # the same settings add runs
    assert train(Centroids(), tmp_path, runs=3, seed=1).trained == {0.7: 1}


@pytest.mark.parametrize("kwargs, message", [
    ({"ratios": [1.0]}, r"^ratio must be a finite number in \(0, 1\), got 1\.$"),
    ({"ratios": [0.7, 0.7]}, r"each subset ratio \(ratios\) may be given only once"),
    ({"runs": 0}, "^runs must be at least 1, got 0"),
    ({"epochs": 0}, "^epochs must be at least 1, got 0"),
    ({"seed": -3}, "^seed must be at least 0, got -3"),
    ({"design": "sobol"}, "^design must be one of random, balanced, got 'sobol'"),
    ({"ratios": [0.001]}, "leaves 0 in the subset"),
])
def test_bad_input_is_one_clear_error(tmp_path, kwargs, message):
    with pytest.raises(HeldoutError, match=message):
        train(Centroids(), tmp_path, **kwargs)


def test_batched_and_sequential_records_have_the_same_format(tmp_path):
    exp = Centroids()
    exp.runs_per_batch = 4
    summary = train(exp, tmp_path / "batched", runs=10)
    assert summary.trainer == "batched" and exp.batches == [4, 4, 2]
    seq = Centroids()
    seq.runs_per_batch = 4
    assert train(seq, tmp_path / "sequential", runs=10, sequential=True).trainer == "sequential"
    assert seq.batches == []
    a, b = records(tmp_path / "batched"), records(tmp_path / "sequential")
    for key in a:
        assert {k: (v.dtype, v.shape) for k, v in a[key].items()} == {k: (v.dtype, v.shape) for k, v in b[key].items()}
    # this experiment's training does not depend on the seed, so the records agree exactly
    assert_same_records(a, b)
    info = json.loads((run_dir(tmp_path / "batched", "centroids", 0.7, 0) / "run.json").read_text())
    assert info["trainer"] == "batched"


class CentroidsEvaluatedTogether(Centroids):
    """Evaluates a batch in one call (as the zoo's MLPs do), recording the calls."""

    def __init__(self, **options):
        super().__init__(**options)
        self.evaluated = []        # sizes of evaluate_many calls

    def evaluate_many(self, models, data):
        self.evaluated.append(len(models))
        return [super(CentroidsEvaluatedTogether, self).evaluate(m, data) for m in models]

    def evaluate(self, model, data):
        raise AssertionError("the driver evaluates through evaluate_many")


def test_the_driver_evaluates_each_batch_in_one_call(tmp_path):
    exp = CentroidsEvaluatedTogether()
    exp.runs_per_batch = 4
    train(exp, tmp_path / "together", runs=10)
    assert exp.evaluated == [4, 4, 2] == exp.batches
    seq = CentroidsEvaluatedTogether()
    train(seq, tmp_path / "sequential", runs=3, sequential=True)
    assert seq.evaluated == [1, 1, 1]
    # the default evaluate_many loops over evaluate: the same records
    plain = Centroids()
    plain.runs_per_batch = 4
    train(plain, tmp_path / "plain", runs=10)
    assert_same_records(records(tmp_path / "together"), records(tmp_path / "plain"))


def test_evaluate_many_must_return_one_result_per_model(tmp_path):
    exp = CentroidsEvaluatedTogether()
    exp.runs_per_batch = 4
    exp.evaluate_many = lambda models, data: []
    with pytest.raises(HeldoutError, match="evaluate_many returned 0 results for 4 models"):
        train(exp, tmp_path, runs=4)
    assert not records(tmp_path)


def test_balanced_design_batches_only_equal_sized_subsets(tmp_path):
    exp = Centroids()
    exp.runs_per_batch = 16
    train(exp, tmp_path, ratios=[0.7], runs=20, design="balanced")
    sizes = {len(r["subsample_idx"]) for r in records(tmp_path).values()}
    assert sizes == {42}   # 7 * 60 / 10 is whole, so every run has 42 examples
    assert sum(exp.batches) == 20
    member = np.zeros((20, 60), dtype=int)
    for (ratio, run_id), r in records(tmp_path).items():
        member[run_id, r["subsample_idx"]] = 1
    assert (member[:10].sum(0) == 7).all() and (member[10:].sum(0) == 7).all()


def test_runs_are_spread_over_several_devices(tmp_path):
    exp = Centroids()
    exp.runs_per_batch = 2
    seen = {}
    local = threading.local()
    # each device's first batch waits until the other device has started one, so the test fails
    # unless both workers take work (one fast worker may not drain the queue alone)
    both_started = threading.Barrier(2, timeout=30)

    class Scope:
        def __init__(self, device):
            self.device = device

        def __enter__(self):
            local.device = self.device

        def __exit__(self, *exc):
            local.device = None

    exp.devices = lambda: ["gpu0", "gpu1"]
    exp.device_scope = Scope
    real_fit = exp._fit

    def fit(model, data, idx, seed):
        first_on_device = local.device not in seen
        seen.setdefault(local.device, []).append(seed)
        if first_on_device:
            both_started.wait()
        real_fit(model, data, idx, seed)

    exp._fit = fit
    train(exp, tmp_path, runs=12)
    assert set(seen) == {"gpu0", "gpu1"} and sum(len(v) for v in seen.values()) == 12
    assert not both_started.broken
    assert sorted(records(tmp_path)) == [(0.7, r) for r in range(12)]
    # a failure on one device stops the job with that error
    failing = Centroids()
    failing.runs_per_batch = 2
    failing.devices = lambda: ["gpu0", "gpu1"]
    failing.crash_after = 3
    with pytest.raises(Crash):
        train(failing, tmp_path / "failing", runs=12)


def test_progress_reports_rate_and_time_left():
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(10, "digits 0.7", stream=stream, clock=lambda: now[0], log_every=0)
    now[0] = 6.0
    progress.update(3)
    assert stream.getvalue().splitlines()[-1] == "digits 0.7: 3/10 runs, 30.0 runs/min, 14s left"
    now[0] = 20.0
    progress.update(7)
    assert stream.getvalue().splitlines()[-1] == "digits 0.7: 10/10 runs, 30.0 runs/min, took 20s"
    assert format_duration(3725) == "1h 02m" and format_duration(75) == "1m 15s"


def test_driver_prints_progress_to_the_stream(tmp_path):
    stream = io.StringIO()
    driver.train_runs(Centroids(), tmp_path, ratios=[0.7], runs=3, stream=stream)
    assert stream.getvalue().splitlines()[-1].startswith("centroids (sequential): 3/3 runs")
    stream = io.StringIO()
    driver.train_runs(Centroids(), tmp_path, ratios=[0.7], runs=4, stream=stream)
    assert stream.getvalue().splitlines()[0] == f"centroids: 3 finished runs found in {tmp_path / 'centroids'}, 1 to train."


# ---------------------------------------------------------------------------- command line
@pytest.fixture
def fake_registry(monkeypatch):
    module = types.ModuleType("centroid_plugin")
    module.register_experiments = hookimpl(lambda register: register(Centroids))
    registry = plugins.build_registry([], entry_points=False, plugins=[(module, "centroid-plugin")])
    monkeypatch.setattr(plugins, "_registry", registry)
    return registry


def test_train_command_writes_runs_and_resumes(tmp_path, fake_registry, capsys):
    args = ["train", "centroids", "--out", str(tmp_path), "--ratio", "0.7", "--ratio", "0.4", "--runs", "3",
            "--seed", "5", "-o", "spread=0.5", "-q"]
    assert main(args) == 0
    assert "0.7: 3 trained, 0 already there" in capsys.readouterr().out
    info = json.loads((run_dir(tmp_path, "centroids", 0.4, 2) / "run.json").read_text())
    assert info["plugin"] == "centroid-plugin" and info["options"] == {"spread": 0.5} and info["seed"] == 5
    assert main(args) == 0
    assert "0.4: 0 trained, 3 already there" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["nonexistent"], "heldout: error: unknown experiment 'nonexistent'; known experiments: centroids."),
    (["centroids", "--ratio", "1.2"], "heldout: error: --ratio must be a finite number in (0, 1), got 1.2."),
    (["centroids", "-o", "spread"], "heldout: error: -o/--option expects NAME=VALUE, got 'spread'."),
    (["centroids", "-o", "depth=3"], "heldout: error: experiment 'centroids' has no option 'depth' (options: spread)."),
])
def test_train_command_bad_input_exits_2_with_one_line(tmp_path, fake_registry, capsys, extra, message):
    assert main(["train", *extra, "--out", str(tmp_path), "-q"]) == 2
    assert capsys.readouterr().err.strip() == message


def test_a_run_locked_by_another_job_is_left_to_it(tmp_path):
    import fcntl
    import os

    folder = run_dir(tmp_path, "centroids", 0.7, 1)
    folder.mkdir(parents=True)
    partial = folder / f".checkpoints-partial-{'0' * 32}"
    partial.mkdir()  # the other job's checkpoint, being written (named as the driver names them)
    fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        summary = train(Centroids(), tmp_path, runs=3)
    finally:
        os.close(fd)
    assert summary.trained == {0.7: 2}
    assert sorted(records(tmp_path)) == [(0.7, 0), (0.7, 2)]
    assert partial.is_dir()  # not cleared: it was not ours
    assert not (run_dir(tmp_path, "centroids", 0.7, 0) / ".lock").exists()  # finished runs drop their lock file
    # once the other job is gone, the run is trained and its leftovers cleared
    assert train(Centroids(), tmp_path, runs=3).trained == {0.7: 1}
    assert sorted(p.name for p in folder.iterdir()) == ["aux_arrays.npz", "checkpoints", "run.json"]


def test_label_noise_flips_training_labels_deterministically(tmp_path):
    exp = Centroids()
    train(exp, tmp_path, runs=4, label_noise=0.2, noise_seed=3)
    with np.load(tmp_path / "centroids" / "labels.npz") as f:
        labels, flipped, clean = f["labels_train"], f["noisy_idx"], f["clean_labels_train"]
    assert len(flipped) == 12 and np.array_equal(clean, np.arange(60) % 3)
    assert np.array_equal(np.flatnonzero(labels != clean), flipped)      # exactly those, each to another class
    # the runs trained on, and were scored against, the flipped labels
    data = exp.relabel(exp.load_data(None), labels)
    run = read_aux_arrays(run_dir(tmp_path, "centroids", 0.7, 0) / "aux_arrays.npz")
    model = exp.restore_checkpoint(None, run_dir(tmp_path, "centroids", 0.7, 0) / "checkpoints" / "ckpt-2")
    assert np.array_equal(run.correct_train, exp.evaluate(model, data)[0])
    info = json.loads((run_dir(tmp_path, "centroids", 0.7, 0) / "run.json").read_text())
    assert info["label_noise"] == {"fraction": 0.2, "seed": 3}
    # the same noise adds runs; other noise does not
    assert train(Centroids(), tmp_path, runs=5, label_noise=0.2, noise_seed=3).trained == {0.7: 1}
    with pytest.raises(HeldoutError, match=r"holds runs trained with label_noise seed=3 \(see settings.json\), but "
                                           r"this job asks for seed=4; use the same settings"):
        train(Centroids(), tmp_path, runs=6, label_noise=0.2, noise_seed=4)
    (tmp_path / "centroids" / "settings.json").unlink()      # without it, labels.npz still stops the job
    with pytest.raises(HeldoutError, match="labels.npz records different 'labels_train'"):
        train(Centroids(), tmp_path, runs=6, label_noise=0.2, noise_seed=4)


def test_label_noise_needs_an_experiment_that_can_relabel(tmp_path):
    class Opaque(Centroids):
        def load_data(self, data_path):
            data = super().load_data(data_path)
            return types.SimpleNamespace(n_train=data.n_train, n_test=data.n_test, labels_train=data.y_train,
                                         labels_test=data.y_test)

    with pytest.raises(HeldoutError, match="cannot train on changed labels"):
        train(Opaque(), tmp_path, label_noise=0.1)
    assert not (tmp_path / "centroids").exists()


def test_verify_builds_the_experiment_run_json_names_and_blames_run_json_for_its_options(tmp_path, monkeypatch):
    from heldout_core.verify import experiment_of_run

    module = types.ModuleType("centroid_plugin")
    module.register_experiments = hookimpl(lambda register: register(Centroids))
    monkeypatch.setattr(plugins, "_registry", plugins.build_registry([], entry_points=False, plugins=[(module, "c")]))
    train(Centroids(spread=0.5), tmp_path / "records", runs=1)
    run = tmp_path / "elsewhere" / "run0"   # a run folder moved out of <experiment>/<ratio>/
    shutil.copytree(run_dir(tmp_path / "records", "centroids", 0.7, 0), run)
    assert experiment_of_run(run).config["spread"] == 0.5
    info = json.loads((run / "run.json").read_text())
    info["options"]["spread"] = "abc"
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(HeldoutError, match=r"run0/run.json: its options do not build the experiment \(option 'spread'"):
        experiment_of_run(run)


def test_adding_runs_to_runs_of_another_version_warns(tmp_path):
    train(Centroids(), tmp_path, runs=2)
    info_path = run_dir(tmp_path, "centroids", 0.7, 1) / "run.json"
    info = json.loads(info_path.read_text())
    info["heldout_version"] = "0.0.9"
    info_path.write_text(json.dumps(info))
    stream = io.StringIO()
    train(Centroids(), tmp_path, runs=3, stream=stream)
    warning = stream.getvalue()
    assert "heldout: warning:" in warning and "holds finished runs made by other versions (1 by heldout 0.0.9" in warning
    quiet = io.StringIO()
    train(Centroids(), tmp_path, runs=3, stream=quiet)      # nothing to add: nothing to warn about
    assert "warning" not in quiet.getvalue()
