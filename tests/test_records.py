import numpy as np
import pytest

from heldout_core import HeldoutError, Run, RunSet
from heldout_core.bitpack import pack_runs, unpack_runs

from conftest import random_records


@pytest.mark.parametrize("n_runs", [1, 63, 64, 65, 130])
def test_pack_roundtrip_and_zero_padding(n_runs):
    rng = np.random.default_rng(n_runs)
    dense = rng.random((n_runs, 7)) < 0.5
    words = pack_runs(dense)
    assert words.shape == (7, (n_runs + 63) // 64) and words.dtype == np.uint64
    np.testing.assert_array_equal(unpack_runs(words, n_runs), dense)
    # bit r of word r // 64 is run r
    r = n_runs - 1
    np.testing.assert_array_equal((words[:, r // 64] >> np.uint64(r % 64)) & np.uint64(1), dense[r])
    if n_runs % 64:
        assert not (words[:, -1] >> np.uint64(n_runs % 64)).any()


def test_from_arrays_roundtrip_and_runs():
    mask, correct, test = random_records(3, 70, 11, 5)
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7, seed=np.arange(70) + 100)
    assert (runs.n_runs, runs.n_train, runs.n_test) == (70, 11, 5)
    np.testing.assert_array_equal(runs.unpack("train_mask"), mask)
    np.testing.assert_array_equal(runs.unpack("correct_test"), test)
    run = runs.run(66)
    np.testing.assert_array_equal(run.train_mask, mask[66])
    np.testing.assert_array_equal(run.correct_train, correct[66])
    np.testing.assert_array_equal(run.subsample_idx, np.flatnonzero(mask[66]))
    assert run.seed == 166 and run.run_id == 66 and run.subset_ratio == 0.7
    again = RunSet.from_runs(list(runs))
    np.testing.assert_array_equal(again.correct_train_bits, runs.correct_train_bits)


def test_ratio_inferred_select_by_ratio_and_concat():
    mask, correct, _ = random_records(4, 20, 100, 0, ratio=0.3)
    mask2, correct2, _ = random_records(5, 30, 100, 0, ratio=0.7)
    a = RunSet.from_arrays(mask, correct)
    b = RunSet.from_arrays(mask2, correct2, run_id=np.arange(30))
    assert list(a.ratios) == [0.3]
    both = RunSet.concat([a, b])
    assert list(both.ratios) == [0.3, 0.7]
    np.testing.assert_array_equal(both.by_ratio(0.7).unpack("correct_train"), correct2)
    np.testing.assert_array_equal(both.select([25, 3]).unpack("train_mask"), np.stack([mask2[5], mask[3]]))
    with pytest.raises(HeldoutError, match="no runs at subset ratio 0.5; the runs have ratios 0.3, 0.7"):
        both.by_ratio(0.5)


@pytest.mark.parametrize("call, message", [
    (lambda m, c, t: RunSet.from_arrays(m[:, :5], c, t), "correct_train has shape .* but train_mask has shape"),
    (lambda m, c, t: RunSet.from_arrays(m, c, t[:3]), "correct_test has 3 runs but train_mask has 10"),
    (lambda m, c, t: RunSet.from_arrays(m[:0], c[:0]), "no runs"),
    (lambda m, c, t: RunSet.from_arrays(m[:, :0], c[:, :0]), "empty training set"),
    (lambda m, c, t: RunSet.from_arrays(m, c * 2), "correct_train must hold only 0 and 1"),
    (lambda m, c, t: RunSet.from_arrays(m[0], c[0]), "train_mask must be a 2-D array"),
    (lambda m, c, t: RunSet.from_arrays(m, c, subset_ratio=[0.7, 0.7]), "subset_ratio must be a scalar or have one entry per run"),
    (lambda m, c, t: RunSet.from_arrays(m, c, run_id=np.zeros(10)), "run id 0 appears more than once at subset ratio"),
    (lambda m, c, t: RunSet.from_arrays(m, c, labels_train=np.zeros(3)), r"labels_train must have shape \(8,\)"),
])
def test_validation_errors(call, message):
    mask, correct, test = random_records(6, 10, 8, 4)
    with pytest.raises(HeldoutError, match=message):
        call(mask, correct.astype(int), test)


def test_mixed_training_set_sizes_refused():
    a = Run(train_mask=np.ones(5, bool), correct_train=np.ones(5, bool), run_id=0)
    b = Run(train_mask=np.ones(6, bool), correct_train=np.ones(6, bool), run_id=1)
    with pytest.raises(HeldoutError, match="has 6 training examples but run 0 has 5; runs of different training sets"):
        RunSet.from_runs([a, b])
    with pytest.raises(HeldoutError, match="no runs were given"):
        RunSet.from_runs([])
    one = RunSet.from_runs([a])
    other = RunSet.from_runs([b])
    with pytest.raises(HeldoutError, match="cannot mix runs with 6 training"):
        RunSet.concat([one, other])


@pytest.mark.parametrize("sizes", [[64, 64], [3, 70, 61, 1], [130], [1, 1, 1]])
def test_concat_and_select_work_on_words(sizes, monkeypatch):
    import heldout_core.bitpack as bitpack

    monkeypatch.setattr(bitpack, "_ROWS_PER_BLOCK", 4)  # several row blocks even on small inputs
    rng = np.random.default_rng(sum(sizes))
    dense = [rng.random((r, 9)) < 0.5 for r in sizes]
    joined = bitpack.concat_runs([(pack_runs(d), len(d)) for d in dense])
    np.testing.assert_array_equal(joined, pack_runs(np.concatenate(dense)))
    everything = np.concatenate(dense)
    pick = rng.permutation(len(everything))[: max(1, len(everything) // 2)]
    np.testing.assert_array_equal(bitpack.select_runs(joined, len(everything), pick), pack_runs(everything[pick]))


def test_from_runs_streams_a_generator_across_word_boundaries():
    mask, correct, test = random_records(16, 150, 12, 4)
    dense = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7)
    streamed = RunSet.from_runs(dense.run(r) for r in range(150))
    for name in ("train_mask_bits", "correct_train_bits", "correct_test_bits", "run_id", "subset_ratio"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(dense, name))
