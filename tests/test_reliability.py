"""Split-half reliability against simulation with known truth and against the formula."""

import numpy as np
import pytest

from heldout_core import HeldoutError, RunSet
from heldout_core.reliability import spearman_brown, split_half_reliability, split_halves

from test_coverage import simulate


def test_spearman_brown_is_the_doubled_length_formula():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.0) == 0.0 and spearman_brown(1.0) == 1.0
    assert spearman_brown(-0.5) == 0.0            # about zero, estimated with noise: not below -1
    assert np.isnan(spearman_brown(float("nan")))


def test_halves_are_disjoint_alternate_by_run_id_within_each_ratio():
    rng = np.random.default_rng(0)
    mask = rng.random((10, 8)) < 0.5
    runs = RunSet.from_arrays(mask, mask, subset_ratio=[0.3] * 4 + [0.7] * 6, run_id=[9, 1, 5, 3, 0, 2, 4, 6, 8, 10])
    a, b = split_halves(runs)
    assert set(a) & set(b) == set() and sorted(np.r_[a, b].tolist()) == list(range(10))
    assert runs.run_id[a].tolist() == [1, 5, 0, 4, 8] and runs.run_id[b].tolist() == [3, 9, 2, 6, 10]


def _records(n_runs, n=3000, seed=1, runs_seed=2):
    """Runs of examples with true memorization spread over [0, 0.4]; ``seed`` fixes the truth,
    ``runs_seed`` the draw of the runs."""
    rng = np.random.default_rng(seed)
    p_out = rng.uniform(0.2, 0.9, n)
    p_in = np.clip(p_out + rng.uniform(0.0, 0.4, n), 0, 1)
    mask, correct = simulate(p_in, p_out, n_runs, 0.7, seed=runs_seed)
    correct_test = rng.random((n_runs, 40)) < 0.7
    return RunSet.from_arrays(mask, correct, correct_test, subset_ratio=0.7), p_in - p_out


def test_reliability_grows_with_runs_and_the_projection_predicts_the_full_set():
    small, truth = _records(100)
    large, _ = _records(400)
    r_small = split_half_reliability(small)
    r_large = split_half_reliability(large)
    assert r_small.n_runs == (50, 50)
    assert 0 < r_small.memorization < r_large.memorization < 1
    # Spearman-Brown: the projected reliability of 100 runs is what two independent sets of
    # 100 runs agree on, measured here directly
    other, _ = _records(100, runs_seed=12)     # the same examples, other runs
    from heldout_core.estimators import memorization
    from scipy.stats import spearmanr

    direct = spearmanr(memorization(small).estimate, memorization(other).estimate).statistic
    assert r_small.memorization_full == pytest.approx(direct, abs=0.06)
    assert r_small.influence_chance == pytest.approx(10 / 3000)
    assert 0 <= r_small.influence_overlap <= 1
    assert "split-half reliability (50 + 50 runs): memorization rank correlation" in r_small.summary()


def test_pure_noise_has_no_reliability():
    rng = np.random.default_rng(3)
    mask = rng.random((200, 2000)) < 0.7
    correct = rng.random((200, 2000)) < 0.8          # correctness unrelated to membership
    r = split_half_reliability(RunSet.from_arrays(mask, correct, subset_ratio=0.7))
    assert abs(r.memorization) < 0.08 and r.influence_overlap is None


def test_too_few_runs_and_several_ratios_need_a_choice():
    runs, _ = _records(3, n=50)
    with pytest.raises(HeldoutError, match="needs at least 4 runs at ratio 0.7, got 3"):
        split_half_reliability(runs)
    two = RunSet.concat([_records(8, n=50)[0], RunSet.from_arrays(*simulate(np.ones(50) * .9, np.ones(50) * .5, 8, 0.5, 2),
                                                                  np.zeros((8, 40), bool), subset_ratio=0.5)])
    with pytest.raises(HeldoutError, match="several subset ratios"):
        split_half_reliability(two)
    assert split_half_reliability(two, ratio=0.5).n_runs == (4, 4)


