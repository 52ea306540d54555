"""Fit diagnostics against dense numpy references, and the warning on under-fitting records."""

import numpy as np
import pytest

from heldout_core import RunSet, kernels
from heldout_core.bitpack import pack_runs
from heldout_core.diagnostics import fit_diagnostics

from conftest import random_records


@pytest.mark.parametrize("n_runs, n_train, n_test", [(1, 3, 2), (63, 10, 0), (64, 7, 5), (65, 40, 9), (200, 33, 17)])
def test_per_run_kernels_match_dense_sums(n_runs, n_train, n_test):
    mask, correct, test = random_records(n_runs, n_runs, n_train, max(n_test, 1))
    n_in, correct_in, correct_out = kernels.per_run_counts(pack_runs(mask), pack_runs(correct))
    np.testing.assert_array_equal(n_in[:n_runs], mask.sum(1))
    np.testing.assert_array_equal(correct_in[:n_runs], (mask & correct).sum(1))
    np.testing.assert_array_equal(correct_out[:n_runs], (~mask & correct).sum(1))
    assert not n_in[n_runs:].any() and not correct_out[n_runs:].any()   # padding runs count nothing
    np.testing.assert_array_equal(kernels.per_run_ones(pack_runs(test))[:n_runs], test.sum(1))


def test_diagnostics_match_the_definitions():
    mask, correct, test = random_records(3, 130, 50, 20, p_in=0.97, p_out=0.6, p_test=0.7)
    mask[:, 0] = False   # never trained on: no fit rate
    runs = RunSet.from_arrays(mask, correct, test, subset_ratio=0.7, run_id=np.arange(130) + 5)
    fit = fit_diagnostics(runs)
    np.testing.assert_allclose(fit.train_accuracy, (mask & correct).sum(1) / mask.sum(1))
    np.testing.assert_allclose(fit.heldout_accuracy, (~mask & correct).sum(1) / (~mask).sum(1))
    np.testing.assert_allclose(fit.test_accuracy, test.mean(1))
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(fit.fit_rate, (mask & correct).sum(0) / mask.sum(0))
    assert np.isnan(fit.fit_rate[0]) and fit.n_in[0] == 0
    np.testing.assert_array_equal(fit.run_id, np.arange(130) + 5)
    assert fit.mean_train_accuracy == pytest.approx(np.mean((mask & correct).sum(1) / mask.sum(1)))


def test_underfitting_records_warn_and_fitting_ones_do_not():
    mask, correct, _ = random_records(4, 100, 60, 1, p_in=0.9, p_out=0.5)
    under = fit_diagnostics(RunSet.from_arrays(mask, correct, subset_ratio=0.7))
    assert not under.fits and under.mean_train_accuracy == pytest.approx(0.9, abs=0.02)
    warning = under.warning()
    assert "biased low" in warning and "--epochs" in warning and "fit_target" in warning
    fitting = correct | mask   # every model right on every example it trained on
    good = fit_diagnostics(RunSet.from_arrays(mask, fitting, subset_ratio=0.7))
    assert good.fits and good.warning() is None and good.mean_train_accuracy == 1.0
    assert good.summary().startswith("models fit 100.00% of their training subsets (lowest run 100.0%)")
    # the threshold is the caller's to set
    assert fit_diagnostics(RunSet.from_arrays(mask, correct, subset_ratio=0.7), threshold=0.8).fits


def _estimate(tmp_path, name, mask, correct, capsys):
    import json

    from heldout_core import write_store
    from heldout_core.cli import main

    rng = np.random.default_rng(9)
    runs = RunSet.from_arrays(mask, correct, rng.random((len(mask), 7)) < 0.6, subset_ratio=0.7, experiment=name)
    write_store(runs, tmp_path / name)
    assert main(["estimate", str(tmp_path / name), "--out", str(tmp_path / f"{name}-out")]) == 0
    captured = capsys.readouterr()
    meta = json.loads((tmp_path / f"{name}-out" / "estimate.json").read_text())
    with np.load(tmp_path / f"{name}-out" / "fit_diagnostics.npz") as f:
        stored = f["warnings"].tolist()
    return captured, meta, stored


def test_estimate_warns_on_underfitting_records_and_not_on_fitting_ones(tmp_path, capsys):
    mask, correct, _ = random_records(5, 120, 80, 1, p_in=0.93, p_out=0.5)
    captured, meta, stored = _estimate(tmp_path, "under", mask, correct, capsys)
    warnings = [line for line in captured.err.splitlines() if line.startswith("heldout: warning: ")]
    assert len(warnings) == 1 and "the models fit only 93" in warnings[0] and "biased low" in warnings[0]
    assert "models fit 93" in captured.out
    assert meta["fit"]["fits"] is False and meta["warnings"] == [warnings[0].removeprefix("heldout: warning: ")]
    assert stored == meta["warnings"]
    captured, meta, stored = _estimate(tmp_path, "fitting", mask, correct | mask, capsys)
    assert "heldout: warning" not in captured.err and "models fit 100.00% of their training subsets" in captured.out
    assert meta["fit"]["fits"] is True and meta["warnings"] == [] and stored == []
    assert meta["reliability"]["n_runs"] == [60, 60]
