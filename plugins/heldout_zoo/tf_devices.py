"""Accelerators: which GPUs TensorFlow sees, and running an experiment's runs on each of them.

TensorFlow is imported inside the functions, so experiments can use this without slowing down
``heldout plugins``.
"""

from __future__ import annotations

import contextlib


def gpu_devices() -> list[str]:
    """Names of the GPUs TensorFlow sees (``/device:GPU:0`` ...), or ``[""]`` for the default device."""
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices("GPU")] or [""]


def device_scope(device: str):
    """A context that places TensorFlow work on ``device`` ("" for the default placement)."""
    import tensorflow as tf

    return tf.device(device) if device else contextlib.nullcontext()


def wants_bfloat16(setting: str) -> bool:
    """The ``mixed_precision`` option (its values are checked by the option itself): ``auto``
    (bfloat16 compute when a GPU is visible), ``on`` or ``off``."""
    return setting == "on" or (setting == "auto" and gpu_devices() != [""])


class OneWorkerPerGPU:
    """Experiment mixin: the run driver starts one worker per visible GPU (one run, or one batch
    of runs, at a time on each); on a machine without GPUs, one worker on the default device."""

    def devices(self) -> list[str]:
        return gpu_devices()

    def device_scope(self, device: str):
        return device_scope(device)
