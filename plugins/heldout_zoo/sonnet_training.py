"""Training, evaluating and checkpointing the released networks (Sonnet 2 modules), TensorFlow.

Used by :class:`heldout_zoo.sonnet_experiment.SonnetExperiment`, the base of the CIFAR
(SmallInception) and ImageNet (ResNet-50) experiments:

- :func:`train_sgd`: SGD with momentum over a tf.data pipeline of ``{"image", "label"}`` batches;
  learning rate warmed up linearly then decayed to zero by a cosine (:func:`learning_rate_at`);
  L2 weight decay on convolution and linear weights (``w``), not on batch norm or biases.
- :func:`evaluate_correctness`: 0/1 correctness per example id, from an evaluation pipeline of
  ``{"image", "label", "index"}`` batches.
- :func:`save_release_checkpoint` / :func:`restore_release_checkpoint`: checkpoints holding
  ``model``, ``epoch`` and ``global_step`` (int64), the release's layout.

The hyper-parameters are the project's documented defaults (see the experiments); the release
does not publish its training code. Mixed precision (:func:`bfloat16_compute`) runs convolutions
and linear layers in bfloat16 while every variable stays float32, so checkpoints keep the
release's dtypes (feeding bfloat16 images instead would create bfloat16 variables).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Callable

import numpy as np
import sonnet as snt
import tensorflow as tf

from heldout_core.errors import HeldoutError


def learning_rate_at(step, *, peak: float, warmup_steps: int, total_steps: int):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    step = tf.cast(step, tf.float32)
    warm = peak * (step + 1.0) / max(warmup_steps, 1)
    progress = tf.clip_by_value((step - warmup_steps) / max(total_steps - warmup_steps, 1), 0.0, 1.0)
    cosine = 0.5 * peak * (1.0 + tf.cos(math.pi * progress))
    return tf.where(step < warmup_steps, warm, cosine)


_BF16_WRAPPED = False


def bfloat16_compute():
    """A context in which Sonnet's Conv2D and Linear compute in bfloat16 (Sonnet 2's own
    ``snt.mixed_precision``): inputs and variables are cast on the way in, outputs back to
    float32 on the way out, so variables, batch norm, the loss and the gradients stay float32.

    Sonnet computes a module's first call in float32 (that is when it creates variables), so
    call the model once inside the context before tracing a training step.
    """
    global _BF16_WRAPPED
    if not _BF16_WRAPPED:  # Sonnet's documented way: wrap the classes' __call__ once
        support = snt.mixed_precision.modes([tf.bfloat16])
        snt.Conv2D.__call__ = support(snt.Conv2D.__call__)
        snt.Linear.__call__ = support(snt.Linear.__call__)
        _BF16_WRAPPED = True
    return snt.mixed_precision.scope(tf.bfloat16)


def _decayed_weights(model: snt.Module) -> list[tf.Variable]:
    return [v for v in model.trainable_variables if v.name.split("/")[-1].startswith("w:")]


def train_sgd(model: snt.Module, make_dataset: Callable[[int], "tf.data.Dataset"], *, epochs: int,
              steps_per_epoch: int, learning_rate: float, momentum: float = 0.9, weight_decay: float = 5e-4,
              warmup_epochs: float = 1.0, progress: Callable[[int, float], None] | None = None,
              mixed_precision: bool = False) -> int:
    """Train ``model`` in place; returns the number of steps taken.

    Args:
        make_dataset: ``make_dataset(epoch)`` -> batches ``{"image": float32 (b,h,w,3), "label": int64 (b,)}``
            for that epoch (the caller seeds it).
        steps_per_epoch: batches per epoch (for the learning-rate schedule).
        learning_rate: the peak step size.
        progress: called as ``progress(epoch, mean_loss)`` after each epoch.
        mixed_precision: compute convolutions and linear layers in bfloat16 (for GPUs).
    """
    if epochs < 0 or steps_per_epoch < 1 or learning_rate <= 0:
        raise HeldoutError("training needs epochs >= 0, at least one step per epoch and a positive learning rate.")
    total = epochs * steps_per_epoch
    warmup = int(round(warmup_epochs * steps_per_epoch))
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    lr = tf.Variable(0.0, dtype=tf.float32, trainable=False)
    optimizer = snt.optimizers.Momentum(learning_rate=lr, momentum=momentum)
    decayed = _decayed_weights(model)

    @tf.function
    def train_step(batch):
        lr.assign(learning_rate_at(step, peak=learning_rate, warmup_steps=warmup, total_steps=total))
        with tf.GradientTape() as tape:
            logits = model(batch["image"], is_training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch["label"], logits=logits))
            l2 = tf.add_n([tf.reduce_sum(tf.square(w)) for w in decayed]) if decayed else 0.0
            objective = loss + 0.5 * weight_decay * l2
        params = model.trainable_variables
        optimizer.apply(tape.gradient(objective, params), params)
        step.assign_add(1)
        return loss

    with bfloat16_compute() if mixed_precision else contextlib.nullcontext():
        if mixed_precision and epochs:
            first = next(iter(make_dataset(0)), None)
            if first is not None:  # each module's first call is float32 (see bfloat16_compute)
                model(first["image"][:1], is_training=False)
        for epoch in range(epochs):
            losses = [float(train_step(batch)) for batch in make_dataset(epoch)]
            if progress is not None:
                progress(epoch + 1, float(np.mean(losses)) if losses else float("nan"))
    return int(step.numpy())


def evaluate_correctness(model: snt.Module, dataset, n_examples: int) -> np.ndarray:
    """bool (n_examples,): whether the model's top-1 prediction is right, placed by example id."""

    @tf.function
    def predict(images):
        return tf.argmax(model(images, is_training=False), axis=1)

    correct = np.zeros(n_examples, dtype=bool)
    seen = np.zeros(n_examples, dtype=bool)
    for batch in dataset:
        ids = batch["index"].numpy()
        if len(ids) and (ids.min() < 0 or ids.max() >= n_examples):
            raise HeldoutError(f"the evaluation data has example ids outside 0..{n_examples - 1}.")
        correct[ids] = predict(batch["image"]).numpy() == batch["label"].numpy()
        seen[ids] = True
    if not seen.all():
        raise HeldoutError(f"the evaluation data covers {int(seen.sum())} of {n_examples} examples.")
    return correct


