"""Estimators at full scale against the plain formulation (issue: estimators at full scale).

Sizes fit 24 GB and 2 cores. Run: ``pytest benchmarks/bench_estimators.py --benchmark-only``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from heldout_core import RunSet, kernels
from heldout_core.bitpack import n_words, pack_runs
from heldout_core.estimators import influence, memorization


def random_words(rng, n, n_runs, p_one):
    """(n, W) uint64 bit matrix with bits set with probability p_one (0.25, 0.5 or 0.75)."""
    w = n_words(n_runs)
    bits = rng.integers(0, 2**63, (n, w), dtype=np.int64).astype(np.uint64) * np.uint64(2) | rng.integers(0, 2, (n, w)).astype(np.uint64)
    if p_one != 0.5:
        other = rng.integers(0, 2**63, (n, w), dtype=np.int64).astype(np.uint64) * np.uint64(2)
        bits = bits | other if p_one == 0.75 else bits & other
    if n_runs % 64:
        bits[:, -1] &= np.uint64((1 << (n_runs % 64)) - 1)
    return bits


def packed_runs(rng, n_runs, n_train, n_test):
    """A RunSet of random records without building dense matrices."""
    return RunSet(
        train_mask_bits=random_words(rng, n_train, n_runs, 0.75),
        correct_train_bits=random_words(rng, n_train, n_runs, 0.5),
        correct_test_bits=random_words(rng, n_test, n_runs, 0.5) if n_test else None,
        subset_ratio=np.full(n_runs, 0.7), run_id=np.arange(n_runs), seed=np.full(n_runs, -1))


# ---------------------------------------------------------------------------- dense influence
DENSE = dict(n_runs=2048, n_train=20_000, n_test=5_000)


@pytest.fixture(scope="module")
def dense_records():
    rng = np.random.default_rng(1)
    mask = rng.random((DENSE["n_runs"], DENSE["n_train"])) < 0.7
    correct_test = rng.random((DENSE["n_runs"], DENSE["n_test"])) < 0.6
    runs = RunSet.from_arrays(mask, np.zeros_like(mask), correct_test, subset_ratio=0.7)
    return runs, mask.astype(np.float32), correct_test.astype(np.float32)


def two_matmul_influence(mask, correct_test):
    """The plain formulation of the original demonstration: two float32 matrix products."""
    in_mean = (correct_test.T @ mask) / mask.sum(axis=0)
    out_mean = (correct_test.T @ (1.0 - mask)) / (1.0 - mask).sum(axis=0)
    return in_mean - out_mean


def dense_kernel(runs):
    n_in = kernels.row_popcounts(runs.train_mask_bits)
    total = kernels.row_popcounts(runs.correct_test_bits)
    return kernels.influence_dense(runs.train_mask_bits, runs.correct_test_bits, n_in, total, runs.n_runs, 0, runs.n_test)


@pytest.mark.benchmark(group="dense influence 20,000 train x 5,000 test x 2,048 runs")
def test_dense_influence_reference_two_matmul(benchmark, dense_records):
    _, mask, correct_test = dense_records
    benchmark.pedantic(two_matmul_influence, args=(mask, correct_test), rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="dense influence 20,000 train x 5,000 test x 2,048 runs")
def test_dense_influence_popcount_kernel(benchmark, dense_records):
    runs, mask, correct_test = dense_records
    got = benchmark.pedantic(dense_kernel, args=(runs,), rounds=5, iterations=1, warmup_rounds=1)
    # identical up to the float32 rounding of the reference
    ref = two_matmul_influence(mask[:, :2000], correct_test[:, :500])
    np.testing.assert_allclose(got[:500, :2000], ref, rtol=0, atol=5e-7)
    pair_words = runs.n_test * runs.n_train * runs.train_mask_bits.shape[1]
    benchmark.extra_info["pair_words_per_s"] = f"{pair_words / benchmark.stats.stats.mean:.3g}"


@pytest.mark.benchmark(group="pair counts 20,000 x 5,000 x 2,048 (int32 counts only)")
def test_pair_counts_kernel(benchmark, dense_records):
    runs, _, _ = dense_records
    benchmark.pedantic(kernels.pair_counts, args=(runs.train_mask_bits, runs.correct_test_bits), rounds=5,
                       iterations=1, warmup_rounds=1)
    pair_words = runs.n_test * runs.n_train * runs.train_mask_bits.shape[1]
    benchmark.extra_info["pair_words_per_s"] = f"{pair_words / benchmark.stats.stats.mean:.3g}"


# ---------------------------------------------------------------------------- popcount peak
@pytest.mark.benchmark(group="popcount peak (minimal loop, L2-resident words)")
def test_popcount_peak(benchmark):
    """Words per second of the simplest parallel popcount loop: the machine's practical limit."""
    words = np.random.default_rng(2).integers(0, 2**63, 1 << 16, dtype=np.int64).astype(np.uint64)
    repeats = 2000
    kernels_peak = _popcount_loop()
    kernels_peak(words, 2)
    benchmark.pedantic(kernels_peak, args=(words, repeats), rounds=5, iterations=1)
    benchmark.extra_info["words_per_s"] = f"{len(words) * repeats / benchmark.stats.stats.mean:.3g}"


