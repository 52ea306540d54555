import numpy as np
import pytest

from heldout_core import RunSet


def random_records(seed, n_runs, n_train, n_test, ratio=0.7, p_in=0.9, p_out=0.5, p_test=0.6):
    """Dense random records: fixed-size subsets, correctness more likely when trained on."""
    rng = np.random.default_rng(seed)
    size = int(round(ratio * n_train))
    mask = np.zeros((n_runs, n_train), dtype=bool)
    for r in range(n_runs):
        mask[r, rng.choice(n_train, size, replace=False)] = True
    correct = rng.random((n_runs, n_train)) < np.where(mask, p_in, p_out)
    correct_test = rng.random((n_runs, n_test)) < p_test
    return mask, correct, correct_test


@pytest.fixture
def small_runs():
    mask, correct, correct_test = random_records(0, 150, 40, 25)
    rng = np.random.default_rng(1)
    return RunSet.from_arrays(mask, correct, correct_test, subset_ratio=0.7, experiment="toy",
                              labels_train=rng.integers(0, 3, 40), labels_test=rng.integers(0, 3, 25))
