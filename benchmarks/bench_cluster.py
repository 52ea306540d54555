"""On a Dask cluster (the dask extra): influence top-k in blocks on ``local:2`` against one
process, and what a training task costs on a cluster beyond what it costs in process.

- ``heldout_core.distributed.influence_topk(records, 100, client=...)`` on a CIFAR-shaped
  compact store (50,000 train x 10,000 test x 2,000 runs) with the cluster of ``--cluster
  local:2`` (two worker processes, each loading the store once, Numba's threads split between
  them), beside ``influence_topk(runs, 100)`` in this process on all cores. The summary's ratio is
  one process / the cluster: above 1 the cluster is faster. On a machine of 2 cores expect about
  1 or below: the same cores do the same work, plus the tasks' overhead.
- A training task: ``train_runs`` of the README's example plugin (nearest centroids on 200
  points: training is nothing, writing the run folder with its fsyncs is all) in this process,
  against the same through ``ClusterExecutor`` on ``local:1`` (one worker, so that per-run
  times compare). The difference per run is the task's overhead: submitting, scheduling,
  shipping the settings, rebuilding the job runner, sending the outcome back.

Run: ``python -m pytest benchmarks/bench_cluster.py --benchmark-only``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask_jobqueue")

from heldout_core import read_store, write_store  # noqa: E402
from heldout_core.estimators import influence_topk  # noqa: E402
from synthetic import packed_runs  # noqa: E402

CIFAR = dict(n_runs=2000, n_train=50_000, n_test=10_000)
TOPK_GROUP = "influence top-100 on a Dask cluster (local:2) against one process, 50,000 x 10,000 x 2,000 runs"
TASK_GROUP = "a training task (the example plugin's run) in process and on a cluster (local:1)"
TASK_RUNS = 40
EXAMPLE_PLUGIN = Path(__file__).parent.parent / "tests" / "example_plugin"


@pytest.fixture(scope="module")
def cifar_store(tmp_path_factory):
    runs = packed_runs(np.random.default_rng(7), CIFAR["n_runs"], CIFAR["n_train"], CIFAR["n_test"], experiment="bench")
    return write_store(runs, tmp_path_factory.mktemp("cifar"))[0]


@pytest.fixture(scope="module")
def local2():
    from heldout_core.distributed import ClusterRequest, open_cluster

    with open_cluster(ClusterRequest(cluster="local:2")) as cluster:
        yield cluster


@pytest.mark.benchmark(group=TOPK_GROUP)
def test_topk_on_local2(benchmark, cifar_store, local2):
    from heldout_core import distributed

    records = distributed.Records.at(cifar_store)
    start = time.perf_counter()
    distributed.influence_topk(records, 100, client=local2.client)  # each worker loads the store once
    first = time.perf_counter() - start
    got = benchmark.pedantic(distributed.influence_topk, args=(records, 100), kwargs=dict(client=local2.client),
                             rounds=3, iterations=1)
    assert got.train_idx.shape == (CIFAR["n_test"], 100)
    benchmark.extra_info.update(first_call_seconds=round(first, 2), blocks=8, workers=2)


@pytest.mark.benchmark(group=TOPK_GROUP)
def test_topk_reference_one_process(benchmark, cifar_store):
    runs = read_store(cifar_store)
    influence_topk(packed_runs(np.random.default_rng(4), 64, 300, 40), 5)  # kernels loaded outside the timing
    benchmark.pedantic(influence_topk, args=(runs, 100), rounds=3, iterations=1)


# ---------------------------------------------------------------------------- training tasks
@pytest.fixture(scope="module")
def example_env(tmp_path_factory):
    """The example plugin discoverable through its entry point, here and in the workers."""
    site = tmp_path_factory.mktemp("site")
    dist = site / "heldout_example_plugin-0.0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: heldout-example-plugin\nVersion: 0.0.1\n")
    (dist / "entry_points.txt").write_text("[heldout]\nexample = heldout_example_plugin\n")
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "HELDOUT_PLUGINS")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), str(EXAMPLE_PLUGIN), saved["PYTHONPATH"] or ""])
    os.environ["HELDOUT_PLUGINS"] = "example"
    import sys

    sys.path[:0] = [str(site), str(EXAMPLE_PLUGIN)]
    from heldout_core import plugins

    plugins.reset_registry()
    yield plugins.get_registry().create("example-blobs")
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    plugins.reset_registry()


def _per_run(benchmark, folder: Path, train) -> None:
    counter = iter(range(1000))

    def job():
        out = folder / str(next(counter))
        start = time.perf_counter()
        summary = train(out)
        assert summary.n_trained == TASK_RUNS
        return time.perf_counter() - start

    train(folder / "warm")  # the worker builds the experiment and loads the data once
    times = [benchmark.pedantic(job, rounds=1, iterations=1)]
    times += [job() for _ in range(2)]
    benchmark.extra_info.update(runs=TASK_RUNS, ms_per_run=round(1000 * float(np.median(times)) / TASK_RUNS, 2))


@pytest.mark.benchmark(group=TASK_GROUP)
def test_training_tasks_on_local1(benchmark, example_env, tmp_path):
    from heldout_core.distributed import ClusterExecutor, ClusterRequest, open_cluster
    from heldout_core.training import train_runs

    with open_cluster(ClusterRequest(cluster="local:1")) as cluster:
        executor = ClusterExecutor(cluster.client)
        _per_run(benchmark, tmp_path, lambda out: train_runs(example_env, out, ratios=[0.7], runs=TASK_RUNS,
                                                             show_progress=False, executor=executor))


@pytest.mark.benchmark(group=TASK_GROUP)
def test_training_tasks_reference_in_process(benchmark, example_env, tmp_path):
    from heldout_core.training import train_runs

    _per_run(benchmark, tmp_path, lambda out: train_runs(example_env, out, ratios=[0.7], runs=TASK_RUNS,
                                                         show_progress=False))
