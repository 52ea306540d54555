"""Influence on a range of test examples (``test_rows``) is exactly those rows of the full call,
intervals included: what makes a cluster's blocks merge into the single-process result."""

import numpy as np
import pytest

from heldout_core import ParameterError, RunSet
from heldout_core.estimators import influence, influence_matrix, influence_pairs, influence_topk

from conftest import random_records

BLOCKS = [(0, 10), (10, 11), (11, 11), (11, 37)]  # one of a single row, one empty


@pytest.fixture(scope="module")
def runs():
    mask, correct, correct_test = random_records(4, 120, 50, 37)
    return RunSet.from_arrays(mask, correct, correct_test, subset_ratio=0.7)


def _same(full, parts, fields):
    for name in fields:
        merged = np.concatenate([getattr(p, name) for p in parts])
        assert merged.dtype == getattr(full, name).dtype
        assert np.array_equal(merged, getattr(full, name), equal_nan=True), name


@pytest.mark.parametrize("method", ["newcombe", "bootstrap", "bca"])
def test_blocks_of_test_rows_give_the_rows_of_the_full_result(runs, method):
    options = dict(method=method, n_boot=300, seed=5)
    fields = ("estimate", "ci_low", "ci_high", "standard_error", "n_in", "n_out", "correct_in", "correct_out")
    _same(influence_topk(runs, 4, **options), [influence_topk(runs, 4, test_rows=range(*b), **options) for b in BLOCKS],
          ("train_idx",) + fields)
    _same(influence_pairs(runs, 0.05, **options),
          [influence_pairs(runs, 0.05, test_rows=b, **options) for b in BLOCKS], ("test_idx", "train_idx") + fields)
    _same(influence_matrix(runs, **options),
          [influence_matrix(runs, test_rows=slice(*b), rows_per_chunk=3, **options) for b in BLOCKS],
          ("estimate", "ci_low", "ci_high", "total_correct"))


def test_a_block_written_to_files_and_the_dispatcher(runs, tmp_path):
    full = influence_matrix(runs, intervals=False)
    part = influence_matrix(runs, out=tmp_path / "part.npy", intervals=False, test_rows=range(5, 9))
    assert part.estimate.shape == (4, runs.n_train) and np.array_equal(np.load(tmp_path / "part.npy"), full.estimate[5:9],
                                                                         equal_nan=True)
    top = influence(runs, top_k=3, test_rows=(2, 4))
    assert np.array_equal(top.train_idx, influence_topk(runs, 3).train_idx[2:4])


@pytest.mark.parametrize("rows", [range(0, 40), range(0, 10, 2), (5, 2), "0:3", (-1, 3)])
def test_bad_test_rows_name_the_parameter(runs, rows):
    with pytest.raises(ParameterError, match="test_rows"):
        influence_topk(runs, 2, test_rows=rows)
