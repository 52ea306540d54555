"""Influence as users call it: ``influence(runs, full=True)`` and ``influence(runs, top_k=100)``,
each beside the plain-numpy formulation; the count kernels alone as labelled micro-benchmarks.

Run: ``python -m pytest benchmarks/bench_influence.py --benchmark-only``.
"""

from __future__ import annotations

import numpy as np
import pytest

import child
import plain
from heldout_core import RunSet, kernels
from heldout_core.estimators import influence
from synthetic import packed_runs

# ---------------------------------------------------------------------------- dense, with intervals
DENSE = dict(n_runs=2048, n_train=20_000, n_test=5_000)
DENSE_GROUP = "influence(runs, full=True) with Newcombe intervals, 20,000 train x 5,000 test x 2,048 runs"


@pytest.fixture(scope="module")
def dense_records():
    rng = np.random.default_rng(1)
    mask = rng.random((DENSE["n_runs"], DENSE["n_train"])) < 0.7
    correct_test = rng.random((DENSE["n_runs"], DENSE["n_test"])) < 0.6
    runs = RunSet.from_arrays(mask, np.zeros_like(mask), correct_test, subset_ratio=0.7)
    return runs, mask.astype(np.float32), correct_test.astype(np.float32)


@pytest.mark.benchmark(group=DENSE_GROUP)
def test_dense_public_call_with_intervals(benchmark, dense_records):
    runs, mask, correct_test = dense_records
    influence(runs, full=True)  # warm: kernels loaded, output pages faulted in once
    got = benchmark.pedantic(influence, args=(runs,), kwargs=dict(full=True), rounds=7, iterations=1)
    # the plain formulas on a corner of the matrix: the same numbers, to float32 rounding
    ref = plain.two_matmul_influence(mask[:, :2000], correct_test[:, :300])
    np.testing.assert_allclose(got.estimate[:300, :2000], ref, rtol=0, atol=5e-7)
    a = (correct_test[:, :300].T @ mask[:, :2000]).astype(np.int64)
    b = mask[:, :2000].sum(0).astype(np.int64)
    _, low, high = plain.newcombe(a, b, correct_test[:, :300].sum(0).astype(np.int64)[:, None] - a, runs.n_runs - b)
    np.testing.assert_allclose(got.ci_low[:300, :2000], low, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.ci_high[:300, :2000], high, rtol=0, atol=1e-6)


@pytest.mark.benchmark(group=DENSE_GROUP)
def test_dense_public_call_estimates_only(benchmark, dense_records):
    runs, _, _ = dense_records
    influence(runs, full=True, intervals=False)
    got = benchmark.pedantic(influence, args=(runs,), kwargs=dict(full=True, intervals=False), rounds=7,
                             iterations=1)
    assert got.ci_low is None


@pytest.mark.benchmark(group=DENSE_GROUP)
def test_dense_reference_two_matmul_estimate_alone(benchmark, dense_records):
    """The plain formulation of the original demonstration: two float32 products, no intervals."""
    _, mask, correct_test = dense_records
    benchmark.pedantic(plain.two_matmul_influence, args=(mask, correct_test), rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group=DENSE_GROUP)
def test_dense_reference_floor_count_kernel_alone(benchmark, dense_records):
    """Kernel micro-benchmark: ``kernels.pair_counts``, int32 counts only (the floor for the call)."""
    runs, _, _ = dense_records
    kernels.pair_counts(runs.train_mask_bits, runs.correct_test_bits)
    benchmark.pedantic(kernels.pair_counts, args=(runs.train_mask_bits, runs.correct_test_bits), rounds=7,
                       iterations=1)
    pair_words = runs.n_test * runs.n_train * runs.train_mask_bits.shape[1]
    benchmark.extra_info["pair_words_per_s"] = f"{pair_words / benchmark.stats.stats.median:.3g}"


_DENSE_SETUP = """
import numpy as np
from synthetic import packed_runs
from heldout_core.estimators import influence
runs = packed_runs(np.random.default_rng(3), {n_runs}, {n_train}, {n_test})
influence(packed_runs(np.random.default_rng(4), 64, 300, 40), full=True, intervals={intervals})
"""


