"""``heldout train`` through the command line, runs per second: batched against ``--sequential``.

Each job is a real ``heldout train EXPERIMENT --out DIR --runs N`` (in this process, after a
first job into the same folder that compiled the trainer and loaded TensorFlow, as in any long
job): training, evaluation on the full training and test sets, checkpoint, ``run.json`` and
``aux_arrays.npz`` for every run. The time of each stage is recorded (by wrapping the calls the
driver makes), so the summary shows the per-run overhead beside the training itself.

- ``digits`` with its defaults (64-128-10 MLP, batch 32, each model trained until it fits its
  subset, at most 80 epochs, 128 runs per batch): 128 batched runs against 4 sequential (Keras
  ``fit``, stopped by the same rule) runs, scaled to 128.
- ``arrays`` with its defaults (one hidden layer of 256, batch 32, trained to fit, at most 100
  epochs, 32 runs per batch) on the digits saved as an ``.npz`` (1,200 train, 597 test): 64
  batched runs against 4 sequential, scaled to 64.

Run: ``python -m pytest benchmarks/bench_training.py --benchmark-only``.
"""

from __future__ import annotations

import collections
import contextlib
import time

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

from heldout_core import atomic  # noqa: E402
from heldout_core.cli import main  # noqa: E402
from heldout_core.training import driver  # noqa: E402
from heldout_zoo.mlp import MLPExperiment  # noqa: E402
from stage_timing import timed  # noqa: E402

SEQUENTIAL_SAMPLE = 4
JOBS = {  # experiment: (runs in the warm-up job, runs timed batched)
    "digits": (128, 128),
    "arrays": (32, 64),
}


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype(np.float32), digits.target
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, x_train=x[:1200], y_train=y[:1200], x_test=x[1200:], y_test=y[1200:])
    return path


def _stage_timers(monkeypatch) -> dict[str, float]:
    """Wrap the calls the driver makes for each run; returns the running totals (seconds)."""
    totals: dict[str, float] = collections.defaultdict(float)

    def wrap(owner, name, stage):
        monkeypatch.setattr(owner, name, timed(getattr(owner, name), totals, stage))

    @contextlib.contextmanager
    def timed_atomic_write(*args, **kwargs):
        start = time.perf_counter()
        with atomic.atomic_write(*args, **kwargs) as handle:
            yield handle
        totals["run.json"] += time.perf_counter() - start

    for name, stage in (("train_many", "train"), ("train", "train"), ("build_model", "train"),
                        ("evaluate_many", "evaluate"), ("save_checkpoint", "checkpoint (TF write)")):
        wrap(MLPExperiment, name, stage)
    wrap(driver, "publish_folder", "checkpoint (fsync, rename)")
    wrap(driver, "write_aux_arrays", "aux_arrays.npz")
    monkeypatch.setattr(driver, "atomic_write", timed_atomic_write)
    return totals


def _job(benchmark, monkeypatch, tmp_path, experiment, warm_runs, runs, extra):
    out = tmp_path / "runs"
    argv = ["train", experiment, "--out", str(out), "-q", *extra]
    assert main([*argv, "--runs", str(warm_runs)]) == 0  # compiles, loads TensorFlow and the data
    totals = _stage_timers(monkeypatch)
    benchmark.pedantic(lambda: main([*argv, "--runs", str(warm_runs + runs)]), rounds=1, iterations=1)
    wall = benchmark.stats.stats.median
    overhead = wall - totals["train"]
    benchmark.extra_info.update(runs=runs, runs_per_s=round(runs / wall, 3),
                                train_ms_per_run=round(1e3 * totals["train"] / runs, 1),
                                overhead_ms_per_run=round(1e3 * overhead / runs, 1),
                                **{f"{k}_ms_per_run": round(1e3 * v / runs, 2) for k, v in totals.items() if k != "train"})
    return wall


def _data_flags(experiment, digits_npz):
    return ["--data", str(digits_npz)] if experiment == "arrays" else []


@pytest.mark.parametrize("experiment", list(JOBS))
def test_train_cli_batched(benchmark, monkeypatch, tmp_path, experiment, digits_npz):
    benchmark.group = f"heldout train {experiment} (its defaults), batched vs --sequential"
    warm, runs = JOBS[experiment]
    _job(benchmark, monkeypatch, tmp_path, experiment, warm, runs, _data_flags(experiment, digits_npz))


@pytest.mark.parametrize("experiment", list(JOBS))
def test_train_cli_reference_sequential(benchmark, monkeypatch, tmp_path, experiment, digits_npz):
    """One Keras model at a time: 4 runs (after one that traced Keras), scaled to the batched job."""
    benchmark.group = f"heldout train {experiment} (its defaults), batched vs --sequential"
    _job(benchmark, monkeypatch, tmp_path, experiment, 1, SEQUENTIAL_SAMPLE,
         ["--sequential", *_data_flags(experiment, digits_npz)])
    benchmark.extra_info["scale"] = JOBS[experiment][1] / SEQUENTIAL_SAMPLE