def _popcount_loop():
    import numba

    @numba.njit(parallel=True, nogil=True)
    def loop(words, repeats):
        totals = np.zeros(repeats, dtype=np.uint64)
        for r in numba.prange(repeats):
            acc = np.uint64(0)
            for k in range(len(words)):
                acc += kernels.popcount64(words[k] ^ np.uint64(r))
            totals[r] = acc
        return totals.sum()

    return loop


# ---------------------------------------------------------------------------- top-k at CIFAR scale
TOPK = dict(n_runs=2000, n_train=50_000, n_test=10_000, k=100)

_TOPK_CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    sys.path.insert(0, {bench_dir!r})
    from bench_estimators import packed_runs
    from heldout_core.estimators import influence

    def peak_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1])

    runs = packed_runs(np.random.default_rng(3), {n_runs}, {n_train}, {n_test})
    influence(packed_runs(np.random.default_rng(4), 64, 300, 40), top_k=5)  # compile outside the measurement
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
    base = peak_kb()
    start = time.perf_counter()
    top = influence(runs, top_k={k})
    seconds = time.perf_counter() - start
    print(json.dumps(dict(seconds=seconds, peak_extra_mb=(peak_kb() - base) / 1024, shape=list(top.train_idx.shape))))
""")


@pytest.mark.benchmark(group="top-k=100 influence 50,000 train x 10,000 test x 2,000 runs")
def test_topk_at_cifar_scale(benchmark):
    """Top-k in a fresh process, so its peak resident memory is measured on its own."""
    import pathlib

    code = _TOPK_CHILD.format(bench_dir=str(pathlib.Path(__file__).parent), **TOPK)
    results = []

    def run():
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(run, rounds=1, iterations=1)
    res = results[-1]
    assert res["shape"] == [TOPK["n_test"], TOPK["k"]]
    benchmark.extra_info["topk_seconds"] = f"{res['seconds']:.2f}"
    benchmark.extra_info["peak_extra_MB"] = f"{res['peak_extra_mb']:.0f}"
    assert res["peak_extra_mb"] < 1024, "top-k must run in well under 1 GB beyond its inputs"


# ---------------------------------------------------------------------------- bootstrap memorization
MEM = dict(n_runs=2000, n_train=50_000, n_boot=2000)


@pytest.fixture(scope="module")
def mem_records():
    return packed_runs(np.random.default_rng(5), MEM["n_runs"], MEM["n_train"], 0)


@pytest.mark.benchmark(group="memorization + 95% bootstrap (2,000 replicates), 50,000 examples x 2,000 runs")
def test_memorization_bootstrap(benchmark, mem_records):
    memorization(packed_runs(np.random.default_rng(6), 64, 50, 0), method="bootstrap", n_boot=100, seed=0)
    res = benchmark.pedantic(memorization, args=(mem_records,), kwargs=dict(method="bootstrap", n_boot=MEM["n_boot"], seed=0),
                             rounds=3, iterations=1)
    assert np.isfinite(res.ci_low).all()


@pytest.mark.benchmark(group="memorization + 95% bootstrap (2,000 replicates), 50,000 examples x 2,000 runs")
def test_memorization_bootstrap_reference_scipy(benchmark, mem_records):
    """scipy.stats.bootstrap on the run-level 0/1 outcomes of 20 examples, scaled to 50,000."""
    from scipy.stats import bootstrap

    sample = 20
    mask = mem_records.unpack("train_mask")[:, :sample]
    correct = mem_records.unpack("correct_train")[:, :sample]

    def diff(x, y, axis=-1):
        return x.mean(axis=axis) - y.mean(axis=axis)

    def run():
        for i in range(sample):
            bootstrap((correct[mask[:, i], i].astype(float), correct[~mask[:, i], i].astype(float)), diff,
                      n_resamples=MEM["n_boot"], method="percentile", vectorized=True, random_state=i)

    benchmark.pedantic(run, rounds=2, iterations=1)
    # The ratio in the summary compares like with like: this time scaled to all 50,000 examples.
    benchmark.extra_info["scale"] = MEM["n_train"] / sample
    benchmark.extra_info["seconds_per_example"] = f"{benchmark.stats.stats.mean / sample:.4f}"
