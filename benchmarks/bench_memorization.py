"""``memorization(runs, method=...)`` with each interval method, 50,000 examples x 2,000 runs,
beside plain numpy (Newcombe) and ``scipy.stats.bootstrap`` (percentile, BCa).

Run: ``python -m pytest benchmarks/bench_memorization.py --benchmark-only``.
"""

from __future__ import annotations

import numpy as np
import pytest

import plain
from heldout_core.estimators import memorization
from synthetic import packed_runs

MEM = dict(n_runs=2000, n_train=50_000, n_boot=2000)
SCIPY_SAMPLE = {"bootstrap": 20, "bca": 4}  # examples scipy resamples (seconds each), scaled to all


@pytest.fixture(scope="module")
def records():
    runs = packed_runs(np.random.default_rng(5), MEM["n_runs"], MEM["n_train"], 0)
    return runs, plain.unpack(runs.train_mask_bits, runs.n_runs), plain.unpack(runs.correct_train_bits, runs.n_runs)


def _group(method):
    return f"memorization(runs, method={method!r}), 50,000 examples x 2,000 runs" + (
        "" if method == "newcombe" else f", {MEM['n_boot']:,} replicates")


@pytest.mark.benchmark(group=_group("newcombe"))
def test_memorization_newcombe(benchmark, records):
    runs, mask, correct = records
    memorization(packed_runs(np.random.default_rng(6), 64, 50, 0))
    got = benchmark.pedantic(memorization, args=(runs,), rounds=5, iterations=1)
    ref = plain.memorization(mask[:, :500], correct[:, :500])
    for value, want in zip((got.estimate, got.ci_low, got.ci_high), ref):
        np.testing.assert_allclose(value[:500], want, rtol=0, atol=1e-12)


@pytest.mark.benchmark(group=_group("newcombe"))
def test_memorization_newcombe_reference_numpy(benchmark, records):
    """Counts by masked sums over dense bool records, the Newcombe formula vectorized."""
    _, mask, correct = records
    benchmark.pedantic(plain.memorization, args=(mask, correct), rounds=3, iterations=1)


@pytest.mark.parametrize("method", ["bootstrap", "bca"])
def test_memorization_resampled(benchmark, records, method):
    benchmark.group = _group(method)
    runs, _, _ = records
    memorization(packed_runs(np.random.default_rng(6), 64, 50, 0), method=method, n_boot=100, seed=0)
    res = benchmark.pedantic(memorization, args=(runs,), kwargs=dict(method=method, n_boot=MEM["n_boot"], seed=0),
                             rounds=3, iterations=1)
    assert np.isfinite(res.ci_low).all()


def _scipy_reference(benchmark, records, method):
    from scipy.stats import bootstrap

    _, mask, correct = records
    sample = SCIPY_SAMPLE[method]

    def diff(x, y, axis=-1):
        return x.mean(axis=axis) - y.mean(axis=axis)

    def run():
        for i in range(sample):
            bootstrap((correct[mask[:, i], i].astype(float), correct[~mask[:, i], i].astype(float)), diff,
                      n_resamples=MEM["n_boot"], method="percentile" if method == "bootstrap" else "BCa",
                      vectorized=True, random_state=i)

    benchmark.pedantic(run, rounds=2, iterations=1)
    benchmark.extra_info["scale"] = MEM["n_train"] / sample
    benchmark.extra_info["seconds_per_example"] = f"{benchmark.stats.stats.median / sample:.4f}"


@pytest.mark.benchmark(group=_group("bootstrap"))
def test_memorization_bootstrap_reference_scipy(benchmark, records):
    """scipy.stats.bootstrap (percentile) on the run-level 0/1 outcomes of 20 examples, scaled to all."""
    _scipy_reference(benchmark, records, "bootstrap")


@pytest.mark.benchmark(group=_group("bca"))
def test_memorization_bca_reference_scipy(benchmark, records):
    """scipy.stats.bootstrap (BCa, with its jackknife over runs) on 4 examples, scaled to all."""
    _scipy_reference(benchmark, records, "bca")
