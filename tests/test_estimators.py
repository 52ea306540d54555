"""Estimators against the plain references, intervals against the literature and scipy."""

import numpy as np
import pytest

from heldout_core import HeldoutError, RunSet
from heldout_core.estimators import (consistency, high_influence_pairs, influence, influence_matrix, influence_pairs,
                                     influence_topk, memorization)
from heldout_core.intervals import IntervalSpec, mover_wilson, weighted_proportion_intervals, wilson

import naive
from conftest import random_records


@pytest.fixture
def records():
    mask, correct, test = random_records(11, 97, 45, 23)
    mask[:, 0] = True  # never held out
    mask[:, 1] = False  # never trained on
    return mask, correct, test


def test_memorization_matches_reference(records):
    mask, correct, test = records
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7)
    mem = memorization(runs)
    a, b, c, d = naive.memorization_counts(mask, correct)
    np.testing.assert_array_equal(mem.estimate, naive.difference(a, b, c, d))
    np.testing.assert_array_equal(mem.n_in, b)
    np.testing.assert_array_equal(mem.n_out, d)
    assert mem.n_undefined == 2 and np.isnan(mem.ci_low[:2]).all() and np.isnan(mem.ci_high[:2]).all()
    for i in range(2, 45):
        est, lo, hi = naive.newcombe(a[i], b[i], c[i], d[i], 0.95)
        assert mem.ci_low[i] == pytest.approx(lo, abs=1e-12) and mem.ci_high[i] == pytest.approx(hi, abs=1e-12)
    assert (mem.ci_low[2:] <= mem.estimate[2:]).all() and (mem.estimate[2:] <= mem.ci_high[2:]).all()


def test_newcombe_reproduces_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10.
    est, lo, hi = mover_wilson([[56, 48]], [[70, 80]], [1.0, -1.0], 0.95)
    assert est[0] == pytest.approx(0.2)
    assert lo[0] == pytest.approx(0.0524, abs=5e-5) and hi[0] == pytest.approx(0.3339, abs=5e-5)


def test_wilson_matches_formula():
    for s, n in [(0, 10), (10, 10), (3, 17), (500, 1000)]:
        lo, hi = wilson(s, n, 0.9)
        assert (lo, hi) == pytest.approx(naive.wilson(s, n, 0.9), abs=1e-12)


@pytest.mark.parametrize("method", ["newcombe", "bootstrap", "bca"])
def test_influence_forms_agree_with_reference(records, method):
    mask, correct, test = records
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7)
    dense = naive.influence_dense(mask, test)
    opts = dict(method=method, n_boot=300, seed=5)
    full = influence(runs, full=True, **opts)
    np.testing.assert_array_equal(full.estimate, dense.astype(np.float32))
    assert full.n_undefined == 2
    top = influence(runs, top_k=5, **opts)
    np.testing.assert_array_equal(top.train_idx, naive.topk(dense, 5))
    np.testing.assert_array_equal(top.estimate, np.take_along_axis(dense, top.train_idx, 1))
    pairs = influence(runs, threshold=0.1, **opts)
    jj, ii = naive.threshold_pairs(dense, 0.1)
    np.testing.assert_array_equal(pairs.test_idx, jj)
    np.testing.assert_array_equal(pairs.train_idx, ii)
    np.testing.assert_array_equal(pairs.estimate, dense[jj, ii])


@pytest.mark.parametrize("method", ["newcombe", "bootstrap", "bca"])
def test_dense_threshold_and_topk_agree_pair_for_pair(records, method):
    """Every pair: the same estimate and interval in all three forms (float32 in the dense one),
    and, for Newcombe, exactly today's interval function."""
    mask, correct, test = records
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7)
    opts = dict(method=method, n_boot=200, seed=6)
    full = influence_matrix(runs, **opts)
    every = influence_pairs(runs, -1.0, **opts)  # every defined pair
    top = influence_topk(runs, runs.n_train, **opts)  # every defined pair, ranked
    defined = ~np.isnan(full.estimate)
    assert len(every.estimate) == defined.sum() and (top.train_idx >= 0).sum() == defined.sum()
    jj, ii = every.test_idx, every.train_idx
    valid = top.train_idx >= 0
    tj = np.broadcast_to(np.arange(runs.n_test)[:, None], top.train_idx.shape)[valid]
    ti = top.train_idx[valid]
    for name in ("estimate", "ci_low", "ci_high"):
        np.testing.assert_array_equal(getattr(full, name)[jj, ii], getattr(every, name).astype(np.float32))
        np.testing.assert_array_equal(getattr(full, name)[tj, ti], getattr(top, name)[valid].astype(np.float32))
        assert np.isnan(getattr(full, name)[~defined]).all()
    if method == "newcombe":
        a = naive.pair_counts(mask, test)[jj, ii]
        b = mask.sum(0)[ii]
        iv = weighted_proportion_intervals(np.stack([a, test.sum(0)[jj] - a], -1), np.stack([b, len(mask) - b], -1),
                                           [1.0, -1.0], IntervalSpec())
        np.testing.assert_array_equal(every.ci_low, iv.ci_low)
        np.testing.assert_array_equal(every.ci_high, iv.ci_high)


