"""Mean of a per-example statistic in each class, with a confidence interval.

The interval is Student's t over the class's examples: mean +- t(level, m - 1) * sd / sqrt(m),
with m the examples of the class whose estimate is defined. Each estimate is the example's true
value plus its own run-sampling noise, so the spread between estimates holds both the spread
of the true values and that noise: the interval is for the mean true value over examples like
these, and it widens when either is large.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..errors import HeldoutError


@dataclass(frozen=True)
class ClassMeans:
    """Per-class means of one statistic.

    Attributes (K classes that have at least one defined estimate, ascending):
        classes: int64 (K,), the class labels.
        mean, ci_low, ci_high: float64 (K,); the interval is NaN for a class with one example.
        count: int64 (K,), defined estimates in each class.
        confidence: two-sided level of the intervals.
    """

    classes: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    count: np.ndarray
    confidence: float


def class_means(estimate, labels, *, confidence: float = 0.95) -> ClassMeans:
    """Mean of ``estimate`` (n,) within each class of ``labels`` (n,), NaN estimates left out."""
    estimate = np.asarray(estimate, dtype=np.float64)
    labels = np.asarray(labels)
    if labels.shape != estimate.shape:
        raise HeldoutError(f"labels have shape {labels.shape} but the estimates {estimate.shape}; they must match.")
    keep = np.isfinite(estimate)
    classes, inverse = np.unique(labels[keep], return_inverse=True)
    values = estimate[keep]
    count = np.bincount(inverse, minlength=len(classes)).astype(np.int64)
    mean = np.bincount(inverse, weights=values, minlength=len(classes)) / np.maximum(count, 1)
    squares = np.bincount(inverse, weights=(values - mean[inverse]) ** 2, minlength=len(classes))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(squares / (count - 1))
        half = stats.t.ppf(0.5 + confidence / 2, np.maximum(count - 1, 1)) * sd / np.sqrt(count)
    half = np.where(count > 1, half, np.nan)
    return ClassMeans(classes.astype(np.int64), mean, mean - half, mean + half, count, confidence)
