"""TensorFlow code of the MLP experiments: the model, two trainers, checkpoints, devices.

Imported only when an MLP experiment builds or trains a model (never by ``heldout plugins``).

- :class:`MLP` is a ``tf.Module`` with the attribute layout of Sonnet 2's ``snt.nets.MLP``
  (``_layers[i].w``, ``_layers[i].b``), called as ``model(images, is_training=False)`` like the
  released models; every checkpoint holds ``model``, ``epoch`` and ``global_step``, as the
  released ones do, whichever trainer produced it.
- :func:`train_keras` trains one model with Keras ``fit`` (the ``--sequential`` path).
- :func:`train_batched` trains M models at once: weights stacked on a leading model axis
  ((M, d_in, d_out)), one batched einsum per layer, each model drawing its minibatches from its
  own subset through per-model index arrays; a whole epoch is one XLA-compiled while loop.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

# Keras prints a progress bar and warnings per fit; the zoo's own progress goes to stderr
tf.get_logger().setLevel("ERROR")


# ---------------------------------------------------------------------------- the model
class Linear(tf.Module):
    """``y = x w + b`` with ``w`` (d_in, d_out) and ``b`` (d_out,), float32."""

    def __init__(self, w: np.ndarray, b: np.ndarray, name: str | None = None):
        super().__init__(name=name)
        self.w = tf.Variable(w, dtype=tf.float32, name="w")
        self.b = tf.Variable(b, dtype=tf.float32, name="b")

    def __call__(self, x):
        return tf.matmul(x, self.w) + self.b


class MLP(tf.Module):
    """Fully connected ReLU network; inputs are flattened, the output is logits (n, classes)."""

    def __init__(self, params: Sequence[np.ndarray], name: str = "mlp"):
        super().__init__(name=name)
        self._layers = [Linear(params[2 * i], params[2 * i + 1], name=f"linear_{i}") for i in range(len(params) // 2)]
        self.trained_steps = 0  # minibatch steps of the last training, written as global_step
        self.epochs_trained = 0  # epochs of the last training (training to fit stops each model on its own)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (int(self._layers[0].w.shape[0]), *(int(layer.w.shape[1]) for layer in self._layers))

    def numpy_params(self) -> list[np.ndarray]:
        """[w0, b0, w1, b1, ...] as numpy arrays."""
        return [v.numpy() for layer in self._layers for v in (layer.w, layer.b)]

    def assign(self, params: Sequence[np.ndarray]) -> None:
        for i, layer in enumerate(self._layers):
            layer.w.assign(params[2 * i])
            layer.b.assign(params[2 * i + 1])

    def __call__(self, images, is_training: bool = False):
        h = tf.reshape(tf.cast(images, tf.float32), [tf.shape(images)[0], -1])
        for i, layer in enumerate(self._layers):
            h = layer(h)
            if i < len(self._layers) - 1:
                h = tf.nn.relu(h)
        return h


def init_params(sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """Glorot-uniform weights and zero biases (Keras' defaults), a function of ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0]))
    params = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        limit = math.sqrt(6.0 / (d_in + d_out))
        params.append(rng.uniform(-limit, limit, size=(d_in, d_out)).astype(np.float32))
        params.append(np.zeros(d_out, dtype=np.float32))
    return params


def minibatch_rng(seed: int) -> np.random.Generator:
    """The generator of a run's minibatch order (a stream apart from its initialisation)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 1]))


def build(sizes: Sequence[int], seed: int) -> MLP:
    return MLP(init_params(sizes, seed))


# ---------------------------------------------------------------------------- evaluation
# Activations of one evaluation call stay under this many floats (64 MB): a chunk of examples
# times the models times the widest layer.
_PREDICT_FLOATS = 1 << 24


@functools.lru_cache(maxsize=None)
def _logits_fn():
    """Logits (M, B, classes) of M stacked MLPs on the same inputs, as one compiled graph.

    The operations of :meth:`MLP.__call__` (float32 ``matmul`` + bias, ReLU) with a leading model
    axis: the inputs broadcast over it, so every model computes exactly what it computes alone
    (measured bit for bit on CPU), however many models share the call.
    """

    @tf.function(reduce_retracing=True)
    def logits(params, x):
        h = x[None]
        n_layers = len(params) // 2
        for i in range(n_layers):
            h = tf.matmul(h, params[2 * i]) + params[2 * i + 1][:, None, :]
            if i < n_layers - 1:
                h = tf.nn.relu(h)
        return h

    return logits


def predict_many(models: Sequence[MLP], x: np.ndarray) -> np.ndarray:
    """Predicted classes of each model on every example, int64 (M, n), from one graph call per
    chunk of examples for all M models together (models of one layer layout)."""
    weights = [m.numpy_params() for m in models]
    params = [tf.constant(np.stack([w[k] for w in weights])) for k in range(len(weights[0]))]
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    widest = max(models[0].sizes)
    chunk = max(1, _PREDICT_FLOATS // (len(models) * widest))
    logits = _logits_fn()
    out = [tf.argmax(logits(params, tf.constant(x[i:i + chunk])), axis=2).numpy() for i in range(0, len(x), chunk)]
    return np.concatenate(out, axis=1).astype(np.int64) if out else np.zeros((len(models), 0), dtype=np.int64)


def predict(model: MLP, x: np.ndarray) -> np.ndarray:
    """Predicted classes, int64 (n,): :func:`predict_many` of one model, so a run's records are
    the same whether it was evaluated alone or in a batch."""
    return predict_many([model], x)[0]


# ---------------------------------------------------------------------------- checkpoints
@dataclass
class TrainedWeights:
    """A trained MLP as plain arrays: what the batched trainer returns for each run.

    Building a ``tf.Module`` with its variables costs milliseconds per model; a batch of runs
    needs its weights only to be evaluated (:func:`predict_many` reads arrays) and checkpointed
    (:func:`save` writes them through one reusable checkpoint per layer layout).
    """

    params: list[np.ndarray]
    trained_steps: int = 0
    epochs_trained: int = 0

    @property
    def sizes(self) -> tuple[int, ...]:
        return (int(self.params[0].shape[0]), *(int(w.shape[1]) for w in self.params[0::2]))

    def numpy_params(self) -> list[np.ndarray]:
        return self.params


_templates = threading.local()  # per thread (one worker thread per GPU): a checkpoint to reuse per layout


def _checkpoint_template(sizes: tuple[int, ...]):
    """An MLP, two int64 variables and the ``tf.train.Checkpoint`` over them, for ``sizes``."""
    cache = getattr(_templates, "by_sizes", None)
    if cache is None:
        cache = _templates.by_sizes = {}
    if sizes not in cache:
        model = MLP(init_params(sizes, 0))
        epoch, step = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
        cache[sizes] = (model, epoch, step, tf.train.Checkpoint(model=model, epoch=epoch, global_step=step))
    return cache[sizes]


def save(model: MLP | TrainedWeights, prefix: Path, epoch: int) -> None:
    """``tf.train.Checkpoint(model=, epoch=, global_step=)`` written at ``prefix``: the same
    object graph and variables whichever kind of model is given."""
    template, epoch_var, step_var, checkpoint = _checkpoint_template(tuple(model.sizes))
    template.assign(model.numpy_params())
    epoch_var.assign(int(epoch))
    step_var.assign(int(model.trained_steps))
    checkpoint.write(str(prefix))


def restore(sizes: Sequence[int], prefix: Path) -> MLP:
    """An :class:`MLP` of the given layer sizes with weights read from ``prefix``."""
    model = MLP(init_params(sizes, 0))
    status = tf.train.Checkpoint(model=model).read(str(prefix))
    status.expect_partial().assert_existing_objects_matched()
    return model


# ---------------------------------------------------------------------------- Keras, one at a time
@functools.lru_cache(maxsize=None)
def _stop_when_fitted_class():
    """The Keras callback class of the fit rule (defined here so that Keras is imported lazily)."""
    import keras

    class StopWhenFitted(keras.callbacks.Callback):
        """Ends ``fit`` after the first epoch whose model classifies at least ``target`` of its
        subset correctly (the batched trainer's rule, checked the same way: after every epoch)."""

        def __init__(self, x, y, target):
            super().__init__()
            self.x, self.y, self.target, self.epochs = x, y, target, 0

        def on_epoch_end(self, epoch, logs=None):
            self.epochs = epoch + 1
            if np.mean(np.argmax(self.model(self.x, training=False), axis=1) == self.y) >= self.target:
                self.model.stop_training = True

    return StopWhenFitted


def train_keras(model: MLP, x: np.ndarray, y: np.ndarray, subset_idx: np.ndarray, *, seed: int, epochs: int | None,
                learning_rate: float, momentum: float, batch_size: int, fit_target: float | None = None,
                max_epochs: int | None = None) -> None:
    """Train ``model`` in place with Keras ``fit`` (SGD with momentum, cross-entropy) on the subset.

    The Keras model starts from ``model``'s weights; the minibatch order comes from a tf.data
    shuffle seeded with ``seed`` (no global random state is touched). ``epochs`` None: train
    until the accuracy on the subset reaches ``fit_target`` (checked after every epoch), at most
    ``max_epochs``, as :func:`train_batched` does.
    """
    import keras

    sizes = model.sizes
    layers = [keras.Input((sizes[0],))]
    layers += [keras.layers.Dense(d, activation="relu") for d in sizes[1:-1]]
    layers += [keras.layers.Dense(sizes[-1])]
    net = keras.Sequential(layers)
    net.set_weights(model.numpy_params())
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    xs = x[subset_idx].reshape(len(subset_idx), -1)
    ds = (tf.data.Dataset.from_tensor_slices((xs, y[subset_idx]))
          .shuffle(len(subset_idx), seed=int(seed), reshuffle_each_iteration=True)
          .batch(batch_size))
    if epochs is not None:
        net.fit(ds, epochs=epochs, verbose=0, shuffle=False)  # ds is already shuffled, with its own seed
        done = epochs
    else:
        stopper = _stop_when_fitted_class()(xs, y[subset_idx], fit_target)
        net.fit(ds, epochs=max_epochs, verbose=0, shuffle=False, callbacks=[stopper])
        done = stopper.epochs
    model.assign(net.get_weights())
    model.epochs_trained = done
    model.trained_steps = done * math.ceil(len(subset_idx) / batch_size)


# ---------------------------------------------------------------------------- many at once
def _forward(params, xb, compute_dtype):
    """Logits (M, B, classes) of M stacked MLPs on per-model batches xb (M, B, d)."""
    h = xb
    n_layers = len(params) // 2
    for i in range(n_layers):
        w, b = params[2 * i], params[2 * i + 1]
        h = tf.einsum("mbi,mio->mbo", tf.cast(h, compute_dtype), tf.cast(w, compute_dtype))
        h = tf.cast(h, tf.float32) + b[:, None, :]
        if i < n_layers - 1:
            h = tf.nn.relu(h)
    return h


@functools.lru_cache(maxsize=None)
def _epoch_fn(compute_dtype: tf.DType, jit: bool):
    """One epoch of SGD with momentum for M stacked models, as one compiled while loop.

    Returns the new parameters and velocities. Cached per dtype so that every batch of runs with the same shapes reuses one compilation.
    """

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def epoch(params, velocity, x, y, idx, mask, learning_rate, momentum, active):
        # idx, mask: (steps, M, B); padded entries (mask 0) repeat example 0 and weigh nothing.
        # active: (M,) 1 for models still training, 0 for models that have fitted their subset
        # (their weights stay as they are: no step, no momentum)
        n_steps = tf.shape(idx)[0]
        gates = [tf.reshape(active, [-1] + [1] * (len(p.shape) - 1)) for p in params]

        def body(step, params, velocity):
            xb = tf.gather(x, idx[step])        # (M, B, d)
            yb = tf.gather(y, idx[step])        # (M, B)
            mb = mask[step]                     # (M, B)
            with tf.GradientTape() as tape:
                tape.watch(params)
                logits = _forward(params, xb, compute_dtype)
                # cross-entropy written out: the sparse op carries a label-range Assert that XLA
                # drops with a warning on every compile
                n_classes = tf.shape(logits)[-1]
                ce = -tf.reduce_sum(tf.one_hot(yb, n_classes) * tf.nn.log_softmax(logits), axis=-1)
                # each model's loss is the mean over its own (real) batch, as in Keras; summing
                # over models keeps their gradients independent
                loss = tf.reduce_sum(tf.reduce_sum(ce * mb, axis=1) / tf.reduce_sum(mb, axis=1))
            grads = tape.gradient(loss, params)
            # Keras SGD: v <- momentum v - lr g; w <- w + v (for the active models)
            velocity = [a * (momentum * v - learning_rate * g) for a, v, g in zip(gates, velocity, grads)]
            params = [p + v for p, v in zip(params, velocity)]
            return step + 1, params, velocity

        _, params, velocity = tf.while_loop(lambda step, *_: step < n_steps, body, (tf.constant(0), params, velocity))
        return params, velocity

    return epoch


def epoch_indices(orders: Sequence[np.ndarray], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-model minibatch indices and weights for one epoch.

    Args:
        orders: M arrays of the same length n_s, each model's examples in this epoch's order.
    Returns:
        idx int32 (steps, M, batch_size) and mask float32 of the same shape; the last step is
        padded (mask 0) when n_s is not a multiple of batch_size, like Keras' partial last batch.
    """
    order = np.stack(orders)                    # (M, n_s)
    m, n_s = order.shape
    steps = math.ceil(n_s / batch_size)
    idx = np.zeros((m, steps * batch_size), dtype=np.int32)
    mask = np.zeros((m, steps * batch_size), dtype=np.float32)
    idx[:, :n_s] = order
    mask[:, :n_s] = 1.0
    idx = idx.reshape(m, steps, batch_size).transpose(1, 0, 2)
    mask = mask.reshape(m, steps, batch_size).transpose(1, 0, 2)
    return np.ascontiguousarray(idx), np.ascontiguousarray(mask)


@functools.lru_cache(maxsize=None)
def _fit_counts_fn(compute_dtype: tf.DType, jit: bool):
    """Per model, how many examples of a chunk of its own subset it classifies correctly."""

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def fit_counts(params, x, y, idx, mask):
        # idx, mask: (M, C), a chunk of each model's subset; padded entries weigh nothing
        logits = _forward(params, tf.gather(x, idx), compute_dtype)
        right = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.gather(y, idx)), tf.float32)
        return tf.reduce_sum(right * mask, axis=1)

    return fit_counts


# examples of each model's subset scored per call when checking the fit (bounds activations)
_FIT_CHUNK_FLOATS = 1 << 24


def subset_accuracy(params, x_t, y_t, subsets: Sequence[np.ndarray], *, widest: int, compute_dtype, jit: bool) -> np.ndarray:
    """Accuracy of each of M stacked models on its own training subset, float64 (M,)."""
    order = np.stack(subsets)                      # (M, n_s), equal sizes
    m, n_s = order.shape
    chunk = max(1, min(n_s, _FIT_CHUNK_FLOATS // (m * max(widest, 1))))
    fit_counts = _fit_counts_fn(compute_dtype, jit)
    right = np.zeros(m)
    for start in range(0, n_s, chunk):
        idx = np.zeros((m, chunk), dtype=np.int32)
        mask = np.zeros((m, chunk), dtype=np.float32)
        part = order[:, start:start + chunk]
        idx[:, :part.shape[1]] = part
        mask[:, :part.shape[1]] = 1.0
        right += fit_counts(params, x_t, y_t, tf.constant(idx), tf.constant(mask)).numpy()
    return right / n_s


def train_batched(x: np.ndarray, y: np.ndarray, subsets: Sequence[np.ndarray], seeds: Sequence[int], *,
                  sizes: Sequence[int], epochs: int | None, learning_rate: float, momentum: float, batch_size: int,
                  mixed_precision: bool = False, jit: bool = True, fit_target: float | None = None,
                  max_epochs: int | None = None) -> list[TrainedWeights]:
    """Train one MLP per (subset, seed) at once; returns the M trained models, in order.

    Initialisation and minibatch order of model m are those of :func:`train_keras` with
    ``seeds[m]`` in distribution (same init, independent shuffles), not bit for bit.

    Args:
        x: float32 (n_train, ...) inputs; y: int (n_train,) labels.
        subsets: M int arrays of equal length, the training examples of each model.
        epochs: train exactly this many epochs; or None to train each model until its accuracy
            on its own subset reaches ``fit_target`` (measured after every epoch), at most
            ``max_epochs``; a model that reaches it stops, the others go on, and each stops at
            the epoch it would stop at if trained alone.
        mixed_precision: bfloat16 matmuls (float32 weights, updates and softmax) for GPUs.
        jit: compile the epoch with XLA (``tf.function(jit_compile=True)``).

    Each model records ``epochs_trained`` and ``trained_steps``.
    """
    if len({len(s) for s in subsets}) != 1:
        raise ValueError("train_batched needs subsets of equal size")
    if epochs is None and (fit_target is None or max_epochs is None):
        raise ValueError("train_batched needs epochs, or fit_target and max_epochs")
    n_s = len(subsets[0])
    x_t = tf.constant(x.reshape(len(x), -1), dtype=tf.float32)
    y_t = tf.constant(y, dtype=tf.int32)
    per_model = [init_params(sizes, s) for s in seeds]
    params = [tf.constant(np.stack([p[k] for p in per_model])) for k in range(len(per_model[0]))]
    velocity = [tf.zeros_like(p) for p in params]
    rngs = [minibatch_rng(s) for s in seeds]
    subsets = [np.asarray(s, dtype=np.int64) for s in subsets]
    compute_dtype = tf.bfloat16 if mixed_precision else tf.float32
    epoch = _epoch_fn(compute_dtype, bool(jit))
    lr, mom = tf.constant(learning_rate, tf.float32), tf.constant(momentum, tf.float32)
    m = len(subsets)
    active = np.ones(m, dtype=np.float32)
    trained = np.zeros(m, dtype=np.int64)
    for _ in range(epochs if epochs is not None else max_epochs):
        idx, mask = epoch_indices([s[rng.permutation(n_s)] for s, rng in zip(subsets, rngs)], batch_size)
        params, velocity = epoch(params, velocity, x_t, y_t, tf.constant(idx), tf.constant(mask), lr, mom,
                                 tf.constant(active))
        trained += active.astype(np.int64)
        # the fit check, after every epoch: the exact accuracy of each model on its subset
        if epochs is None:
            # every model is scored in one call of one compiled shape (a subset of the models
            # would compile a new program per count, seconds in all); a model that fits stops,
            # at the epoch it would stop at if trained alone
            accuracy = subset_accuracy(params, x_t, y_t, subsets, widest=max(sizes), compute_dtype=compute_dtype,
                                       jit=bool(jit))
            active[(active > 0) & (accuracy >= fit_target)] = 0.0
            if not active.any():
                break
    stacked = [p.numpy() for p in params]
    # each run gets its own weights (copies, so one can be kept without the whole stack)
    return [TrainedWeights([np.array(p[k]) for p in stacked], int(trained[k]) * math.ceil(n_s / batch_size),
                           int(trained[k])) for k in range(m)]
