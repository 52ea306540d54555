"""The ImageNet model restores a checkpoint written through Sonnet's ResNet50 as the release did."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
snt = pytest.importorskip("sonnet")

from heldout_zoo.imagenet.model import resnet50  # noqa: E402


def test_resnet50_restores_a_release_layout_checkpoint(tmp_path):
    # Tiny inputs and 7 classes keep this to a few seconds on CPU; the variable structure does
    # not depend on the input size.
    images = tf.constant(np.random.default_rng(0).normal(size=(2, 32, 32, 3)), tf.float32)
    ref = snt.nets.ResNet50(num_classes=7)
    ref(images, is_training=False)
    rng = np.random.default_rng(1)
    for var in ref.variables:
        if var.dtype.is_floating:
            value = rng.normal(0, 0.05, var.shape)
            if "variance" in var.name or "scale" in var.name:
                value = 0.5 + np.abs(value)
            var.assign(value.astype(np.float32))
    path = tf.train.Checkpoint(model=ref, epoch=tf.Variable(90, dtype=tf.int64),
                               global_step=tf.Variable(5, dtype=tf.int64)).save(str(tmp_path / "ckpt"))

    names = {n for n, _ in tf.train.list_variables(path)}
    assert "model/_initial_conv/w/.ATTRIBUTES/VARIABLE_VALUE" in names
    for key in ("model/_block_groups/3/_blocks/2/_layers/2/1/moving_variance/average", "model/_logits/w",
                "model/_block_groups/0/_blocks/0/_proj_conv/w"):
        assert f"{key}/.ATTRIBUTES/VARIABLE_VALUE" in names, key

    model = resnet50(num_classes=7)
    model(images, is_training=False)
    epoch = tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(model=model, epoch=epoch, global_step=tf.Variable(0, dtype=tf.int64)).restore(path)
    status.assert_existing_objects_matched()
    status.assert_consumed()
    assert int(epoch.numpy()) == 90
    want = ref(images, is_training=False).numpy()
    np.testing.assert_allclose(model(images, is_training=False).numpy(), want, rtol=1e-4, atol=1e-4)
    assert np.abs(want).max() > 1e-3
