"""The new user's case, end to end through the command line: digits saved as an .npz with some
labels flipped, trained with `heldout train arrays` and no options, then estimated.

With the old defaults (30 fixed epochs) the models fitted about 95% of their subsets, fitted
under 10% of the flipped labels, and memorization could not tell flipped from clean (AUROC
about 0.6), silently. Now the arrays experiment trains each model until it fits its subset, and
estimate says how well the models fit.
"""

import json

import numpy as np
import pytest

from heldout_core import load_runs, plugins
from heldout_core.cli import main

from conftest import requires_sklearn, requires_tf

pytestmark = [pytest.mark.slow, requires_tf, requires_sklearn]


def noisy_digits(path, seed=11, n_train=1300, fraction=0.04):
    """A random train/test split of scikit-learn's digits, ``fraction`` of the training labels flipped."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    train, test = order[:n_train], order[n_train:]
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    y_train = y[train].copy()
    flipped = np.sort(rng.choice(n_train, round(fraction * n_train), replace=False))
    y_train[flipped] = (y_train[flipped] + rng.integers(1, 10, len(flipped))) % 10
    np.savez(path, x_train=x[train], y_train=y_train, x_test=x[test], y_test=y[test])
    return flipped


def auroc(scores, positive):
    """Probability that a positive scores above a negative (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def test_a_new_users_noisy_digits_fit_and_their_flipped_labels_are_found(tmp_path, capsys):
    flipped = noisy_digits(tmp_path / "noisy.npz")
    plugins.reset_registry()
    try:
        assert main(["train", "arrays", "--data", str(tmp_path / "noisy.npz"), "--out", str(tmp_path / "runs"),
                     "--runs", "120", "--seed", "3", "-q"]) == 0
    finally:
        plugins.reset_registry()
    trained = capsys.readouterr()
    assert "heldout: warning" not in trained.err and "fit of the 120 models trained now: models fit" in trained.out
    runs = load_runs(tmp_path / "runs" / "arrays")
    mask, correct = runs.unpack("train_mask"), runs.unpack("correct_train")
    fit = ((mask & correct).sum(1) / mask.sum(1)).mean()
    assert fit >= 0.995, f"the models fit only {fit:.4f} of their subsets"
    info = json.loads((tmp_path / "runs" / "arrays" / "0.7" / "0" / "run.json").read_text())
    assert info["epochs"] is None and 1 <= info["epochs_trained"] <= 100 and "until its accuracy" in info["stopping"]

    assert main(["estimate", str(tmp_path / "runs" / "arrays"), "--out", str(tmp_path / "scores")]) == 0
    estimated = capsys.readouterr()
    assert "heldout: warning" not in estimated.err
    assert "models fit 99." in estimated.out or "models fit 100.00%" in estimated.out
    with np.load(tmp_path / "scores" / "memorization.npz") as f:
        memorization = np.nan_to_num(f["estimate"], nan=0.0)
    is_flipped = np.zeros(runs.n_train, dtype=bool)
    is_flipped[flipped] = True
    separation = auroc(memorization, is_flipped)
    print(f"fit {fit:.4%}, AUROC {separation:.4f}")
    assert separation >= 0.95, f"memorization separates flipped from clean labels with AUROC {separation:.3f}"
    meta = json.loads((tmp_path / "scores" / "estimate.json").read_text())
    assert meta["fit"]["fits"] and meta["reliability"]["memorization"] > 0.5
