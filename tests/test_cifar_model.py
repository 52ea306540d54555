"""SmallInception restores checkpoints written through the release's module tree, and predicts alike."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
snt = pytest.importorskip("sonnet")

from heldout_zoo.cifar.model import SmallInception  # noqa: E402


# ----------------------------------------------------------------------------- reference tree
# Built here from plain Sonnet modules, with the attribute names and channels of the release
# (DESIGN.md section 2), independently of heldout_zoo.cifar.model.
class Node(snt.Module):
    def __init__(self, name=None, **children):
        super().__init__(name=name)
        for key, value in children.items():
            setattr(self, key, value)


def ref_conv_bn(channels, kernel, stride=1, name=None):
    return Node(name=name, conv=snt.Conv2D(channels, kernel, stride=stride, padding="SAME", with_bias=False, name="conv"),
                bn=snt.BatchNorm(True, True, name="bn"))


def ref_stage(blocks, downsample, name):
    body = [Node(name=f"block{i + 1}", conv1x1=ref_conv_bn(a, 1, name="conv1x1"), conv3x3=ref_conv_bn(b, 3, name="conv3x3"))
            for i, (a, b) in enumerate(blocks)]
    return Node(name=name, _body=body, _downsample=ref_conv_bn(downsample, 3, 2, name="downsample") if downsample else None)


def reference_model(num_classes):
    return Node(
        conv1=ref_conv_bn(96, 3, name="conv1"),
        stage1=ref_stage([(32, 32), (32, 48)], 160, "stage1"),
        stage2=ref_stage([(112, 48), (96, 64), (80, 80), (48, 96)], 240, "stage2"),
        stage3=ref_stage([(176, 160), (176, 160)], 0, "stage3"),
        _pred=snt.Linear(num_classes, name="pred"),
    )


def reference_forward(model, x, is_training=False):
    def cbr(m, x):
        return tf.nn.relu(m.bn(m.conv(x), is_training=is_training))

    x = cbr(model.conv1, x)
    for stage in (model.stage1, model.stage2, model.stage3):
        for block in stage._body:
            x = tf.concat([cbr(block.conv1x1, x), cbr(block.conv3x3, x)], axis=3)
        if stage._downsample is not None:
            x = cbr(stage._downsample, x)
    return model._pred(tf.reduce_max(x, axis=[1, 2]))


def randomize(module, seed):
    """Give every variable a distinct random value (positive for variances and counters)."""
    rng = np.random.default_rng(seed)
    for var in module.variables:
        if var.dtype.is_floating:
            value = rng.normal(0, 0.2, var.shape)
            if "variance" in var.name or "scale" in var.name:
                value = 0.5 + np.abs(value)
            var.assign(value.astype(var.dtype.as_numpy_dtype))
        else:
            var.assign(np.full(var.shape, 7, dtype=var.dtype.as_numpy_dtype))


def save_release_checkpoint(model, directory):
    ckpt = tf.train.Checkpoint(model=model, epoch=tf.Variable(160, dtype=tf.int64),
                               global_step=tf.Variable(62560, dtype=tf.int64))
    return ckpt.save(str(directory / "ckpt"))


def restore(model, path):
    epoch, step = tf.Variable(0, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(model=model, epoch=epoch, global_step=step).restore(path)
    return status, int(epoch.numpy()), int(step.numpy())


@pytest.mark.parametrize("num_classes", [10, 100])
def test_restores_every_variable_of_a_release_layout_checkpoint(tmp_path, num_classes):
    images = tf.constant(np.random.default_rng(0).random((2, 32, 32, 3)), tf.float32)
    ref = reference_model(num_classes)
    reference_forward(ref, images)
    randomize(ref, seed=num_classes)
    path = save_release_checkpoint(ref, tmp_path)

    model = SmallInception(num_classes)
    model(images, is_training=False)
    status, epoch, step = restore(model, path)
    status.assert_existing_objects_matched()
    status.assert_consumed()  # and nothing in the checkpoint is left over
    assert (epoch, step) == (160, 62560)
    assert len(model.variables) == len(ref.variables)

    want = reference_forward(ref, images).numpy()
    got = model(images, is_training=False).numpy()
    assert got.shape == (2, num_classes)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.abs(want).max() > 1e-2  # the comparison is not between two all-zero outputs


def test_checkpoint_keys_follow_the_release_attribute_names(tmp_path):
    model = SmallInception(10)
    model(tf.zeros([1, 32, 32, 3]), is_training=False)
    names = {name for name, _ in tf.train.list_variables(save_release_checkpoint(model, tmp_path))}
    for key in ("model/conv1/conv/w", "model/conv1/bn/scale", "model/stage1/_body/1/conv3x3/bn/offset",
                "model/stage2/_body/3/conv3x3/bn/moving_mean/average", "model/stage2/_downsample/conv/w",
                "model/_pred/w", "model/_pred/b", "epoch", "global_step"):
        assert f"{key}/.ATTRIBUTES/VARIABLE_VALUE" in names, key
    assert not any(name.startswith("model/stage3/_downsample") for name in names)
    shapes = dict(tf.train.list_variables(tmp_path / "ckpt-1"))
    assert shapes["model/stage1/_downsample/conv/w/.ATTRIBUTES/VARIABLE_VALUE"] == [3, 3, 80, 160]
    assert shapes["model/_pred/w/.ATTRIBUTES/VARIABLE_VALUE"] == [336, 10]  # 176 + 160 channels after global max pooling


def test_a_mismatched_structure_is_detected(tmp_path):
    ref = reference_model(10)
    ref.stage3 = ref_stage([(176, 160)], 0, "stage3")  # one block short
    reference_forward(ref, tf.zeros([1, 32, 32, 3]))
    path = save_release_checkpoint(ref, tmp_path)
    model = SmallInception(10)
    model(tf.zeros([1, 32, 32, 3]), is_training=False)
    status, _, _ = restore(model, path)
    with pytest.raises(AssertionError):
        status.assert_existing_objects_matched()


def test_training_mode_and_large_inputs_variant():
    model = SmallInception(10)
    images = tf.random.uniform([4, 32, 32, 3], seed=1)
    model(images, is_training=True)
    counter = model.conv1.bn.moving_mean._counter.numpy()
    assert counter == 1  # batch statistics updated the moving averages
    large = SmallInception(10, large_inputs=True)
    out = large(tf.zeros([2, 64, 64, 3]), is_training=False)
    assert out.shape == (2, 10)
    assert large.conv1.conv.w.shape == (7, 7, 3, 96)