@pytest.mark.benchmark(group="influence(runs, full=True): extra peak memory, in a fresh process")
@pytest.mark.parametrize("intervals", [True, False])
def test_dense_public_call_peak_memory(benchmark, intervals):
    """Peak resident memory of the call beyond its inputs, against the outputs themselves."""
    results = []
    benchmark.pedantic(lambda: results.append(child.measure(_DENSE_SETUP.format(intervals=intervals, **DENSE),
                                                            f"influence(runs, full=True, intervals={intervals})")),
                       rounds=1, iterations=1)
    res = results[-1]
    outputs_mb = (3 if intervals else 1) * DENSE["n_test"] * DENSE["n_train"] * 4 / 2**20
    benchmark.extra_info.update(seconds=round(res["seconds"], 3), peak_extra_MB=round(res["peak_extra_mb"]),
                                output_matrices_MB=round(outputs_mb), beyond_outputs_MB=round(res["peak_extra_mb"] - outputs_mb))
    assert res["peak_extra_mb"] <= outputs_mb + 256, "at most the output matrices plus 256 MB"


# ---------------------------------------------------------------------------- top-k at CIFAR scale
TOPK = dict(n_runs=2000, n_train=50_000, n_test=10_000, k=100)
TOPK_GROUP = "influence(runs, top_k=100) with Newcombe intervals, 50,000 train x 10,000 test x 2,000 runs"
TOPK_SAMPLE_ROWS = 1000  # test rows the reference computes (the dense chunk is 200 MB a product)

_TOPK_SETUP = """
import numpy as np
from synthetic import packed_runs
from heldout_core.estimators import influence
runs = packed_runs(np.random.default_rng(3), {n_runs}, {n_train}, {n_test})
influence(packed_runs(np.random.default_rng(4), 64, 300, 40), top_k=5)  # kernels loaded outside the timing
"""


@pytest.mark.benchmark(group=TOPK_GROUP)
def test_topk_public_call(benchmark):
    """Top-k in a fresh process, so that its peak resident memory is its own."""
    results = []
    benchmark.pedantic(lambda: results.append(child.measure(_TOPK_SETUP.format(**TOPK),
                                                            "top = influence(runs, top_k={k})\n"
                                                            "REPORT = dict(shape=list(top.train_idx.shape))".format(**TOPK))),
                       rounds=1, iterations=1)
    res = results[-1]
    assert res["shape"] == [TOPK["n_test"], TOPK["k"]]
    benchmark.extra_info.update(seconds=round(res["seconds"], 3), peak_extra_MB=round(res["peak_extra_mb"]),
                                dense_float32_matrix_MB=TOPK["n_test"] * TOPK["n_train"] * 4 // 2**20)
    assert res["peak_extra_mb"] < 1024, "top-k must run in well under 1 GB beyond its inputs"


@pytest.mark.benchmark(group=TOPK_GROUP)
def test_topk_reference_dense_products_and_argpartition(benchmark):
    """Both float32 count products for a chunk of test rows, argpartition, Newcombe on the k kept;
    timed on 1,000 of the 10,000 test rows and scaled to all."""
    runs = packed_runs(np.random.default_rng(3), TOPK["n_runs"], TOPK["n_train"], TOPK["n_test"])
    mask = plain.unpack(runs.train_mask_bits, runs.n_runs).astype(np.float32)
    correct_test = plain.unpack(runs.correct_test_bits, runs.n_runs).astype(np.float32)
    rows = np.arange(TOPK_SAMPLE_ROWS)
    benchmark.pedantic(plain.topk_influence, args=(mask, correct_test, TOPK["k"], rows), rounds=1, iterations=1)
    benchmark.extra_info["scale"] = TOPK["n_test"] / TOPK_SAMPLE_ROWS


# ---------------------------------------------------------------------------- popcount peak
@pytest.mark.benchmark(group="kernel micro-benchmark: popcount peak (minimal loop, L2-resident words)")
def test_popcount_peak(benchmark):
    """Words per second of the simplest parallel popcount loop: the machine's practical limit."""
    words = np.random.default_rng(2).integers(0, 2**63, 1 << 16, dtype=np.int64).astype(np.uint64)
    repeats = 2000
    loop = _popcount_loop()
    loop(words, 2)
    benchmark.pedantic(loop, args=(words, repeats), rounds=5, iterations=1)
    benchmark.extra_info["words_per_s"] = f"{len(words) * repeats / benchmark.stats.stats.median:.3g}"


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