def save_release_checkpoint(model: snt.Module, prefix: str | Path, *, epoch: int, global_step: int) -> str:
    """Write ``prefix.index`` / ``prefix.data-*`` with ``model``, ``epoch``, ``global_step``."""
    checkpoint = tf.train.Checkpoint(model=model, epoch=tf.Variable(int(epoch), dtype=tf.int64),
                                     global_step=tf.Variable(int(global_step), dtype=tf.int64))
    return checkpoint.write(str(prefix))


def restore_release_checkpoint(model: snt.Module, prefix: str | Path) -> dict:
    """Restore a checkpoint of the release layout into ``model`` (variables must exist already).

    Extra entries (e.g. ``save_counter``) are ignored; every variable of ``model`` must be found.
    Returns ``{"epoch": int, "global_step": int}``.
    """
    epoch, step = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(model=model, epoch=epoch, global_step=step)
    try:
        # read(), unlike restore(), does not add a save_counter of its own that a checkpoint
        # written by write() would lack
        status = checkpoint.read(str(prefix)).expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as exc:
        raise HeldoutError(f"{prefix} is not a readable checkpoint of this model ({str(exc).splitlines()[0]}).") from None
    except AssertionError as exc:
        raise HeldoutError(f"{prefix} does not hold every variable of this model ({str(exc).splitlines()[0][:200]}).") from None
    return {"epoch": int(epoch.numpy()), "global_step": int(step.numpy())}

