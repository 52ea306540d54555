"""The released ImageNet network: Sonnet 2's own ``snt.nets.ResNet50``, unchanged.

Its attribute names (``_initial_conv``, ``_initial_batchnorm``, ``_block_groups/<g>/_blocks/<b>/...``,
``_logits``) are the checkpoint format of the ``imagenet-resnet50`` release, so the class is used
as is rather than re-implemented. ``model(images, is_training=False)`` takes float32
(batch, 224, 224, 3) images normalized per channel (see :mod:`.records`) and returns logits
(batch, num_classes).
"""

from __future__ import annotations

import sonnet as snt

NUM_CLASSES = 1000


def resnet50(num_classes: int = NUM_CLASSES) -> snt.nets.ResNet50:
    """ResNet-50 v1 with Sonnet's defaults (batch norm decay 0.9, eps 1e-5), as released."""
    return snt.nets.ResNet50(num_classes=num_classes)
