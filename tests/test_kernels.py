"""Every kernel against the plain-numpy references in naive.py, on random and degenerate inputs."""

import numpy as np
import pytest

from heldout_core import kernels
from heldout_core.bitpack import all_runs_words, pack_runs
from heldout_core.intervals import IntervalSpec, mover_wilson, normal_quantile, weighted_proportion_intervals

import naive

# (runs, n_train, n_test): runs not a multiple of 64, one run, one example, tiles that do not
# divide n (training tiles of 1024 columns, 64 test rows per thread, register blocks of 4 x 4).
SHAPES = [(1, 1, 1), (3, 5, 2), (64, 9, 7), (65, 13, 6), (130, 2051, 5), (200, 33, 17), (70, 1030, 131)]


def records(shape, seed, mode="random"):
    n_runs, n_train, n_test = shape
    rng = np.random.default_rng(seed)
    mask = rng.random((n_runs, n_train)) < 0.7
    if mode == "all_in":
        mask[:] = True
    elif mode == "all_out":
        mask[:] = False
    elif mode == "constant":
        mask[:] = rng.random(n_train) < 0.5
    correct = rng.random((n_runs, n_train)) < np.where(mask, 0.8, 0.4)
    correct_test = rng.random((n_runs, n_test)) < 0.5
    return mask, correct, correct_test


def packed(mask, correct_test):
    n_runs = mask.shape[0]
    return (pack_runs(mask), pack_runs(correct_test), mask.sum(0).astype(np.int64),
            correct_test.sum(0).astype(np.int64), n_runs)


