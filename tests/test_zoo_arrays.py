"""The bring-your-own-data experiment: input checks (no TensorFlow) and one tiny training job."""

import json

import numpy as np
import pytest

from heldout_core import plugins, read_aux_arrays
from heldout_core.cli import main
from heldout_core.errors import HeldoutError
from heldout_core.layout import run_dir
from heldout_zoo import frameworks
from heldout_zoo.arrays import Arrays, read_arrays

from conftest import requires_tf


def blobs(path, n_train=80, n_test=30, classes=3, **override):
    rng = np.random.default_rng(0)
    y = np.arange(n_train + n_test) % classes
    x = rng.normal(size=(n_train + n_test, 2, 2)) + y[:, None, None]
    arrays = {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_reads_and_flattens_the_four_arrays(tmp_path):
    x_train, y_train, x_test, y_test = read_arrays(blobs(tmp_path / "d.npz"))
    assert x_train.shape == (80, 4) and x_train.dtype == np.float32 and y_train.dtype == np.int64
    data = Arrays().load_data(tmp_path / "d.npz")
    assert data.n_train == 80 and data.n_test == 30
    assert Arrays().sizes(data) == (4, 256, 3)          # classes come from the data


@pytest.mark.parametrize("override, message", [
    ({"y_test": None}, "has no key 'y_test'"),
    ({"y_train": np.zeros(79, dtype=int)}, "'x_train' has 80 rows but 'y_train' has 79"),
    ({"y_train": np.full(80, 0.5)}, "'y_train' must hold whole-number class labels, got 0.5"),
    ({"y_train": np.full(80, 1e30)}, "'y_train' must hold whole-number class labels, got 1e[+]30"),
    ({"x_test": np.zeros((30, 5))}, r"'x_train' examples have shape \(2, 2\) but 'x_test' examples \(5,\)"),
    ({"x_test": np.full((30, 2, 2), np.nan)}, "must be finite"),
])
def test_bad_files_name_the_field(tmp_path, override, message):
    with pytest.raises(HeldoutError, match=message):
        read_arrays(blobs(tmp_path / "d.npz", **override))


def test_missing_data_flag_is_one_sentence():
    with pytest.raises(HeldoutError, match="experiment 'arrays' needs --data PATH"):
        Arrays().load_data(None)


def test_train_without_tensorflow_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    real = frameworks.importlib.util.find_spec
    monkeypatch.setattr(frameworks.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real(name, *a))
    data = blobs(tmp_path / "d.npz")
    plugins.reset_registry()
    try:
        code = main(["train", "arrays", "--data", str(data), "--out", str(tmp_path / "o"), "--runs", "2"])
    finally:
        plugins.reset_registry()
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "heldout: error: experiment 'arrays' needs TensorFlow, which is not installed: "
        "pip install 'heldout-influence[tf]' (in a checkout: pip install -e '.[tf]')."]
    assert not (tmp_path / "o").exists()   # nothing written before the check


@pytest.mark.slow
@requires_tf
def test_train_command_on_an_npz(tmp_path, capsys):
    data = blobs(tmp_path / "d.npz")
    plugins.reset_registry()
    args = ["train", "arrays", "--data", str(data), "--out", str(tmp_path / "runs"), "--runs", "3", "--epochs", "30",
            "-o", "hidden=16", "-o", "batch_size=16", "-o", "learning_rate=0.1", "-q"]
    try:
        assert main(args) == 0
    finally:
        plugins.reset_registry()
    for run_id in range(3):
        folder = run_dir(tmp_path / "runs", "arrays", 0.7, run_id)
        run = read_aux_arrays(folder / "aux_arrays.npz")
        assert run.train_mask.sum() == 56 and run.correct_test.shape == (30,)
        assert run.correct_train[run.train_mask].mean() > 0.8     # separable blobs are learned
        assert json.loads((folder / "run.json").read_text())["options"]["hidden"] == [16]
        assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["ckpt-30.data-00000-of-00001", "ckpt-30.index"]
