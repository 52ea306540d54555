"""``heldout estimate`` end to end, as a user runs it: a fresh process that loads a compact store
and writes every output (memorization .npz/.csv, top-k influence, C-scores, high-influence pairs).

- CIFAR-shaped store (50,000 train x 10,000 test x 2,000 runs, 100 classes), beside a plain-numpy
  script producing the same outputs from the same store.
- ImageNet at 1/16 of its shape (80,000 train x 3,125 test x 2,000 runs, 1,000 classes), with
  the time and memory of each stage and their projection to the full 1,281,167 x 50,000 x 2,000:
  top-k influence costs n_train x n_test x runs (x 256 from 1/16 to full); loading,
  memorization, C-scores and writing cost n_train x runs or less (x 16); memory is the records
  and per-example outputs (x 16), nothing of size n_train x n_test.

Run: ``python -m pytest benchmarks/bench_estimate_cli.py --benchmark-only``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import child
import plain
from heldout_core import write_store
from synthetic import packed_runs

STAGES = ("heldout_core.loading:load_runs", "heldout_core.estimators:memorization",
          "heldout_core.estimators:influence_topk", "heldout_core.estimators:consistency",
          "heldout_core.estimators:high_influence_pairs", "heldout_core.cli.estimate:_write_memorization_csv",
          "heldout_core.atomic:save_npz_atomic", "heldout_core.diagnostics:fit_diagnostics",
          "heldout_core.reliability:split_half_reliability")
# The stage whose cost grows with n_train x n_test; the others grow with n_train (or n_test) alone.
# (The split-half reliability compares top-k sets on at most 1,000 test examples, so past 1,000
# test examples it grows with n_train alone.)
PAIR_STAGES = ("heldout_core.estimators:influence_topk",)

_CLI = """
from heldout_core.cli import main
assert main({argv!r}) == 0
"""


def _store(folder, n_runs, n_train, n_test, n_classes, seed):
    runs = packed_runs(np.random.default_rng(seed), n_runs, n_train, n_test, n_classes=n_classes, experiment="bench")
    return write_store(runs, folder)[0]


def _estimate_in_child(store, out, *, warm_process=False):
    """One ``heldout estimate`` in a fresh process, after one on a tiny store so that the kernels
    are in Numba's on-disk cache, as in any run after the first. With ``warm_process`` the tiny
    run happens in the same process before the measurement, so that the stages hold only work
    that grows with the records (for projecting to other sizes), not loading the kernels."""
    tiny = _store(out.parent / "tiny", 70, 300, 40, 3, 0)
    tiny_cli = _CLI.format(argv=["estimate", str(tiny), "--out", str(out.parent / "tiny_out"), "--overwrite"])
    child.measure("", tiny_cli)
    return child.measure(tiny_cli if warm_process else "",
                         _CLI.format(argv=["estimate", str(store), "--out", str(out), "--overwrite"]), STAGES)


def _stage_extra(res):
    return {spec.split(":")[1] + "_s": round(t, 3) for spec, t in res["stages"].items()}


# ---------------------------------------------------------------------------- CIFAR-shaped
CIFAR = dict(n_runs=2000, n_train=50_000, n_test=10_000, n_classes=100)
CIFAR_GROUP = "heldout estimate (load + all outputs), CIFAR-shaped store 50,000 x 10,000 x 2,000 runs"
REFERENCE_ROWS = 1000  # test rows the plain script's influence part is timed on, scaled to all


@pytest.fixture(scope="module")
def cifar_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar")
    return _store(folder / "store", CIFAR["n_runs"], CIFAR["n_train"], CIFAR["n_test"], CIFAR["n_classes"], 7)


@pytest.mark.benchmark(group=CIFAR_GROUP)
def test_estimate_cli_cifar_shaped(benchmark, cifar_store):
    """Timed from process start: interpreter, imports, loading, every estimator, every file."""
    results = []
    benchmark.pedantic(lambda: results.append(_estimate_in_child(cifar_store, cifar_store.parent.parent / "out")),
                       rounds=1, iterations=1)
    res = results[-1]
    benchmark.extra_info.update(peak_MB=round(res["peak_mb"]), in_process_seconds=round(res["seconds"], 2),
                                **_stage_extra(res))


@pytest.mark.benchmark(group=CIFAR_GROUP)
def test_estimate_cli_reference_plain_numpy(benchmark, cifar_store, tmp_path):
    """The same outputs in plain numpy from the same store: unpack to dense records, masked sums,
    both float32 count products with argpartition for top-10 (timed on 1,000 of the 10,000 test
    rows and scaled), the split-half reliability (on 1,000 test examples, as heldout estimate
    measures it), the Newcombe/Wilson formulas, np.savez and the csv module."""
    parts = {}

    def run():
        start = time.perf_counter()
        with np.load(cifar_store) as f:
            mask, correct, correct_test = (plain.unpack(f[key], CIFAR["n_runs"])
                                           for key in ("train_mask_bits", "correct_train_bits", "correct_test_bits"))
            labels_train, labels_test = f["labels_train"], f["labels_test"]
        parts["load"] = time.perf_counter() - start
        start = time.perf_counter()
        mem = plain.memorization(mask, correct)
        cscore = plain.heldout_accuracy(mask, correct)
        parts["memorization_cscore"] = time.perf_counter() - start
        start = time.perf_counter()
        mask_f, test_f = mask.astype(np.float32), correct_test.astype(np.float32)
        parts["to_float32"] = time.perf_counter() - start
        start = time.perf_counter()
        rows = np.arange(REFERENCE_ROWS)
        top, est = plain.topk_influence(mask_f, test_f, 10, rows)
        plain.high_influence(est, rows, mem[0], labels_train, labels_test)
        parts["influence_sample"] = time.perf_counter() - start
        start = time.perf_counter()  # on 1,000 test examples, as heldout estimate does: not scaled
        plain.split_half(mask, correct, mask_f, test_f, 10, np.linspace(0, CIFAR["n_test"] - 1, 1000).astype(int))
        parts["split_half"] = time.perf_counter() - start
        start = time.perf_counter()
        plain.write_outputs(tmp_path, mem, top, cscore)
        parts["write"] = time.perf_counter() - start

    benchmark.pedantic(run, rounds=1, iterations=1)
    scale = CIFAR["n_test"] / REFERENCE_ROWS
    full = sum(parts.values()) + (scale - 1) * parts["influence_sample"]
    benchmark.extra_info.update(full_job_seconds=round(full, 2), influence_scale=scale,
                                **{f"{k}_s": round(v, 3) for k, v in parts.items()})


# ---------------------------------------------------------------------------- ImageNet at 1/16
IMAGENET = dict(n_train=1_281_167, n_test=50_000, n_runs=2000)
SIXTEENTH = dict(n_runs=2000, n_train=80_000, n_test=3_125, n_classes=1000)


@pytest.mark.benchmark(group="heldout estimate at 1/16 of ImageNet: 80,000 train x 3,125 test x 2,000 runs "
                             "(projected to 1,281,167 x 50,000)")
def test_estimate_cli_imagenet_sixteenth(benchmark, tmp_path):
    store = _store(tmp_path / "store", SIXTEENTH["n_runs"], SIXTEENTH["n_train"], SIXTEENTH["n_test"],
                   SIXTEENTH["n_classes"], 8)
    results = []
    benchmark.pedantic(lambda: results.append(_estimate_in_child(store, tmp_path / "out", warm_process=True)),
                       rounds=1, iterations=1)
    res = results[-1]
    pair_factor = (IMAGENET["n_train"] / SIXTEENTH["n_train"]) * (IMAGENET["n_test"] / SIXTEENTH["n_test"])
    example_factor = IMAGENET["n_train"] / SIXTEENTH["n_train"]
    pair_time = sum(res["stages"].get(s, 0.0) for s in PAIR_STAGES)
    # everything measured in the warm process grows with the records: the pair stage with
    # n_train x n_test, the rest with n_train (or n_test); start-up (imports, the tiny run) does not
    other_time = res["seconds"] - pair_time
    projected = pair_time * pair_factor + other_time * example_factor
    base_mb = res["peak_mb"] - res["peak_extra_mb"]
    benchmark.extra_info.update(
        seconds=round(res["seconds"], 2), peak_MB=round(res["peak_mb"]), peak_extra_MB=round(res["peak_extra_mb"]),
        dense_float32_matrix_would_be_MB=SIXTEENTH["n_train"] * SIXTEENTH["n_test"] * 4 // 2**20,
        projected_full_seconds=round(projected),
        projected_full_peak_MB=round(base_mb + res["peak_extra_mb"] * example_factor),
        **_stage_extra(res))
    # nothing of size n_train x n_test: the whole run stays far below one dense float32 matrix
    assert res["peak_extra_mb"] < SIXTEENTH["n_train"] * SIXTEENTH["n_test"] * 4 / 2**20 / 4