def test_dense_without_intervals(records, tmp_path):
    mask, correct, test = records
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7)
    plain = influence(runs, full=True, intervals=False)
    assert plain.ci_low is None and plain.ci_high is None and plain.method is None
    np.testing.assert_array_equal(plain.estimate, naive.influence_dense(mask, test).astype(np.float32))
    for method in ("newcombe", "bca"):  # no resampling is done, whatever the method
        np.testing.assert_array_equal(influence_matrix(runs, intervals=False, method=method).estimate, plain.estimate)
    on_disk = influence_matrix(runs, intervals=False, out=tmp_path / "e.npy", rows_per_chunk=5)
    np.testing.assert_array_equal(np.asarray(on_disk.estimate), plain.estimate)
    assert [p.name for p in tmp_path.iterdir()] == ["e.npy"]
    with pytest.raises(HeldoutError, match="^intervals must be True or False, got 0"):
        influence_matrix(runs, intervals=0)
    with pytest.raises(HeldoutError, match="^intervals applies to the dense matrix"):
        influence(runs, top_k=3, intervals=False)


@pytest.mark.parametrize("rows_per_chunk", [None, 1, 7])
def test_dense_bootstrap_streams_chunks_with_the_values_of_one_pass(records, rows_per_chunk, monkeypatch):
    """Chunked bootstrap (rows, and statistics within rows) gives what one call over every pair
    gives: each pair's interval depends on its counts, its stream and the seed alone."""
    from heldout_core.estimators import _common, _influence

    mask, correct, test = records
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7)
    a = naive.pair_counts(mask, test)
    b = np.broadcast_to(mask.sum(0), a.shape)
    streams = _common.influence_streams(np.arange(runs.n_test)[:, None], np.arange(runs.n_train), runs.n_train)
    spec = IntervalSpec(method="bca", n_boot=150, seed=8)
    one_pass = weighted_proportion_intervals(np.stack([a.ravel(), (test.sum(0)[:, None] - a).ravel()], -1),
                                             np.stack([b.ravel(), (len(mask) - b).ravel()], -1), [1.0, -1.0], spec,
                                             streams.ravel())
    monkeypatch.setattr(_common, "BOOTSTRAP_CHUNK", 11)
    monkeypatch.setattr(_influence, "BOOTSTRAP_CHUNK", 100)  # rows of 100 // 45 = 2 pairs' rows
    full = influence_matrix(runs, method="bca", n_boot=150, seed=8, rows_per_chunk=rows_per_chunk)
    np.testing.assert_array_equal(full.ci_low, one_pass.ci_low.reshape(a.shape).astype(np.float32))
    np.testing.assert_array_equal(full.ci_high, one_pass.ci_high.reshape(a.shape).astype(np.float32))


def test_memorization_bootstrap_in_chunks_equals_one_pass(records, monkeypatch):
    from heldout_core.estimators import _common

    mask, correct, test = records
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7)
    whole = memorization(runs, method="bootstrap", n_boot=300, seed=9)
    monkeypatch.setattr(_common, "BOOTSTRAP_CHUNK", 4)
    chunked = memorization(runs, method="bootstrap", n_boot=300, seed=9)
    for name in ("estimate", "ci_low", "ci_high", "standard_error"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))
    a, b, c, d = naive.memorization_counts(mask, correct)
    iv = weighted_proportion_intervals(np.stack([a, c], -1), np.stack([b, d], -1), [1.0, -1.0],
                                       IntervalSpec(method="bootstrap", n_boot=300, seed=9), np.arange(len(a)))
    np.testing.assert_array_equal(whole.ci_low, iv.ci_low)
    np.testing.assert_array_equal(whole.standard_error, iv.standard_error)


