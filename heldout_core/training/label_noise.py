"""Label noise on purpose: flip a fraction of the training labels, deterministically.

Flipped labels are the classic check that memorization finds what a model memorizes: an example
whose label was changed to another class can only be classified "correctly" (as its new label)
by a model that trained on it. The flipped ids and the clean labels are recorded beside the runs
in ``labels.npz`` (``noisy_idx``, ``clean_labels_train``).
"""

from __future__ import annotations

import math

import numpy as np


def flip_labels(labels: np.ndarray, fraction: float, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``round(fraction * n)`` labels by a different class, uniformly at random.

    The choice is a function of ``seed`` alone (a stream apart from every run's seeds).

    Returns:
        noisy labels int64 (n,), and the flipped ids int64 (ascending).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    count = math.floor(fraction * n + 0.5)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    flipped = np.sort(rng.choice(n, size=count, replace=False)).astype(np.int64)
    noisy = labels.copy()
    # adding 1..K-1 modulo K always lands on another class, each equally likely
    noisy[flipped] = (labels[flipped] + rng.integers(1, num_classes, size=count)) % num_classes
    return noisy, flipped


def noise_extras(clean: np.ndarray, flipped: np.ndarray) -> dict[str, np.ndarray]:
    """What ``labels.npz`` records of the noise: the flipped ids and the clean training labels."""
    return {"noisy_idx": np.asarray(flipped, dtype=np.int64), "clean_labels_train": np.asarray(clean, dtype=np.int64)}