MODES = ["random", "all_in", "all_out", "constant"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_holdout_counts_and_row_popcounts(shape, mode):
    mask, correct, _ = records(shape, 1, mode)
    a, b, c, d = naive.memorization_counts(mask, correct)
    got = kernels.holdout_counts(pack_runs(mask), pack_runs(correct), all_runs_words(shape[0]))
    for x, y in zip(got, (b, a, d, c)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(kernels.row_popcounts(pack_runs(mask)), mask.sum(0))


def test_holdout_counts_on_a_subset_of_runs():
    mask, correct, _ = records((150, 20, 1), 2)
    runs = np.zeros(150, bool)
    runs[::3] = True
    words = np.pad(np.packbits(runs, bitorder="little"), (0, 5)).view("<u8").astype(np.uint64)
    _, _, n_out, correct_out = kernels.holdout_counts(pack_runs(mask), pack_runs(correct), words)
    ref_n, ref_c = naive.holdout_accuracy(mask, correct, runs)
    np.testing.assert_array_equal(n_out, ref_n)
    np.testing.assert_array_equal(correct_out, ref_c)


@pytest.mark.parametrize("shape", SHAPES)
def test_pair_counts(shape):
    mask, _, correct_test = records(shape, 3)
    np.testing.assert_array_equal(kernels.pair_counts(pack_runs(mask), pack_runs(correct_test)),
                                  naive.pair_counts(mask, correct_test))


def dense(args, *, confidence=0.95, row0=0, n_rows=None, intervals=True):
    """The dense kernel into fresh outputs prefilled with 7 (a value no output takes), so cells
    it failed to write show up."""
    n_rows = len(args[3]) - row0 if n_rows is None else n_rows
    shape = (n_rows, len(args[2])) if intervals else (0, 0)
    est = np.full((n_rows, len(args[2])), 7.0, np.float32)
    low, high = np.full(shape, 7.0, np.float32), np.full(shape, 7.0, np.float32)
    kernels.influence_dense(*args, normal_quantile(confidence), row0, est, low, high, intervals)
    return est, low, high


def newcombe_reference(a, b, c, d, confidence):
    """Today's interval functions on (a, b, c, d) count arrays: (low, high) float64."""
    iv = weighted_proportion_intervals(np.stack([np.ravel(a), np.ravel(c)], -1), np.stack([np.ravel(b), np.ravel(d)], -1),
                                       [1.0, -1.0], IntervalSpec(confidence=confidence))
    return iv.ci_low.reshape(np.shape(a)), iv.ci_high.reshape(np.shape(a))


def with_degenerate_columns(mask, correct_test):
    """Train column 0 always in and 1 always out (empty groups); test column 0 always correct
    and 1 never (all-correct and none-correct groups), where the shapes allow."""
    mask, correct_test = mask.copy(), correct_test.copy()
    mask[:, 0] = True
    if mask.shape[1] > 1:
        mask[:, 1] = False
    correct_test[:, 0] = True
    if correct_test.shape[1] > 1:
        correct_test[:, 1] = False
    return mask, correct_test


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_influence_dense_matches_two_matmul_formulation(shape, mode):
    mask, _, correct_test = records(shape, 4, mode)
    args = packed(mask, correct_test)
    got, _, _ = dense(args, intervals=False)
    np.testing.assert_allclose(got, naive.influence_two_matmul(mask, correct_test), rtol=0, atol=2e-7, equal_nan=True)
    # and exactly the float64 estimate rounded to float32, with or without intervals
    np.testing.assert_array_equal(got, naive.influence_dense(mask, correct_test).astype(np.float32))
    np.testing.assert_array_equal(dense(args)[0], got)
    part, _, _ = dense(args, row0=shape[2] - 1, n_rows=1)
    np.testing.assert_array_equal(part, got[-1:])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("confidence", [0.95, 0.5, 0.999])
def test_influence_dense_intervals_are_the_interval_functions_in_float32(shape, mode, confidence):
    mask, correct_test = with_degenerate_columns(*records(shape, 12, mode)[::2])
    args = packed(mask, correct_test)
    est, low, high = dense(args, confidence=confidence)
    a = naive.pair_counts(mask, correct_test)
    b = np.broadcast_to(mask.sum(0), a.shape)
    c = correct_test.sum(0)[:, None] - a
    ref_low, ref_high = newcombe_reference(a, b, c, shape[0] - b, confidence)
    np.testing.assert_array_equal(low, ref_low.astype(np.float32))
    np.testing.assert_array_equal(high, ref_high.astype(np.float32))
    undefined = (b == 0) | (b == shape[0])
    assert np.isnan(low[undefined]).all() and np.isnan(high[undefined]).all() and np.isnan(est[undefined]).all()
    assert not np.isnan(low[~undefined]).any() and (low[~undefined] <= est[~undefined]).all()
    assert (est[~undefined] <= high[~undefined]).all()
    # a chunk of rows starting anywhere writes exactly those rows
    row0 = shape[2] // 2
    part = dense(args, confidence=confidence, row0=row0, n_rows=shape[2] - row0)
    for whole, rows in zip((est, low, high), part):
        np.testing.assert_array_equal(rows, whole[row0:])


def test_influence_dense_without_intervals_leaves_them_alone():
    mask, _, correct_test = records((70, 1030, 131), 13)
    args = packed(mask, correct_test)
    est = np.full((131, 1030), 7.0, np.float32)
    low = np.full((131, 1030), 7.0, np.float32)
    kernels.influence_dense(*args, 1.96, 0, est, low, low, False)
    assert (low == 7.0).all()
    np.testing.assert_array_equal(est, naive.influence_dense(mask, correct_test).astype(np.float32))


def test_difference_newcombe_equals_the_interval_functions():
    # every count combination with groups of 0..7 runs (empty, all-correct and none-correct
    # groups included), and random counts of groups up to 5,000 runs
    grid = [(a, b, c, d) for b in range(8) for d in range(8) for a in range(b + 1) for c in range(d + 1)]
    rng = np.random.default_rng(14)
    b = rng.integers(1, 5000, 20_000)
    d = rng.integers(1, 5000, 20_000)
    a, c = rng.binomial(b, rng.random(20_000)), rng.binomial(d, rng.random(20_000))
    a, b, c, d = (np.concatenate([np.array([g[k] for g in grid]), x]).astype(np.int64) for k, x in enumerate((a, b, c, d)))
    for confidence in (0.95, 0.68, 0.9999):
        est, low, high = (np.empty(len(a)) for _ in range(3))
        kernels.difference_newcombe(a, b, c, d, normal_quantile(confidence), est, low, high)
        ref_low, ref_high = newcombe_reference(a, b, c, d, confidence)
        np.testing.assert_array_equal(low, ref_low)
        np.testing.assert_array_equal(high, ref_high)
        np.testing.assert_array_equal(est, naive.difference(a, b, c, d))
        _, mw_low, mw_high = mover_wilson(np.stack([a, c], -1), np.stack([b, d], -1), [1.0, -1.0], confidence)
        defined = (b > 0) & (d > 0)
        np.testing.assert_array_equal(low[defined], mw_low[defined])
        np.testing.assert_array_equal(high[defined], mw_high[defined])
        assert np.isnan(low[~defined]).all() and np.isnan(high[~defined]).all() and np.isnan(est[~defined]).all()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", [1, 3, 40])
def test_influence_topk(shape, k):
    mask, _, correct_test = records(shape, 5)
    k = min(k, shape[1])
    idx, cnt = kernels.influence_topk(*packed(mask, correct_test), k)
    dense = naive.influence_dense(mask, correct_test)
    np.testing.assert_array_equal(idx, naive.topk(dense, k))
    a = naive.pair_counts(mask, correct_test)
    valid = idx >= 0
    np.testing.assert_array_equal(cnt[valid], np.take_along_axis(a, np.maximum(idx, 0), 1)[valid])


def test_topk_with_ties_and_undefined_columns():
    # few runs -> many equal estimates; column 0 always in, column 1 always out (undefined)
    mask, _, correct_test = records((6, 50, 8), 6)
    mask[:, 0] = True
    mask[:, 1] = False
    dense = naive.influence_dense(mask, correct_test)
    assert np.isnan(dense[:, :2]).all()
    idx, _ = kernels.influence_topk(*packed(mask, correct_test), 49)
    np.testing.assert_array_equal(idx, naive.topk(dense, 49))
    assert (idx[:, -1] == -1).all()  # only 48 defined candidates


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("t", [-1.0, 0.0, 0.1, 1.0])
def test_influence_threshold(shape, t):
    mask, _, correct_test = records(shape, 7)
    jj, ii, cnt = kernels.influence_threshold(*packed(mask, correct_test), t)
    ref_j, ref_i = naive.threshold_pairs(naive.influence_dense(mask, correct_test), t)
    np.testing.assert_array_equal(jj, ref_j)
    np.testing.assert_array_equal(ii, ref_i)
    np.testing.assert_array_equal(cnt, naive.pair_counts(mask, correct_test)[jj, ii])


def test_quantile_pair_matches_numpy():
    rng = np.random.default_rng(8)
    for n in (1, 2, 3, 10, 257, 2000):
        for trial in range(20):
            x = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.normal(size=n)
            q_lo, q_hi = np.sort(rng.random(2))
            got = kernels.quantile_pair(x.copy(), q_lo, q_hi, np.empty(n, np.int64), np.empty(n))
            np.testing.assert_allclose(got, np.quantile(x, [q_lo, q_hi]), rtol=0, atol=1e-12)


def test_normal_ppf_and_cdf():
    from scipy.stats import norm

    p = np.concatenate([np.logspace(-12, -1, 30), np.linspace(0.02, 0.98, 30), 1 - np.logspace(-12, -1, 30)])
    np.testing.assert_allclose([kernels.normal_ppf(x) for x in p], norm.ppf(p), rtol=1e-9, atol=1e-9)
    x = np.linspace(-8, 8, 41)
    np.testing.assert_allclose([kernels.normal_cdf(v) for v in x], norm.cdf(x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n, p", [(1, 0.5), (7, 0.3), (40, 0.95), (1400, 0.5), (1400, 0.999), (600, 0.002), (4000, 0.0005)])
def test_binomial_table_is_the_binomial_cdf(n, p):
    from scipy.stats import binom

    cdf = np.empty(n + 1)
    guide = np.empty(n + 1, dtype=np.int64)
    lo, size = kernels.binomial_table(n, p, cdf, guide)
    support = np.arange(lo, lo + size)
    assert binom.cdf(lo - 1, n, p) < 1e-20 and binom.sf(lo + size - 1, n, p) < 1e-20
    np.testing.assert_allclose(cdf[:size], binom.cdf(support, n, p), rtol=1e-9, atol=1e-15)
    # guide[g] is the first entry whose CDF exceeds g / size
    for g in range(size):
        assert cdf[guide[g]] > g / size and (guide[g] == 0 or cdf[guide[g] - 1] <= g / size)


def test_bootstrap_replicates_follow_the_resampling_distribution():
    """Replicates of a single group are Binomial(n, s/n)/n: compare moments and a chi-square fit."""
    from scipy.stats import binom, chisquare

    n, s, n_boot = 60, 21, 200_000
    out = np.empty(n_boot)
    cdf = np.empty(n + 1)
    guide = np.empty(n + 1, dtype=np.int64)
    kernels.bootstrap_replicates(np.array([s]), np.array([n]), np.array([1.0]), n_boot, kernels.stream_state(3, 0),
                                 out, cdf, guide)
    x = np.rint(out * n).astype(int)
    observed = np.bincount(x, minlength=n + 1)
    expected = binom.pmf(np.arange(n + 1), n, s / n) * n_boot
    keep = expected > 5
    stat = chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum())
    assert stat.pvalue > 1e-4


def test_bootstrap_streams_are_reproducible_and_independent_of_threads():
    import numba

    rng = np.random.default_rng(9)
    trials = rng.integers(50, 200, (300, 2))
    successes = rng.binomial(trials, 0.6)
    args = (successes, trials, np.array([1.0, -1.0]), np.arange(300) + 1000, 500, 42, 0.05, False)
    first = kernels.bootstrap_intervals(*args)
    numba.set_num_threads(1)
    try:
        single = kernels.bootstrap_intervals(*args)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(first, single):
        np.testing.assert_array_equal(a, b)
    # the interval of a row depends only on its own counts and stream
    sub = kernels.bootstrap_intervals(successes[5:10], trials[5:10], args[2], args[3][5:10], *args[4:])
    np.testing.assert_array_equal(sub[0], first[0][5:10])


def test_jackknife_acceleration_matches_explicit_jackknife():
    rng = np.random.default_rng(10)
    for _ in range(5):
        n = rng.integers(5, 40, 3)
        s = rng.binomial(n, 0.4)
        w = rng.normal(size=3)
        values = []
        for k in range(3):
            data = np.r_[np.ones(s[k]), np.zeros(n[k] - s[k])]
            for r in range(n[k]):
                rest = np.delete(data, r)
                values.append(sum(w[m] * (rest.mean() if m == k else s[m] / n[m]) for m in range(3)))
        values = np.array(values)
        dev = values.mean() - values
        expected = (dev ** 3).sum() / (6 * ((dev ** 2).sum()) ** 1.5)
        assert kernels.jackknife_acceleration(s, n, w) == pytest.approx(expected, rel=1e-9, abs=1e-14)
