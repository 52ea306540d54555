"""Run planning: predictions from a pilot checked by simulating the predicted number of runs."""

import numpy as np
import pytest

from heldout_core import HeldoutError, RunSet
from heldout_core.estimators import consistency, influence_topk, memorization
from heldout_core.planning import bound_squared_error, plan_runs, runs_from_bound

from test_coverage import simulate


def truth(n=2000, seed=4):
    rng = np.random.default_rng(seed)
    # like real records: most examples almost always right, some memorized, some hard
    p_out = np.concatenate([rng.uniform(0.9, 1.0, n // 2), rng.uniform(0.1, 0.9, n // 2)])
    p_in = np.clip(p_out + rng.choice([0.0, 0.05, 0.5], n, p=[0.6, 0.3, 0.1]), 0, 1)
    return p_in, p_out


def runs_of(n_runs, seed, ratio=0.7, n_test=0):
    p_in, p_out = truth()
    mask, correct = simulate(p_in, p_out, n_runs, ratio, seed=seed)
    test = None
    if n_test:
        rng = np.random.default_rng(seed + 100)
        # test example j is right more often when training example j % 50 was in (some influence)
        test = rng.random((n_runs, n_test)) < np.where(mask[:, np.arange(n_test) % 50], 0.8, 0.6)
    return RunSet.from_arrays(mask, correct, test, subset_ratio=ratio)


@pytest.mark.parametrize("target, quantile", [(0.12, 0.5), (0.08, 0.5), (0.15, 0.9)])
def test_memorization_plan_from_a_pilot_reaches_the_width_when_simulated(target, quantile):
    pilot = runs_of(200, seed=1)
    plan = plan_runs(pilot, width=target, quantile=quantile)
    assert plan.runs_have == 200 and plan.more_runs == max(0, plan.runs_needed - 200)
    achieved = runs_of(plan.runs_needed, seed=2)
    mem = memorization(achieved)
    width = np.nanquantile(mem.ci_high - mem.ci_low, quantile)
    assert width == pytest.approx(target, rel=0.15), (plan.runs_needed, width)
    # and the pilot's own width is what the plan reports as now
    pilot_mem = memorization(pilot)
    assert plan.width_now == pytest.approx(np.nanquantile(pilot_mem.ci_high - pilot_mem.ci_low, quantile))


def test_influence_and_cscore_plans_reach_their_widths():
    pilot = runs_of(150, seed=3, n_test=30)
    plan = plan_runs(pilot, width=0.15, statistic="influence")
    achieved = runs_of(plan.runs_needed, seed=4, n_test=30)
    top = influence_topk(achieved, 200)
    # the plan is for all pairs; the median pair is an ordinary one, as most of the top 200 of 2000 are
    from heldout_core.estimators import influence_matrix

    dense = influence_matrix(achieved)
    width = np.nanmedian(dense.ci_high - dense.ci_low)
    assert width == pytest.approx(0.15, rel=0.15)
    assert top.train_idx.shape == (30, 200)
    two = RunSet.concat([runs_of(100, seed=5, ratio=0.5), runs_of(100, seed=6, ratio=0.9)])
    plan = plan_runs(two, width=0.1, statistic="cscore")
    assert plan.ratios == (0.5, 0.9) and plan.runs_have == 100
    again = RunSet.concat([runs_of(plan.runs_needed, seed=7, ratio=0.5), runs_of(plan.runs_needed, seed=8, ratio=0.9)])
    cs = consistency(again)
    assert np.nanmedian(cs.ci_high - cs.ci_low) == pytest.approx(0.1, rel=0.15)


def test_without_records_the_bound_decides():
    plan = plan_runs(None, width=0.1, ratio=0.7)
    assert plan.runs_needed == runs_from_bound(0.1, 0.7, 0.95) and plan.runs_have is None
    t = plan.runs_needed
    z = 1.959963984540054
    assert 2 * z * np.sqrt(bound_squared_error(t, 0.7)) <= 0.1 < 2 * z * np.sqrt(bound_squared_error(t - 1, 0.7))
    assert "Feldman & Zhang's bound" in " ".join(plan.reasoning)
    # the bound is conservative: pilots of real-looking records ask for far fewer runs
    assert plan_runs(runs_of(200, seed=1), width=0.1).runs_needed < t


@pytest.mark.parametrize("kwargs, message", [
    (dict(width=0), r"width must be a finite number in \(0, 2\]"),
    (dict(width=0.1, quantile=1), r"quantile must be a finite number in \(0, 1\)"),
    (dict(width=0.1, statistic="auc"), "statistic must be one of memorization, influence, cscore"),
    (dict(width=0.1), r"without pilot records the subset ratio is needed \(ratio\)"),
])
def test_bad_plans_name_the_parameter(kwargs, message):
    with pytest.raises(HeldoutError, match=message):
        plan_runs(None, **kwargs)


def test_widths_out_of_reach_and_pilots_without_estimates_are_refused_not_capped():
    with pytest.raises(HeldoutError, match=r"width 1e-06 is not reached within 10,000,000 runs by Feldman & Zhang's bound"):
        plan_runs(None, width=1e-6, ratio=0.5)
    with pytest.raises(HeldoutError, match=r"width 1e-09 is not reached within 10,000,000 runs: the median width would "
                                           r"still be"):
        plan_runs(runs_of(50, seed=1), width=1e-9)
    always_in = RunSet.from_arrays(np.ones((3, 4), bool), np.ones((3, 4), bool), subset_ratio=0.75)
    with pytest.raises(HeldoutError, match="no example of the pilot records has a defined memorization"):
        plan_runs(always_in, width=0.2)


def test_plan_command_prints_the_reasoning_and_the_runs_still_needed(tmp_path, capsys):
    from heldout_core import write_store
    from heldout_core.cli import main

    write_store(runs_of(200, seed=1), tmp_path / "pilot")
    assert main(["plan", str(tmp_path / "pilot"), "--width", "0.08"]) == 0
    out = capsys.readouterr().out
    needed = plan_runs(runs_of(200, seed=1), width=0.08).runs_needed
    assert f"runs needed: {needed};" in out and f"has 200, so {needed - 200} more" in out and "pilot: 200 runs" in out
    assert main(["plan", "--width", "0.1"]) == 2
    assert "heldout: error: without pilot records the subset ratio is needed (--ratio)." in capsys.readouterr().err


def test_train_until_width_trains_in_rounds_until_the_width(tmp_path, capsys, monkeypatch):
    import types

    from heldout_core import hookimpl, load_runs, plugins
    from heldout_core.cli import main

    from test_training_driver import Centroids

    module = types.ModuleType("centroid_plugin")
    module.register_experiments = hookimpl(lambda register: register(Centroids))
    monkeypatch.setattr(plugins, "_registry", plugins.build_registry([], entry_points=False, plugins=[(module, "c")]))
    assert main(["train", "centroids", "--out", str(tmp_path), "--until-width", "0.1", "--runs", "2000", "-q"]) == 0
    out = capsys.readouterr().out
    rounds = [line for line in out.splitlines() if line.startswith("round: ")]
    assert len(rounds) >= 2 and rounds[0].startswith("round: 100 runs")
    final = float(rounds[-1].split("memorization ")[1].split(" ")[0])
    assert final <= 0.1 and rounds[-1].endswith("(target 0.1, reached)")
    assert not any("reached" in line for line in rounds[:-1])
    runs = load_runs(tmp_path / "centroids")
    mem = __import__("heldout_core.estimators", fromlist=["memorization"]).memorization(runs)
    assert np.nanmedian(mem.ci_high - mem.ci_low) == pytest.approx(final, abs=5e-5)
    assert runs.n_runs < 2000    # it stopped at the width, not at the ceiling