def test_halves_computed_through_masks_equal_the_estimators_on_copied_halves():
    """The masked counts give exactly the estimates of the estimators on the halves themselves."""
    from scipy.stats import spearmanr

    from heldout_core.estimators import consistency, influence_topk, memorization

    runs, _ = _records(90, n=400)
    r = split_half_reliability(runs, top_k=5)
    a, b = split_halves(runs)
    halves = [runs.select(a), runs.select(b)]
    mem = [memorization(h).estimate for h in halves]
    ok = np.isfinite(mem[0]) & np.isfinite(mem[1])
    assert r.memorization == pytest.approx(spearmanr(mem[0][ok], mem[1][ok]).statistic, abs=1e-12)
    cs = [consistency(h).estimate for h in halves]
    ok = np.isfinite(cs[0]) & np.isfinite(cs[1])
    assert r.cscore == pytest.approx(spearmanr(cs[0][ok], cs[1][ok]).statistic, abs=1e-12)
    # the top-5 sets of the estimators on the halves; their test records have few ties at place 5
    # (the random ones of _records), so most rows' sets are the estimators' sets exactly
    tops = [influence_topk(h, 5).train_idx for h in halves]
    shared = np.mean([len(set(x) & set(y)) for x, y in zip(*tops)]) / 5
    assert r.influence_overlap == pytest.approx(shared, abs=0.02)
    assert r.influence_overlap == pytest.approx(_expected_overlap_reference(halves, 5, np.arange(40)), abs=1e-12)


def _estimates(runs):
    """Dense influence estimates (n_test, n_train) of a RunSet, plain numpy, in the kernels'
    single-division form (a R - t b) / (b (R - b)), so that equal fractions are equal floats."""
    mask = runs.unpack("train_mask").astype(np.int64)       # (R, n_train)
    test = runs.unpack("correct_test").astype(np.int64)     # (R, n_test)
    a, b, t, n = test.T @ mask, mask.sum(axis=0), test.sum(axis=0), len(mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * float(n) - t[:, None] * b[None, :].astype(float)) / (b * (n - b)).astype(float)[None, :]


def _expected_overlap_reference(halves, k, rows):
    """Mean over ``rows`` of the expected |A & B| / k, ties at place k broken at random (brute force)."""
    total = 0.0
    est = [_estimates(h)[rows] for h in halves]
    for j in range(len(rows)):
        chance = []
        for e in (est[0][j], est[1][j]):
            defined = np.sort(e[np.isfinite(e)])[::-1]
            p = np.zeros(len(e))
            if len(defined) < k:
                p[np.isfinite(e)] = 1.0
            else:
                cut = defined[k - 1]
                above, at = e > cut, e == cut
                p[above] = 1.0
                p[at] = (k - above.sum()) / at.sum()
            chance.append(p)
        total += float(chance[0] @ chance[1])
    return total / len(rows) / k


def test_ties_at_place_k_count_as_broken_at_random():
    """Test examples right in every run have every influence exactly 0: all training examples
    tie, and the halves agree only as often as chance (k / n_train), not perfectly as a
    by-index tie-break would make them. Heavily tied records match a brute-force reference and a
    simulation of random tie-breaking."""
    rng = np.random.default_rng(4)
    mask = rng.random((40, 300)) < 0.7
    correct = rng.random((40, 300)) < 0.8
    always = np.ones((40, 25), bool)
    r = split_half_reliability(RunSet.from_arrays(mask, correct, always, subset_ratio=0.7), top_k=10)
    assert r.influence_overlap == pytest.approx(10 / 300, abs=1e-12) == pytest.approx(r.influence_chance)

    # few runs and test examples wrong in one run or two: many ties at place 3
    test = np.ones((20, 30), bool)
    test[rng.integers(0, 20, 30), np.arange(30)] = False
    test[rng.integers(0, 20, 30), np.arange(30)] = False
    runs = RunSet.from_arrays(mask[:20], correct[:20], test, subset_ratio=0.7)
    r = split_half_reliability(runs, top_k=3)
    halves = [runs.select(h) for h in split_halves(runs)]
    assert r.influence_overlap == pytest.approx(_expected_overlap_reference(halves, 3, np.arange(30)), abs=1e-12)
    est = [_estimates(h) for h in halves]

    def top3(e):       # the largest three, ties in a random order (undefined estimates last)
        return set(np.lexsort((rng.random(len(e)), -np.nan_to_num(e, nan=-np.inf)))[:3])

    shared = [[len(top3(est[0][j]) & top3(est[1][j])) for j in range(30)] for _ in range(400)]
    assert r.influence_overlap == pytest.approx(np.mean(shared) / 3, abs=0.01)


def test_the_influence_overlap_is_measured_on_an_even_sample_of_a_large_test_set():
    from heldout_core.reliability import influence_sample

    assert influence_sample(50).tolist() == list(range(50))
    sample = influence_sample(10_000)
    assert len(sample) == 1000 and sample[0] == 0 and sample[-1] == 9999 and (np.diff(sample) > 0).all()
