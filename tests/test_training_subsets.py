"""Subset designs: deterministic from (seed, ratio, run_id), fixed size, balanced where promised."""

import numpy as np
import pytest
from scipy import stats

from heldout_core.errors import HeldoutError
from heldout_core.training import subsets as S


def test_random_subsets_are_deterministic_sized_and_distinct():
    a = S.random_subset(1000, 0.7, seed=3, run_id=5)
    assert np.array_equal(a, S.random_subset(1000, 0.7, seed=3, run_id=5))
    assert a.dtype == np.int64 and len(a) == 700 and len(np.unique(a)) == 700
    assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 1000
    for other in (S.random_subset(1000, 0.7, 4, 5), S.random_subset(1000, 0.7, 3, 6), S.random_subset(1000, 0.71, 3, 5)):
        assert not np.array_equal(a[:len(other)], other[:len(a)])


def test_subset_size_rounds_half_up_and_refuses_empty_or_full():
    assert S.subset_size(10, 0.25) == 3          # 2.5 -> 3 (Python's round would give 2)
    assert S.subset_size(1200, 0.7) == 840
    with pytest.raises(HeldoutError, match="leaves 0 in the subset"):
        S.subset_size(10, 0.01)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(HeldoutError, match=r"^ratio must be a finite number in \(0, 1\)"):
            S.check_ratio(bad)


def test_random_design_inclusion_is_uniform():
    # each example is in a run with probability 0.7: counts over 400 runs are Binomial(400, 0.7)
    n, runs = 50, 400
    counts = np.zeros(n)
    for r in range(runs):
        counts[S.random_subset(n, 0.7, 0, r)] += 1
    assert counts.sum() == runs * 35
    chi2 = ((counts - runs * 0.7) ** 2 / (runs * 0.7 * 0.3)).sum()
    assert stats.chi2.sf(chi2, n - 1) > 1e-3


@pytest.mark.parametrize("ratio, block, k", [(0.7, 10, 7), (0.5, 2, 1), (0.25, 4, 1), (0.9, 10, 9), (0.35, 20, 7)])
def test_balanced_design_holds_every_example_out_equally_often(ratio, block, k):
    n = 137
    assert S.balanced_block_size(ratio) == block
    run_ids = range(3 * block)
    chosen = S.subsets("balanced", n, ratio, seed=11, run_ids=run_ids)
    member = np.zeros((len(chosen), n), dtype=bool)
    for r, idx in enumerate(chosen):
        member[r, idx] = True
        assert np.array_equal(idx, S.balanced_subset(n, ratio, 11, r))   # one run alone gives the same
    for b in range(3):
        assert np.all(member[b * block:(b + 1) * block].sum(axis=0) == k)   # per block, per example: exactly k
    sizes = member.sum(axis=1)
    assert sizes.min() >= (k * n) // block and sizes.max() <= (k * n) // block + 1
    # blocks differ from each other, and the design is reproducible
    assert not np.array_equal(member[:block], member[block:2 * block])
    again = S.subsets("balanced", n, ratio, seed=11, run_ids=run_ids)
    assert all(np.array_equal(x, y) for x, y in zip(chosen, again))


def test_balanced_design_does_not_tie_examples_together():
    # a cyclic design would keep groups of examples always in or out together; ours must not
    member = np.zeros((100, 200), dtype=bool)
    for r, idx in enumerate(S.subsets("balanced", 200, 0.7, 0, range(100))):
        member[r, idx] = True
    agree = (member[:, :, None] == member[:, None, :]).mean(axis=0)
    np.fill_diagonal(agree, 0)
    # independent memberships agree with probability 0.7^2 + 0.3^2 = 0.58; no pair is locked together
    assert agree.max() < 0.85
    assert abs(agree[np.triu_indices(200, 1)].mean() - 0.58) < 0.01


def test_unknown_design_and_unbalanceable_ratio():
    with pytest.raises(HeldoutError, match="^design must be one of random, balanced"):
        S.subset("stratified", 10, 0.7, 0, 0)
    with pytest.raises(HeldoutError, match="no balanced design"):
        S.balanced_block_size(0.123456789)
    with pytest.raises(HeldoutError, match="^seed must be at least 0"):
        S.random_subset(10, 0.5, -1, 0)


def test_run_seeds_are_deterministic_and_distinct():
    seeds = [S.run_seed(0, 0.7, r) for r in range(1000)]
    assert seeds == [S.run_seed(0, 0.7, r) for r in range(1000)]
    assert len(set(seeds)) == 1000 and all(0 <= s < 2**31 for s in seeds)
    assert S.run_seed(1, 0.7, 0) != seeds[0] and S.run_seed(0, 0.3, 0) != seeds[0]


def test_balanced_design_refuses_runs_with_no_or_all_examples():
    from heldout_core.errors import HeldoutError

    with pytest.raises(HeldoutError, match="no training example or all 7 of them"):
        S.balanced_block(7, 0.1, 0, 0)
    with pytest.raises(HeldoutError, match="no training example or all 7 of them"):
        S.balanced_block(7, 0.9, 0, 0)
