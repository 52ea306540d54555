"""Checkpoints in the release's format, for the Sonnet experiments (CIFAR Inception, ImageNet ResNet-50).

The release wrote ``tf.train.Checkpoint(model=..., epoch=..., global_step=...)`` around Sonnet 2
modules (DESIGN.md section 2); saving and restoring this way is what lets ``heldout verify`` read
the released checkpoints and ours alike. TensorFlow is imported only when a checkpoint is used.
"""

from __future__ import annotations

from pathlib import Path


class ReleaseCheckpoints:
    """Experiment mixin: ``save_checkpoint`` / ``restore_checkpoint`` in the release's format.

    The model is rebuilt with the experiment's own ``build_model(data, seed=0)`` and every one of
    its variables must be found in the checkpoint.
    """

    def save_checkpoint(self, model, prefix: Path, *, epoch: int) -> None:
        from .cifar.training import save_release_checkpoint

        save_release_checkpoint(model, prefix, epoch=epoch, global_step=getattr(model, "trained_steps", 0))

    def restore_checkpoint(self, data, prefix: Path):
        from .cifar.training import restore_release_checkpoint

        model = self.build_model(data, seed=0)
        restore_release_checkpoint(model, prefix)
        return model
