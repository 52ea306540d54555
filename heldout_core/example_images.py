"""Pictures of examples for figures: the arrays experiments hold, turned into displayable images.

An experiment may show its examples in ``heldout report``'s grids through
:meth:`heldout_core.experiment.Experiment.images`. Its inputs come in many shapes (flattened
8x8 digits, 28x28 MNIST, 32x32x3 CIFAR, a user's own arrays); :func:`as_images` turns the ones
that look like images into what the figures draw, and :func:`display_image` checks one image
an experiment returned. Numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import HeldoutError

CHANNELS = (1, 3, 4)


def _unit_range(x: np.ndarray) -> np.ndarray:
    """float32 in [0, 1]: uint8 / 255, booleans as 0/1, values already in [0, 1] as they are,
    anything else rescaled by its own minimum and maximum (over the whole batch, so that
    images keep their contrast relative to each other)."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if not x.size:
        return x
    low, high = float(np.nanmin(x)), float(np.nanmax(x))
    if low >= 0.0 and high <= 1.0:
        return x
    span = high - low
    return (x - low) / span if span > 0 else np.zeros_like(x)


def as_images(x) -> np.ndarray | None:
    """Images from a batch of example inputs, or None when they do not look like images.

    Args:
        x: (n, H, W) grey; (n, H, W, C) with C in 1, 3, 4 (channels last) or (n, C, H, W)
            (channels first, when the last axis is not a channel count); or (n, d) with d a
            perfect square (a flattened grey image, e.g. 64 -> 8x8, 784 -> 28x28).

    Returns:
        float32 (n, H, W) grey or (n, H, W, 3) RGB in [0, 1] (see :func:`_unit_range`), or
        None for any other shape (tabular features, say).
    """
    x = np.asarray(x)
    if x.ndim < 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        return None
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side < 2 or side * side != x.shape[1]:
            return None
        x = x.reshape(len(x), side, side)
    elif x.ndim == 4:
        if x.shape[-1] not in CHANNELS and x.shape[1] in CHANNELS:
            x = np.moveaxis(x, 1, -1)
        if x.shape[-1] not in CHANNELS:
            return None
        x = x[..., 0] if x.shape[-1] == 1 else x[..., :3]  # alpha is dropped
    elif x.ndim != 3:
        return None
    return _unit_range(x)


def display_image(image, what: str) -> np.ndarray:
    """One image an experiment returned, checked: float32 (H, W) or (H, W, 3) in [0, 1].

    Accepts uint8 or floats in [0, 1], grey (H, W), (H, W, 1) or colour (H, W, 3|4). Raises
    HeldoutError naming ``what`` for anything else.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in CHANNELS:
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr[..., :3]
    shaped = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)
    if not shaped or min(arr.shape[:2]) < 1 or not np.issubdtype(arr.dtype, np.number):
        raise HeldoutError(f"{what} must be an image of shape (H, W) or (H, W, 3), got {arr.dtype} {arr.shape}.")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        if not (np.isfinite(arr).all() and arr.min(initial=0) >= 0 and arr.max(initial=0) <= 1):
            raise HeldoutError(f"{what} must hold uint8 pixels or floats in [0, 1].")
    return _unit_range(arr)
