"""SmallInception: the Inception-style network the released CIFAR runs were trained with.

The attribute names below are part of the checkpoint format: ``tf.train.Checkpoint`` matches
variables by the path of attribute names from the checkpoint root, e.g.
``model/stage2/_body/3/conv3x3/bn/moving_mean/average``. Renaming an attribute, or changing the
order of ``_body``, breaks loading the released checkpoints.

Shapes: images are float32 (batch, height, width, 3) with pixels in [0, 1] (uint8 / 255, as in
the release); the output is float32 logits (batch, num_classes).
"""

from __future__ import annotations

from typing import Sequence

import sonnet as snt
import tensorflow as tf

# (1x1 channels, 3x3 channels) of each multi-branch block, and the channels of the stride-2
# convolution that ends the stage (0: the stage does not downsample).
STAGE1_BLOCKS = ((32, 32), (32, 48))
STAGE1_DOWNSAMPLE = 160
STAGE2_BLOCKS = ((112, 48), (96, 64), (80, 80), (48, 96))
STAGE2_DOWNSAMPLE = 240
STAGE3_BLOCKS = ((176, 160), (176, 160))
STAGE3_DOWNSAMPLE = 0
STEM_CHANNELS = 96


class ConvBNReLU(snt.Module):
    """Convolution (no bias, SAME padding) -> batch norm (scale and offset) -> ReLU.

    Attributes ``conv`` (``snt.Conv2D``) and ``bn`` (``snt.BatchNorm``, Sonnet's default decay
    0.999 and eps 1e-5, as in the release).
    """

    def __init__(self, output_channels: int, kernel_shape, stride=1, name: str | None = None):
        super().__init__(name=name)
        self.conv = snt.Conv2D(output_channels, kernel_shape, stride=stride, padding="SAME",
                               with_bias=False, name="conv")
        self.bn = snt.BatchNorm(create_scale=True, create_offset=True, name="bn")

    def __call__(self, inputs: tf.Tensor, is_training: bool) -> tf.Tensor:
        return tf.nn.relu(self.bn(self.conv(inputs), is_training=is_training))


class MultiBranchBlock(snt.Module):
    """A 1x1 and a 3x3 ConvBNReLU side by side, concatenated on channels (1x1 first)."""

    def __init__(self, channels_1x1: int, channels_3x3: int, name: str | None = None):
        super().__init__(name=name)
        self.conv1x1 = ConvBNReLU(channels_1x1, 1, name="conv1x1")
        self.conv3x3 = ConvBNReLU(channels_3x3, 3, name="conv3x3")

    def __call__(self, inputs: tf.Tensor, is_training: bool) -> tf.Tensor:
        return tf.concat([self.conv1x1(inputs, is_training), self.conv3x3(inputs, is_training)], axis=-1)


class InceptionStage(snt.Module):
    """Multi-branch blocks in sequence (``_body``), then an optional stride-2 ``_downsample``."""

    def __init__(self, block_channels: Sequence[tuple[int, int]], downsample_channels: int,
                 name: str | None = None):
        super().__init__(name=name)
        self._body = [MultiBranchBlock(c1, c3, name=f"block{i + 1}") for i, (c1, c3) in enumerate(block_channels)]
        self._downsample = (ConvBNReLU(downsample_channels, 3, stride=2, name="downsample")
                            if downsample_channels > 0 else None)

    def __call__(self, inputs: tf.Tensor, is_training: bool) -> tf.Tensor:
        x = inputs
        for block in self._body:
            x = block(x, is_training)
        if self._downsample is not None:
            x = self._downsample(x, is_training)
        return x


class SmallInception(snt.Module):
    """The released CIFAR network; ``model(images, is_training=False)`` returns logits.

    Args:
        num_classes: 10 for CIFAR-10, 100 for CIFAR-100.
        large_inputs: start with a 7x7 stride-2 convolution and 3x3 stride-2 max pooling (for
            inputs larger than 32x32) instead of a 3x3 stride-1 convolution.
    """

    def __init__(self, num_classes: int = 10, large_inputs: bool = False, name: str | None = None):
        super().__init__(name=name)
        self.num_classes = num_classes
        self._large_inputs = large_inputs
        self.conv1 = ConvBNReLU(STEM_CHANNELS, 7 if large_inputs else 3, stride=2 if large_inputs else 1, name="conv1")
        self.stage1 = InceptionStage(STAGE1_BLOCKS, STAGE1_DOWNSAMPLE, name="stage1")
        self.stage2 = InceptionStage(STAGE2_BLOCKS, STAGE2_DOWNSAMPLE, name="stage2")
        self.stage3 = InceptionStage(STAGE3_BLOCKS, STAGE3_DOWNSAMPLE, name="stage3")
        self._pred = snt.Linear(num_classes, name="pred")

    def features(self, images: tf.Tensor, is_training: bool) -> tf.Tensor:
        """The representation before the classifier: (batch, 336) after global max pooling."""
        x = self.conv1(images, is_training)
        if self._large_inputs:
            x = tf.nn.max_pool2d(x, ksize=3, strides=2, padding="SAME")
        x = self.stage3(self.stage2(self.stage1(x, is_training), is_training), is_training)
        return tf.reduce_max(x, axis=[1, 2])

    def __call__(self, images: tf.Tensor, is_training: bool) -> tf.Tensor:
        return self._pred(self.features(images, is_training))
