"""Runs per second: the batched MLP trainer against one-model-at-a-time Keras ``fit`` (digits).

Both train the digits experiment's default MLP (64-128-10, SGD momentum 0.9, step 0.1, batch 32,
80 epochs) on the same 70% subsets with the same seeds. The batched trainer trains
``BATCH`` models in one XLA-compiled program (compiled once beforehand, as in a long job); the
reference trains ``SAMPLE`` of them with Keras, one after the other, and is scaled by
``BATCH / SAMPLE`` to the same number of runs. Target: at least 30x on 2 CPU cores.

Run: ``.venv/bin/python -m pytest benchmarks/bench_training.py --benchmark-only``
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from heldout_core import plugins  # noqa: E402
from heldout_core.training import subsets as S  # noqa: E402
from heldout_zoo import tf_mlp  # noqa: E402

BATCH = 128     # the digits experiment's runs_per_batch
SAMPLE = 4      # Keras runs timed (each takes seconds)
RATIO = 0.7


@pytest.fixture(scope="module")
def setup():
    experiment = plugins.build_registry(entry_points=False).create("digits")
    data = experiment.load_data(None)
    subsets = [S.random_subset(data.n_train, RATIO, 0, r) for r in range(BATCH)]
    seeds = [S.run_seed(0, RATIO, r) for r in range(BATCH)]
    return experiment, data, subsets, seeds


def _hyper(experiment):
    c = experiment.config
    return dict(learning_rate=c["learning_rate"], momentum=c["momentum"], batch_size=c["batch_size"])


@pytest.mark.benchmark(group="training-digits")
def test_batched_trainer(benchmark, setup):
    experiment, data, subsets, seeds = setup
    sizes, epochs = experiment.sizes(data), experiment.default_epochs
    # compile once (an epoch's shapes do not depend on the number of epochs)
    tf_mlp.train_batched(data.x_train, data.y_train, subsets, seeds, sizes=sizes, epochs=1, **_hyper(experiment))
    models = benchmark.pedantic(
        tf_mlp.train_batched, args=(data.x_train, data.y_train, subsets, seeds),
        kwargs=dict(sizes=sizes, epochs=epochs, **_hyper(experiment)), rounds=1, iterations=1)
    fit = np.mean([experiment.evaluate(m, data)[0][s].mean() for m, s in zip(models, subsets)])
    benchmark.extra_info["runs"] = BATCH
    benchmark.extra_info["runs_per_s"] = round(BATCH / benchmark.stats.stats.mean, 2)
    benchmark.extra_info["train_acc_on_subset"] = round(float(fit), 4)
    assert fit > 0.99


@pytest.mark.benchmark(group="training-digits")
def test_reference_keras_fit_one_at_a_time(benchmark, setup):
    experiment, data, subsets, seeds = setup
    sizes, epochs = experiment.sizes(data), experiment.default_epochs

    def train_sample():
        models = []
        for idx, seed in zip(subsets[:SAMPLE], seeds[:SAMPLE]):
            model = tf_mlp.build(sizes, seed)
            tf_mlp.train_keras(model, data.x_train, data.y_train, idx, seed=seed, epochs=epochs, **_hyper(experiment))
            models.append(model)
        return models

    models = benchmark.pedantic(train_sample, rounds=1, iterations=1)
    fit = np.mean([experiment.evaluate(m, data)[0][s].mean() for m, s in zip(models, subsets)])
    benchmark.extra_info["scale"] = BATCH / SAMPLE
    benchmark.extra_info["runs_per_s"] = round(SAMPLE / benchmark.stats.stats.mean, 3)
    benchmark.extra_info["train_acc_on_subset"] = round(float(fit), 4)
