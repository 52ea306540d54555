"""The batched MLP trainer against plain one-model references; checkpoints of single runs."""

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from heldout_zoo import tf_mlp  # noqa: E402

pytestmark = pytest.mark.slow

SIZES = (6, 5, 4, 3)


def problem(n=70, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = rng.integers(0, 3, n)
    return x, y


def reference_sgd(x, y, subset, seed, *, epochs, learning_rate, momentum, batch_size):
    """One model, one minibatch at a time, in eager TensorFlow: the obvious implementation."""
    model = tf_mlp.build(SIZES, seed)
    variables = [v for layer in model._layers for v in (layer.w, layer.b)]
    velocity = [np.zeros(v.shape, np.float32) for v in variables]
    rng = tf_mlp.minibatch_rng(seed)
    for _ in range(epochs):
        order = subset[rng.permutation(len(subset))]
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            with tf.GradientTape() as tape:
                logits = model(x[batch])
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y[batch], logits=logits))
            for k, (v, g) in enumerate(zip(variables, tape.gradient(loss, variables))):
                velocity[k] = momentum * velocity[k] - learning_rate * g.numpy()
                v.assign_add(velocity[k])
    return model.numpy_params()


@pytest.mark.parametrize("jit", [True, False])
def test_batched_trainer_matches_one_model_sgd_including_the_partial_last_batch(jit):
    x, y = problem()
    rng = np.random.default_rng(1)
    subsets = [np.sort(rng.choice(70, 50, replace=False)) for _ in range(3)]   # 50 = 32 + 18: a partial batch
    seeds = [11, 12, 13]
    models = tf_mlp.train_batched(x, y, subsets, seeds, sizes=SIZES, epochs=3, learning_rate=0.1, momentum=0.9,
                                  batch_size=32, jit=jit)
    for model, subset, seed in zip(models, subsets, seeds):
        expected = reference_sgd(x, y, subset, seed, epochs=3, learning_rate=0.1, momentum=0.9, batch_size=32)
        for got, want in zip(model.numpy_params(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        assert model.trained_steps == 3 * math.ceil(50 / 32)


def test_batched_trainer_matches_keras_fit_on_full_batches():
    # with one batch per epoch the minibatch order is irrelevant, so Keras and the batched trainer
    # must take exactly the same SGD-with-momentum steps from the same initialisation
    x, y = problem(seed=3)
    subset = np.arange(0, 70, 2)
    batched = tf_mlp.train_batched(x, y, [subset], [5], sizes=SIZES, epochs=4, learning_rate=0.2, momentum=0.9,
                                   batch_size=64)[0]
    keras_model = tf_mlp.build(SIZES, 5)
    tf_mlp.train_keras(keras_model, x, y, subset, seed=5, epochs=4, learning_rate=0.2, momentum=0.9, batch_size=64)
    for got, want in zip(batched.numpy_params(), keras_model.numpy_params()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(keras_model.numpy_params()[0], tf_mlp.init_params(SIZES, 5)[0])   # it did train


def test_models_in_a_batch_do_not_interact():
    x, y = problem(seed=4)
    subsets = [np.arange(0, 60), np.arange(10, 70)]
    together = tf_mlp.train_batched(x, y, subsets, [1, 2], sizes=SIZES, epochs=2, learning_rate=0.1, momentum=0.9, batch_size=16)
    alone = tf_mlp.train_batched(x, y, subsets[1:], [2], sizes=SIZES, epochs=2, learning_rate=0.1, momentum=0.9, batch_size=16)
    for got, want in zip(together[1].numpy_params(), alone[0].numpy_params()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_epoch_indices_pad_the_last_batch_with_zero_weight():
    idx, mask = tf_mlp.epoch_indices([np.arange(5), np.arange(10, 15)], batch_size=2)
    assert idx.shape == (3, 2, 2) and mask.shape == (3, 2, 2)
    assert idx[:, 1].ravel().tolist()[:5] == [10, 11, 12, 13, 14]
    assert mask[2].tolist() == [[1, 0], [1, 0]]


def test_checkpoint_of_one_batched_run_restores_on_its_own(tmp_path):
    x, y = problem()
    models = tf_mlp.train_batched(x, y, [np.arange(40), np.arange(30, 70)], [1, 2], sizes=SIZES, epochs=1,
                                  learning_rate=0.1, momentum=0.9, batch_size=16)
    tf_mlp.save(models[1], tmp_path / "ckpt-1", epoch=1)
    names = dict(tf.train.list_variables(str(tmp_path / "ckpt-1")))
    assert "epoch/.ATTRIBUTES/VARIABLE_VALUE" in names and "global_step/.ATTRIBUTES/VARIABLE_VALUE" in names
    assert names["model/_layers/0/w/.ATTRIBUTES/VARIABLE_VALUE"] == [6, 5]
    assert tf.train.load_variable(str(tmp_path / "ckpt-1"), "global_step/.ATTRIBUTES/VARIABLE_VALUE") == 3
    restored = tf_mlp.restore(SIZES, tmp_path / "ckpt-1")
    for got, want in zip(restored.numpy_params(), models[1].numpy_params()):
        assert np.array_equal(got, want)
    np.testing.assert_array_equal(tf_mlp.predict(restored, x), tf_mlp.predict(models[1], x))
    assert restored(x, is_training=False).shape == (70, 3)


def test_models_evaluated_together_predict_exactly_what_each_predicts_alone(monkeypatch):
    x, _ = problem(n=300)
    models = [tf_mlp.build(SIZES, s) for s in range(5)]
    rng = np.random.default_rng(3)
    for m in models:  # weights large enough that the classes vary
        m.assign([rng.normal(scale=2.0, size=p.shape).astype(np.float32) for p in m.numpy_params()])
    alone = np.stack([tf.argmax(m(x), axis=1).numpy() for m in models])
    assert len(np.unique(alone)) == 3
    np.testing.assert_array_equal(tf_mlp.predict_many(models, x), alone)
    monkeypatch.setattr(tf_mlp, "_PREDICT_FLOATS", 5 * 6 * 7)  # chunks of 7 examples, the last one partial
    np.testing.assert_array_equal(tf_mlp.predict_many(models, x), alone)
    np.testing.assert_array_equal(tf_mlp.predict(models[2], x), alone[2])


def test_keras_fit_rule_stops_where_the_batched_trainer_does():
    # one batch per epoch, so both take the same steps; the fit rule must stop both at one epoch
    x, y = problem(seed=3)
    subset = np.arange(0, 70, 2)
    kw = dict(epochs=None, fit_target=0.9, max_epochs=100, learning_rate=0.2, momentum=0.9, batch_size=64)
    batched = tf_mlp.train_batched(x, y, [subset], [5], sizes=SIZES, **kw)[0]
    keras_model = tf_mlp.build(SIZES, 5)
    tf_mlp.train_keras(keras_model, x, y, subset, seed=5, **kw)
    assert 1 < batched.epochs_trained < 100
    assert keras_model.epochs_trained == batched.epochs_trained
    for got, want in zip(batched.numpy_params(), keras_model.numpy_params()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_training_to_fit_stops_each_model_on_its_own():
    """Each model of a batch stops at the first epoch after which it fits its subset; it ends
    with exactly the weights it has when trained alone for that many epochs."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 6)).astype(np.float32)
    y = np.argmax(x[:, :3], axis=1)          # learnable: each model fits its subset, sooner or later
    # eight models, several stopping at different epochs and several never fitting: none may
    # stop sooner or later than it does trained alone
    subsets = [np.sort(rng.choice(60, 20, replace=False)) for _ in range(8)]
    seeds = list(range(21, 29))
    kw = dict(sizes=SIZES, learning_rate=0.2, momentum=0.9, batch_size=8)
    models = tf_mlp.train_batched(x, y, subsets, seeds, epochs=None, fit_target=1.0, max_epochs=300, **kw)
    epochs = [m.epochs_trained for m in models]
    assert len(set(epochs)) > 1, "the models should stop at different epochs"
    for model, subset, seed in zip(models, subsets, seeds):
        fitted = tf_mlp.predict(model, x[subset]) == y[subset]
        assert fitted.all() or model.epochs_trained == 300
        alone = tf_mlp.train_batched(x, y, [subset], [seed], epochs=model.epochs_trained, **kw)[0]
        for got, want in zip(model.numpy_params(), alone.numpy_params()):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        # and trained alone to fit, it stops at that same epoch (the batch's other models do not
        # make it stop sooner)
        alone_to_fit = tf_mlp.train_batched(x, y, [subset], [seed], epochs=None, fit_target=1.0, max_epochs=300,
                                            **kw)[0]
        assert alone_to_fit.epochs_trained == model.epochs_trained
    again = tf_mlp.train_batched(x, y, subsets, seeds, epochs=None, fit_target=1.0, max_epochs=300, **kw)
    assert [m.epochs_trained for m in again] == epochs                       # deterministic
