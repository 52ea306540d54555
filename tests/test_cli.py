import csv

import numpy as np
import pytest

from heldout_core import write_store
from heldout_core.cli import main
from heldout_core.estimators import influence, memorization


def test_info_lists_runs_and_problems(release, capsys):
    assert main(["info", str(release / "release")]) == 0
    out = capsys.readouterr().out
    assert "toy  ratio 0.7  150 runs (ids 0-149)  n_train 40, n_test 25" in out and "no problems found" in out
    bad = release / "release" / "toy" / "0.7" / "3" / "aux_arrays.npz"
    with np.load(bad) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["index_test"][0] = arrays["index_test"][1]
    np.savez(bad, **arrays)
    assert main(["info", str(release / "release")]) == 1
    out = capsys.readouterr().out
    assert "1 problem(s):" in out and "3/aux_arrays.npz: index_test" in out


def test_estimate_writes_every_file_matching_the_library(release, small_runs, capsys):
    out = release / "out"
    code = main(["estimate", str(release / "release"), "--out", str(out), "--labels", str(release / "labels.npz"),
                 "--top-k", "4", "--infl-threshold", "0.05", "--mem-threshold", "0.3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "high-influence pairs" in printed
    mem = memorization(small_runs)
    with np.load(out / "memorization.npz") as data:
        assert {"estimate", "ci_low", "ci_high", "n_in", "n_out"} <= set(data.files)
        np.testing.assert_array_equal(data["estimate"], mem.estimate)
        np.testing.assert_array_equal(data["ci_high"], mem.ci_high)
    top = influence(small_runs, top_k=4)
    with np.load(out / "influence_topk.npz") as data:
        assert data["train_idx"].shape == (25, 4)
        np.testing.assert_array_equal(data["train_idx"], top.train_idx)
        np.testing.assert_array_equal(data["ci_low"], top.ci_low)
    with np.load(out / "cscore.npz") as data:
        assert {"estimate", "ci_low", "ci_high", "ratios", "per_ratio"} <= set(data.files)
        assert data["per_ratio"].shape == (40, 1)
    with np.load(out / "high_infl_pairs.npz") as data:
        assert {"tr_idx", "tt_idx", "infl", "mem"} <= set(data.files)
        assert (data["infl"] >= 0.05).all() and (data["mem"] >= 0.3).all()
        assert (small_runs.labels_train[data["tr_idx"]] == small_runs.labels_test[data["tt_idx"]]).all()
    with open(out / "memorization.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40 and float(rows[7]["memorization"]) == pytest.approx(mem.estimate[7], rel=1e-5)


def test_estimate_from_store_with_full_influence(tmp_path, small_runs):
    write_store(small_runs, tmp_path / "store")
    assert main(["estimate", str(tmp_path / "store"), "--out", str(tmp_path / "o"), "--full-influence",
                 "--method", "bca", "--n-boot", "200"]) == 0
    full = np.load(tmp_path / "o" / "influence_full.npy")
    assert full.shape == (25, 40) and full.dtype == np.float32
    np.testing.assert_array_equal(full, influence(small_runs, full=True).estimate)
    assert (tmp_path / "o" / "high_infl_pairs.npz").exists()  # the store carries the labels, no --labels needed


def test_estimate_full_influence_with_and_without_intervals(tmp_path, small_runs):
    write_store(small_runs, tmp_path / "store")
    assert main(["estimate", str(tmp_path / "store"), "--out", str(tmp_path / "o"), "--full-influence"]) == 0
    lib = influence(small_runs, full=True)
    for suffix, values in (("", lib.estimate), (".ci_low", lib.ci_low), (".ci_high", lib.ci_high)):
        np.testing.assert_array_equal(np.load(tmp_path / "o" / f"influence_full{suffix}.npy"), values)
    assert main(["estimate", str(tmp_path / "store"), "--out", str(tmp_path / "e"), "--full-influence",
                 "--no-intervals"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "e" / "influence_full.npy"), lib.estimate)
    assert not list((tmp_path / "e").glob("influence_full.ci_*"))


@pytest.mark.parametrize("argv, message", [
    (["estimate", "{p}/missing", "--out", "{p}/o"], "missing does not exist."),
    (["estimate", "{p}/release", "--out", "{p}/o", "--no-intervals"], "--no-intervals applies to the dense matrix only"),
    (["estimate", "{p}/release", "--out", "{p}/o", "--confidence", "2"], "--confidence must be a finite number in (0, 1), got 2"),
    (["estimate", "{p}/release", "--out", "{p}/o", "--top-k", "0"], "--top-k must be at least 1"),
    (["estimate", "{p}/release", "--out", "{p}/o", "--ratio", "0.5"], "no runs at subset ratio 0.5"),
    (["estimate", "{p}/release", "--out", "{p}/o", "--labels", "{p}/labels_bad.npz"], "labels_bad.npz has no labels"),
    (["estimate", "{p}/release", "--out", "{p}/labels.npz"], "exists and is not a folder"),
])
def test_errors_are_one_line_and_exit_2(release, capsys, argv, message):
    np.savez(release / "labels_bad.npz", other=np.zeros(3))
    assert main([a.format(p=release) for a in argv]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("heldout: error: ")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
    assert not (release / "o" / "memorization.npz").exists()


def test_existing_results_are_not_overwritten_without_flag(release, capsys):
    out = release / "out"
    assert main(["estimate", str(release / "release"), "--out", str(out)]) == 0
    (out / "memorization.csv").write_text("my notes")
    assert main(["estimate", str(release / "release"), "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (out / "memorization.csv").read_text() == "my notes"
    assert main(["estimate", str(release / "release"), "--out", str(out), "--overwrite"]) == 0
    assert (out / "memorization.csv").read_text().startswith("index,memorization")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_info_reports_run_folders_without_records(release, capsys):
    (release / "release" / "toy" / "0.7" / "150" / "checkpoints").mkdir(parents=True)
    assert main(["info", str(release / "release")]) == 1
    assert "1 run folder(s) without aux_arrays.npz" in capsys.readouterr().out


def test_overwrite_removes_stale_results_and_cscores_have_released_keys(release, small_runs):
    out = release / "out"
    assert main(["estimate", str(release / "release"), "--out", str(out), "--labels", str(release / "labels.npz")]) == 0
    assert (out / "high_infl_pairs.npz").exists()
    with np.load(out / "cscore.npz") as data:
        np.testing.assert_array_equal(data["scores"], data["estimate"])
        np.testing.assert_array_equal(data["labels"], small_runs.labels_train)
    assert main(["estimate", str(release / "release"), "--out", str(out), "--overwrite"]) == 0
    assert not (out / "high_infl_pairs.npz").exists()  # no labels this time: the old pairs are gone


def test_a_failed_overwrite_keeps_the_old_results(release, capsys, monkeypatch):
    from heldout_core import reliability

    out = release / "out"
    assert main(["estimate", str(release / "release"), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail(*args, **kwargs):          # the last step before publishing
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reliability, "split_half_reliability", fail)
    assert main(["estimate", str(release / "release"), "--out", str(out), "--overwrite", "--seed", "5"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # a folder where a result would go is named before anything runs
    (out / "influence_full.npy").mkdir()
    assert main(["estimate", str(release / "release"), "--out", str(out), "--overwrite"]) == 2
    assert f"--out {out / 'influence_full.npy'} exists and is not a file" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_results_another_job_published_meanwhile_are_not_replaced(release, capsys, monkeypatch):
    from heldout_core import reliability

    out = release / "out"
    real = reliability.split_half_reliability

    def another_job_finishes_first(*args, **kwargs):
        (out / "cscore.npz").write_bytes(b"the other job's")
        return real(*args, **kwargs)

    monkeypatch.setattr(reliability, "split_half_reliability", another_job_finishes_first)
    assert main(["estimate", str(release / "release"), "--out", str(out)]) == 2
    assert f"--out {out} got cscore.npz from another job while this one ran; nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["cscore.npz"] and (out / "cscore.npz").read_bytes() == b"the other job's"


def test_bad_seed_is_refused(small_runs):
    from heldout_core import HeldoutError

    with pytest.raises(HeldoutError, match=r"seed must be at most 9223372036854775807, got 9223372036854775808"):
        memorization(small_runs, method="bootstrap", seed=2**63)


def test_os_errors_are_one_line_too(tmp_path, capsys, example_plugin):
    (tmp_path / "file").write_text("x")
    assert main(["train", "example-blobs", "--out", str(tmp_path / "file"), "--runs", "1"]) == 2
    err = capsys.readouterr().err
    assert "heldout: error: Not a directory" in err and "Traceback" not in err