def test_influence_full_to_disk_is_memory_mapped_and_identical(records, tmp_path):
    mask, correct, test = records
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7)
    in_memory = influence(runs, full=True)
    on_disk = influence(runs, full=True, out=tmp_path / "infl.npy", rows_per_chunk=4)
    assert isinstance(on_disk.estimate, np.memmap)
    for name in ("estimate", "ci_low", "ci_high"):
        np.testing.assert_array_equal(np.asarray(getattr(on_disk, name)), getattr(in_memory, name))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["infl.ci_high.npy", "infl.ci_low.npy", "infl.npy"]


def test_consistency_per_ratio_and_mean():
    parts = [random_records(s, 40 + 10 * s, 30, 0, ratio=r) for s, r in enumerate((0.2, 0.5, 0.9))]
    runs = RunSet.concat([RunSet.from_arrays(m, c, subset_ratio=r) for (m, c, _), r in zip(parts, (0.2, 0.5, 0.9))])
    cs = consistency(runs)
    np.testing.assert_array_equal(cs.ratios, [0.2, 0.5, 0.9])
    for k, (m, c, _) in enumerate(parts):
        n_out, c_out = naive.holdout_accuracy(m, c, np.arange(len(m)))
        np.testing.assert_array_equal(cs.n_out[:, k], n_out)
        with np.errstate(invalid="ignore"):
            np.testing.assert_allclose(cs.per_ratio[:, k], c_out / n_out)
        for i in np.flatnonzero(n_out)[:5]:
            assert (cs.per_ratio_ci_low[i, k], cs.per_ratio_ci_high[i, k]) == pytest.approx(naive.wilson(c_out[i], n_out[i], 0.95))
    np.testing.assert_allclose(cs.estimate, cs.per_ratio.mean(axis=1))
    assert cs.n_undefined == int(np.isnan(cs.per_ratio).any(axis=1).sum())


def test_high_influence_pairs_follow_the_paper_definition(small_runs):
    runs = small_runs
    mem = memorization(runs)
    res = high_influence_pairs(runs, infl_threshold=0.05, mem_threshold=0.3)
    dense = naive.influence_dense(runs.unpack("train_mask"), runs.unpack("correct_test"))
    expected = [(i, j) for j in range(runs.n_test) for i in range(runs.n_train)
                if dense[j, i] >= 0.05 and mem.estimate[i] >= 0.3 and runs.labels_train[i] == runs.labels_test[j]]
    assert expected, "the fixture should produce some pairs"
    assert sorted(zip(res.tr_idx, res.tt_idx)) == sorted(expected)
    np.testing.assert_array_equal(res.infl, dense[res.tt_idx, res.tr_idx])
    np.testing.assert_array_equal(res.mem, mem.estimate[res.tr_idx])
    assert (res.infl_ci_low <= res.infl).all() and (res.mem_ci_high >= res.mem).all()
    any_class = high_influence_pairs(runs, infl_threshold=0.05, mem_threshold=0.3, same_class=False)
    assert len(any_class.tr_idx) > len(res.tr_idx)


@pytest.mark.parametrize("call, message", [
    (lambda r: memorization(r, confidence=1.5), r"^confidence must be a finite number in \(0, 1\), got 1.5\.$"),
    (lambda r: memorization(r, method="wald"), "^method must be one of newcombe, bootstrap, bca, got 'wald'"),
    (lambda r: memorization(r, method="bootstrap", n_boot=1), "^n_boot must be at least 2, got 1"),
    (lambda r: memorization(np.zeros((3, 3))), "runs must be a heldout_core.RunSet"),
    (lambda r: influence(r), "choose exactly one of top_k"),
    (lambda r: influence(r, top_k=3, full=True), "got top_k, full"),
    (lambda r: influence(r, top_k=0), "^top_k must be at least 1, got 0"),
    (lambda r: influence(r, top_k=41), r"top_k=41 exceeds the number of training examples \(40\)"),
    (lambda r: influence(r, threshold=2), r"^threshold must be a finite number in \[-1, 1\], got 2"),
    (lambda r: influence(RunSet.from_arrays(r.unpack("train_mask"), r.unpack("correct_train")), top_k=1),
     "no test correctness records"),
    (lambda r: high_influence_pairs(RunSet.from_arrays(r.unpack("train_mask"), r.unpack("correct_train"),
                                                       r.unpack("correct_test"))), "needs class labels"),
    (lambda r: memorization(RunSet.concat([r, RunSet.from_arrays(r.unpack("train_mask"), r.unpack("correct_train"),
                                                                 r.unpack("correct_test"), subset_ratio=0.5)])),
     r"the runs mix subset ratios \(0.5, 0.7\)"),
])
def test_bad_arguments_name_the_parameter(small_runs, call, message):
    with pytest.raises(HeldoutError, match=message):
        call(small_runs)


