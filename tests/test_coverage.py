"""Interval coverage by simulation with known true probabilities.

Runs are simulated as in the papers: each run trains on a fixed-size 70% subset, and a model's
correctness on example i is Bernoulli(p_in[i]) when i was in its subset and Bernoulli(p_out[i])
otherwise, so the true memorization is p_in - p_out. Every example is one trial; for each
configuration a two-sided binomial test checks that the observed count of covering intervals is
consistent with a coverage inside [93.5%, 96.5%] (the project's requirement for 95% intervals).
"""

import numpy as np
import pytest
from scipy.stats import binomtest

from heldout_core import RunSet
from heldout_core.estimators import consistency, memorization

# (p_in, p_out) pairs, proportions near 0 and 1 included, as seen in real records.
CONFIGS = [(0.5, 0.5), (0.99, 0.9), (0.999, 0.95), (0.98, 0.5), (0.02, 0.01), (0.995, 0.99), (0.9, 0.3), (0.7, 0.2)]


def simulate(p_in, p_out, n_runs, ratio, seed):
    rng = np.random.default_rng(seed)
    n = len(p_in)
    size = int(round(ratio * n))
    order = rng.random((n_runs, n)).argsort(axis=1)
    mask = order < size  # each run: a uniformly random subset of exactly `size` examples
    correct = rng.random((n_runs, n)) < np.where(mask, p_in, p_out)
    return mask, correct


def assert_coverage_in_band(covered, trials, label):
    k = int(covered)
    too_low = binomtest(k, trials, 0.935, alternative="less").pvalue
    too_high = binomtest(k, trials, 0.965, alternative="greater").pvalue
    assert too_low > 1e-3 and too_high > 1e-3, f"{label}: coverage {k / trials:.4f} over {trials} intervals"


@pytest.mark.parametrize("method, n_runs, per_config", [("newcombe", 2000, 3000), ("bootstrap", 2000, 400), ("bca", 2000, 400)])
def test_memorization_interval_coverage(method, n_runs, per_config):
    p_in = np.repeat([c[0] for c in CONFIGS], per_config)
    p_out = np.repeat([c[1] for c in CONFIGS], per_config)
    mask, correct = simulate(p_in, p_out, n_runs, 0.7, seed=2024)
    mem = memorization(RunSet.from_arrays(mask, correct, subset_ratio=0.7), method=method, n_boot=1000, seed=7)
    truth = p_in - p_out
    hit = (mem.ci_low <= truth) & (truth <= mem.ci_high)
    if method == "newcombe":
        for k, cfg in enumerate(CONFIGS):
            part = slice(k * per_config, (k + 1) * per_config)
            assert_coverage_in_band(hit[part].sum(), per_config, f"{method} {cfg}")
    else:
        # The percentile bootstrap is known to under-cover near 0 and 1 with few runs; with 2,000
        # runs it is close to nominal, checked here over all configurations together.
        assert_coverage_in_band(hit.sum(), hit.size, method)


def test_cscore_interval_coverage_over_several_ratios():
    rng = np.random.default_rng(5)
    n = 6000
    ratios = (0.3, 0.6, 0.9)
    # the true held-out accuracy rises with the ratio; some examples near 0 and 1
    base = np.concatenate([rng.uniform(0.05, 0.95, n // 2), rng.choice([0.01, 0.03, 0.97, 0.99], n // 2)])
    accuracies = [np.clip(base + 0.05 * k * (1 - base) * base, 0, 1) for k in range(3)]
    sets = []
    for k, (ratio, acc) in enumerate(zip(ratios, accuracies)):
        mask, correct = simulate(np.ones(n), acc, 700, ratio, seed=100 + k)
        sets.append(RunSet.from_arrays(mask, correct, subset_ratio=ratio))
    cs = consistency(RunSet.concat(sets))
    truth = np.mean(accuracies, axis=0)
    hit = (cs.ci_low <= truth) & (truth <= cs.ci_high)
    assert cs.n_undefined == 0
    assert_coverage_in_band(hit.sum(), n, "C-score, mean over 3 ratios")
    per_truth = np.stack(accuracies, axis=1)
    per_hit = (cs.per_ratio_ci_low <= per_truth) & (per_truth <= cs.per_ratio_ci_high)
    assert_coverage_in_band(per_hit[: n // 2].sum(), per_hit[: n // 2].size, "per-ratio Wilson, mid-range")
