"""Fit diagnostics from the records alone: did the models fit their training subsets?

Memorization and influence mean what the papers mean only in the regime they study, models that
fit their training subsets (near zero training error): a model that does not fit an example it
trained on cannot show memorizing it, so memorization and influence come out biased low. The
records say whether that regime holds, whatever their source (trained here, released, arrays):
per run, accuracy on its own subset, on the held-out part of the training set and on the test
set; per example, how often it was fitted when trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels, params
from .bitpack import all_runs_words
from .records import RunSet

DEFAULT_FIT_THRESHOLD = 0.99
HOW_TO_FIT = ("train longer (more --epochs), or, for the MLP experiments (digits, mnist, arrays), leave out --epochs "
              "so that each model trains until it fits its subset (options fit_target and max_epochs; see "
              "`heldout plugins -v`)")


@dataclass(frozen=True)
class FitDiagnostics:
    """How well the runs' models fit their training subsets.

    Attributes (R runs, n_train examples):
        train_accuracy: float64 (R,), each run's accuracy on the examples it trained on.
        heldout_accuracy: float64 (R,), on the training examples it held out (NaN if none).
        test_accuracy: float64 (R,), on the test set (NaN without test records).
        run_id, subset_ratio: (R,), which run each entry is.
        fit_rate: float64 (n_train,), the fraction of the runs that trained on an example and
            classify it correctly (NaN for an example never trained on).
        n_in: int64 (n_train,), the runs that trained on each example.
        threshold: the mean training accuracy below which the records are flagged.
    """

    train_accuracy: np.ndarray
    heldout_accuracy: np.ndarray
    test_accuracy: np.ndarray
    run_id: np.ndarray
    subset_ratio: np.ndarray
    fit_rate: np.ndarray
    n_in: np.ndarray
    threshold: float

    @property
    def mean_train_accuracy(self) -> float:
        """Mean over runs of the accuracy on the own subset (runs with an empty subset left out)."""
        return float(np.nanmean(self.train_accuracy))

    @property
    def lowest_train_accuracy(self) -> float:
        return float(np.nanmin(self.train_accuracy))

    @property
    def fits(self) -> bool:
        """Whether the mean training accuracy on the subsets reaches ``threshold``."""
        return self.mean_train_accuracy >= self.threshold

    def summary(self) -> str:
        """One line, e.g. ``models fit 99.96% of their training subsets (lowest run 97.6%); ...``."""
        with np.errstate(invalid="ignore"):
            heldout = np.nanmean(self.heldout_accuracy) if np.isfinite(self.heldout_accuracy).any() else np.nan
            test = np.nanmean(self.test_accuracy) if np.isfinite(self.test_accuracy).any() else np.nan
        parts = [f"models fit {self.mean_train_accuracy:.2%} of their training subsets "
                 f"(lowest run {self.lowest_train_accuracy:.1%})"]
        if np.isfinite(heldout):
            parts.append(f"held-out training accuracy {heldout:.2%}")
        if np.isfinite(test):
            parts.append(f"test accuracy {test:.2%}")
        return "; ".join(parts)

    def warning(self) -> str | None:
        """The warning to show when the models do not fit (None when they do)."""
        if self.fits:
            return None
        unfit = ""
        if len(self.fit_rate):
            count = int((self.fit_rate < 0.5).sum())
            unfit = f"; {count} training examples are fitted by fewer than half the runs that train on them"
        return (f"the models fit only {self.mean_train_accuracy:.2%} of their training subsets on average "
                f"(below {self.threshold:.0%}{unfit}), so memorization and influence are biased low and may not "
                f"separate memorized examples from the rest; to fix it, {HOW_TO_FIT}.")

    def as_dict(self) -> dict:
        """The summary numbers, for the outputs' metadata (``estimate.json``)."""
        return {"mean_train_accuracy": self.mean_train_accuracy, "lowest_train_accuracy": self.lowest_train_accuracy,
                "threshold": self.threshold, "fits": self.fits, "n_runs": int(len(self.train_accuracy))}


def fit_diagnostics(runs: RunSet, *, threshold: float = DEFAULT_FIT_THRESHOLD) -> FitDiagnostics:
    """Per-run and per-example fit of the models to their training subsets (see the module docstring).

    Args:
        runs: any runs (several ratios allowed).
        threshold: mean training accuracy on the subsets below which :meth:`FitDiagnostics.warning`
            warns (default 0.99).
    """
    from .estimators._common import check_runs

    runs = check_runs(runs, one_ratio=False)
    threshold = params.number(threshold, "fit_threshold", low=0.0, high=1.0)
    r = runs.n_runs
    n_in_run, correct_in_run, correct_out_run = (x[:r] for x in kernels.per_run_counts(runs.train_mask_bits,
                                                                                     runs.correct_train_bits))
    with np.errstate(invalid="ignore", divide="ignore"):
        train_accuracy = correct_in_run / n_in_run
        heldout_accuracy = correct_out_run / (runs.n_train - n_in_run)
        test_accuracy = (kernels.per_run_ones(runs.correct_test_bits)[:r] / runs.n_test if runs.n_test
                         else np.full(r, np.nan))
        n_in, correct_in, _, _ = kernels.holdout_counts(runs.train_mask_bits, runs.correct_train_bits,
                                                        all_runs_words(r))
        fit_rate = correct_in / n_in
    return FitDiagnostics(train_accuracy, heldout_accuracy, test_accuracy, runs.run_id.copy(),
                          runs.subset_ratio.copy(), fit_rate, n_in, threshold)