def test_bootstrap_matches_explicit_resampling_of_runs():
    """The count-based percentile bootstrap equals resampling run-level 0/1 outcomes in numpy."""
    rng = np.random.default_rng(12)
    a, b, c, d = 120, 140, 30, 60
    runs_in = np.r_[np.ones(a), np.zeros(b - a)]
    runs_out = np.r_[np.ones(c), np.zeros(d - c)]
    reps = np.array([rng.choice(runs_in, b).mean() - rng.choice(runs_out, d).mean() for _ in range(40_000)])
    ref = np.quantile(reps, [0.025, 0.975])
    mask = np.r_[np.ones(b, bool), np.zeros(d, bool)][:, None]
    correct = np.r_[runs_in, runs_out].astype(bool)[:, None]
    mem = memorization(RunSet.from_arrays(mask, correct, subset_ratio=0.7), method="bootstrap", n_boot=40_000, seed=1)
    # Monte Carlo error of a 2.5% quantile with 40,000 replicates is about 0.003 here.
    assert mem.ci_low[0] == pytest.approx(ref[0], abs=0.012)
    assert mem.ci_high[0] == pytest.approx(ref[1], abs=0.012)
    assert mem.standard_error[0] == pytest.approx(reps.std(ddof=1), rel=0.03)


def test_bca_agrees_with_scipy():
    from scipy.stats import bootstrap

    a, b, c, d = 130, 140, 20, 60  # skewed: proportion near 1 in one group
    x = np.r_[np.ones(a), np.zeros(b - a)]
    y = np.r_[np.ones(c), np.zeros(d - c)]
    ref = bootstrap((x, y), lambda u, v, axis=-1: u.mean(axis=axis) - v.mean(axis=axis), method="BCa",
                    n_resamples=20_000, random_state=np.random.default_rng(2), vectorized=True).confidence_interval
    mask = np.r_[np.ones(b, bool), np.zeros(d, bool)][:, None]
    correct = np.r_[x, y].astype(bool)[:, None]
    mem = memorization(RunSet.from_arrays(mask, correct, subset_ratio=0.7), method="bca", n_boot=20_000, seed=3)
    assert mem.ci_low[0] == pytest.approx(ref.low, abs=0.015)
    assert mem.ci_high[0] == pytest.approx(ref.high, abs=0.015)


def test_bootstrap_intervals_do_not_depend_on_what_else_is_computed():
    """A ratio's C-score interval is the same whether or not another ratio is in the set."""
    parts = [random_records(s, 60, 20, 0, ratio=r) for s, r in enumerate((0.3, 0.8))]
    sets = [RunSet.from_arrays(m, c, subset_ratio=r) for (m, c, _), r in zip(parts, (0.3, 0.8))]
    both = consistency(RunSet.concat(sets), method="bootstrap", n_boot=300, seed=4)
    alone = consistency(sets[1], method="bootstrap", n_boot=300, seed=4)
    np.testing.assert_array_equal(both.per_ratio_ci_low[:, 1], alone.per_ratio_ci_low[:, 0])
    np.testing.assert_array_equal(both.per_ratio_ci_high[:, 1], alone.per_ratio_ci_high[:, 0])


def test_bootstrap_intervals_are_reproducible_by_default(records):
    runs = RunSet.from_arrays(*records, subset_ratio=0.7)
    first, again = (memorization(runs, method="bootstrap", n_boot=200) for _ in range(2))
    np.testing.assert_array_equal(first.ci_low, again.ci_low)           # the default seed is 0
    np.testing.assert_array_equal(first.ci_low, memorization(runs, method="bootstrap", n_boot=200, seed=0).ci_low)
    fresh = [memorization(runs, method="bootstrap", n_boot=200, seed=None).ci_low for _ in range(2)]
    assert not np.array_equal(*fresh)                                    # None: a fresh draw each time
