"""The digits experiment end to end: defaults fit the subset, flipped labels are the most memorized,
batched and sequential trainers write the same records, every run's checkpoint restores alone."""

import json

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("tensorflow")

from heldout_core import load_runs, plugins, read_aux_arrays  # noqa: E402
from heldout_core.aux_arrays import AUX_KEYS  # noqa: E402
from heldout_core.layout import run_dir  # noqa: E402
from heldout_core.training.driver import train_runs  # noqa: E402

pytestmark = pytest.mark.slow


def digits(**options):
    return plugins.build_registry(entry_points=False).create("digits", **options)


def test_digits_data_split_is_the_documented_one():
    data = digits().load_data(None)
    assert (data.n_train, data.n_test) == (1200, 597)
    assert data.x_train.shape == (1200, 64) and data.x_train.max() == 1.0
    from sklearn.datasets import load_digits
    assert np.array_equal(data.labels_test, load_digits().target[1200:])


@pytest.fixture(scope="module")
def noisy_runs(tmp_path_factory):
    """64 digits runs at ratio 0.7 with 5% of training labels flipped, default hyperparameters."""
    out = tmp_path_factory.mktemp("noisy")
    experiment = digits(label_noise=0.05, noise_seed=7)
    train_runs(experiment, out, ratios=[0.7], runs=64, seed=3, show_progress=False)
    labels = np.load(out / "digits" / "labels.npz")
    return out, load_runs(out / "digits"), labels["noisy_idx"], labels


def test_label_noise_is_recorded(noisy_runs):
    _, _, noisy, labels = noisy_runs
    assert len(noisy) == 60
    assert (labels["labels_train"][noisy] != labels["clean_labels_train"][noisy]).all()
    clean = np.setdiff1d(np.arange(1200), noisy)
    assert (labels["labels_train"][clean] == labels["clean_labels_train"][clean]).all()


def test_default_digits_models_fit_their_subsets(noisy_runs):
    _, runs, noisy, _ = noisy_runs
    mask, correct = runs.unpack("train_mask"), runs.unpack("correct_train")
    fit = (correct & mask).sum(1) / mask.sum(1)
    # the papers' regime: (near) zero training error, flipped labels included
    assert fit.mean() > 0.995 and fit.min() > 0.98
    assert (correct & mask)[:, noisy].sum() / mask[:, noisy].sum() > 0.95


def test_flipped_labels_rank_among_the_most_memorized(noisy_runs):
    _, runs, noisy, _ = noisy_runs
    mask, correct = runs.unpack("train_mask"), runs.unpack("correct_train")
    mem = (correct & mask).sum(0) / mask.sum(0) - (correct & ~mask).sum(0) / (~mask).sum(0)
    top = np.argsort(-mem, kind="stable")[:60]
    found = np.isin(top, noisy).sum()
    # chance would find 3 (hypergeometric); measured 57 of 60
    assert found >= 50
    assert stats.hypergeom.sf(found - 1, 1200, 60, 60) < 1e-40
    clean = np.setdiff1d(np.arange(1200), noisy)
    assert mem[noisy].mean() > 0.85 and mem[clean].mean() < 0.1


def test_batched_and_sequential_records_and_checkpoints(tmp_path):
    experiment = digits(runs_per_batch=2)
    train_runs(experiment, tmp_path / "b", ratios=[0.7], runs=3, epochs=2, show_progress=False)
    train_runs(experiment, tmp_path / "s", ratios=[0.7], runs=3, epochs=2, sequential=True, show_progress=False)
    data = experiment.load_data(None)
    for trainer in ("b", "s"):
        for run_id in range(3):
            folder = run_dir(tmp_path / trainer, "digits", 0.7, run_id)
            with np.load(folder / "aux_arrays.npz") as f:
                assert sorted(f.files) == sorted(AUX_KEYS)
                assert {k: f[k].dtype for k in f.files} == {
                    "subsample_idx": np.int64, "index_train": np.int64, "index_removed": np.int64, "index_test": np.int64,
                    "correctness_train": bool, "correctness_removed": bool, "correctness_test": bool}
            run = read_aux_arrays(folder / "aux_arrays.npz")
            info = json.loads((folder / "run.json").read_text())
            assert info["trainer"] == {"b": "batched", "s": "sequential"}[trainer] and info["epochs"] == 2
            model = experiment.restore_checkpoint(data, folder / "checkpoints" / "ckpt-2")
            correct_train, correct_test = experiment.evaluate(model, data)
            assert np.array_equal(correct_train, run.correct_train) and np.array_equal(correct_test, run.correct_test)
    # seeds in, identical records out (on one machine; XLA/oneDNN may round differently elsewhere)
    train_runs(experiment, tmp_path / "b2", ratios=[0.7], runs=3, epochs=2, show_progress=False)
    first, again = load_runs(tmp_path / "b" / "digits"), load_runs(tmp_path / "b2" / "digits")
    for what in ("train_mask", "correct_train", "correct_test"):
        assert np.array_equal(first.unpack(what), again.unpack(what))
    for run_id in range(3):
        # both trainers use the same subsets for the same seed and run ids
        a = read_aux_arrays(run_dir(tmp_path / "b", "digits", 0.7, run_id) / "aux_arrays.npz")
        b = read_aux_arrays(run_dir(tmp_path / "s", "digits", 0.7, run_id) / "aux_arrays.npz")
        assert np.array_equal(a.train_mask, b.train_mask)
        # two epochs already learn digits well above chance, whichever trainer
        assert a.correct_test.mean() > 0.7 and b.correct_test.mean() > 0.7


def test_verify_rebuilds_the_model_with_the_runs_own_options(tmp_path, capsys):
    from heldout_core.cli import main

    assert main(["train", "digits", "--out", str(tmp_path), "--runs", "1", "--epochs", "1",
                 "-o", "hidden=16", "-o", "label_noise=0.2", "-q"]) == 0
    assert main(["verify", str(tmp_path / "digits" / "0.7" / "0"), "--split", "train"]) == 0
    assert "1200 of 1200 predictions match" in capsys.readouterr().out
