"""Random run records of any size for the benchmarks, built straight in bit-packed form.

Estimator times depend on the shapes (runs, n_train, n_test), not on the values, so random bits
serve: train masks with 3/4 of the bits set (a subset ratio of about 0.75), correctness with
1/2. No dense (R, n) matrix is built, so ImageNet-shaped records fit in memory.
"""

from __future__ import annotations

import numpy as np

from heldout_core import RunSet
from heldout_core.bitpack import n_words


def random_words(rng, n, n_runs, p_one):
    """(n, W) uint64 bit matrix with bits set with probability p_one (0.25, 0.5 or 0.75)."""
    w = n_words(n_runs)
    bits = rng.integers(0, 2**63, (n, w), dtype=np.int64).astype(np.uint64) * np.uint64(2) | rng.integers(0, 2, (n, w)).astype(np.uint64)
    if p_one != 0.5:
        other = rng.integers(0, 2**63, (n, w), dtype=np.int64).astype(np.uint64) * np.uint64(2)
        bits = bits | other if p_one == 0.75 else bits & other
    if n_runs % 64:
        bits[:, -1] &= np.uint64((1 << (n_runs % 64)) - 1)
    return bits


def packed_runs(rng, n_runs, n_train, n_test, *, n_classes=None, experiment=None):
    """A RunSet of random records at subset ratio 0.7, with random labels when ``n_classes``."""
    labels = {}
    if n_classes:
        labels = dict(labels_train=rng.integers(0, n_classes, n_train), labels_test=rng.integers(0, n_classes, n_test))
    return RunSet(
        train_mask_bits=random_words(rng, n_train, n_runs, 0.75),
        correct_train_bits=random_words(rng, n_train, n_runs, 0.5),
        correct_test_bits=random_words(rng, n_test, n_runs, 0.5) if n_test else None,
        subset_ratio=np.full(n_runs, 0.7), run_id=np.arange(n_runs), seed=np.full(n_runs, -1),
        experiment=experiment, **labels)
