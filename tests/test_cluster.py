"""Training and estimating on a Dask cluster (the dask extra): local worker processes, a worker
killed in the middle of a job, a run that keeps failing, Ctrl-C, the batch script of SLURM, and
the one line a missing extra gives. No batch system is needed.

Training tests run the ``heldout`` command in subprocesses with a small numpy plugin installed
through a real entry point (a ``.dist-info`` on ``PYTHONPATH``), so the workers Dask starts find
the plugin exactly as installed plugins are found.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from heldout_core.cli import main
from heldout_core.training.subsets import run_seed

from conftest import random_records, requires_tf
from test_concurrency import env as slow_env  # noqa: F401  (a fixture: the slow plugin installed)
from test_concurrency import finish, records, wait_for

requires_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None
                                   or importlib.util.find_spec("dask_jobqueue") is None,
                                   reason="needs the dask extra (dask[distributed], dask-jobqueue)")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")

PLUGIN = textwrap.dedent('''
    import os
    import time
    from pathlib import Path
    import numpy as np
    from heldout_core import hookimpl
    from heldout_core.experiment import Option
    from slow_plugin import Slow

    class Patient(Slow):
        """test_concurrency's slow centroids, with a run that writes its checkpoint slowly (naming
        the process writing it) and a training seed that fails, for cluster tests."""
        name = "patient"
        options = {**Slow.options,
                   "slow_run": Option(-1, int, "run whose checkpoint write takes ckpt_delay", False),
                   "fail_seed": Option(-1, int, "training seed whose training raises", False)}

        def train(self, model, data, subset_idx, *, seed, epochs):
            if seed == self.config["fail_seed"]:
                raise RuntimeError("a planted failure")
            super().train(model, data, subset_idx, seed=seed, epochs=epochs)

        def save_checkpoint(self, model, prefix, *, epoch):
            if Path(prefix).parent.parent.name == str(self.config["slow_run"]):
                with open(f"{prefix}.npy", "wb") as handle:
                    handle.write(f"half {os.getpid()}\\n".encode())
                    handle.flush()
                    time.sleep(self.config["ckpt_delay"])
            np.save(f"{prefix}.npy", model["c"])

    @hookimpl
    def register_experiments(register):
        register(Patient)
''')


@pytest.fixture
def env(slow_env):
    """Environment of the subprocesses (and of the workers they start): the plugin installed
    beside test_concurrency's, whose experiment it extends."""
    site = Path(slow_env["PYTHONPATH"].split(os.pathsep)[0])
    dist = site / "patient_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: patient-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[heldout]\npatient = patient_plugin\n")
    (site / "patient_plugin.py").write_text(PLUGIN)
    return dict(slow_env, HELDOUT_PLUGINS="patient")


def heldout(env, *args):
    """The command in a subprocess of its own process group (as a terminal runs it, for Ctrl-C)."""
    return subprocess.Popen([sys.executable, "-m", "heldout_core.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.fixture
def single(tmp_path, env):
    """24 runs of the plugin trained in one process: what every cluster job must reproduce."""
    out = tmp_path / "single"
    code, _, err = finish(heldout(env, "train", "patient", "--out", str(out), "--runs", "24", "-q"))
    assert code == 0, err
    return records(out / "patient")


@requires_dask
def test_a_worker_killed_in_the_middle_of_a_job(tmp_path, env, single):
    out = tmp_path / "runs"
    job = heldout(env, "train", "patient", "--out", str(out), "--runs", "24", "--cluster", "local:2",
                  "-o", "delay=0.05", "-o", "slow_run=5", "-o", "ckpt_delay=2")
    run5 = out / "patient" / "0.7" / "5"

    writers = []

    def writer_of_run5():
        for part in run5.glob(".checkpoints-partial-*/ckpt-*.npy"):
            text = part.read_bytes()
            if text.startswith(b"half ") and text.endswith(b"\n"):
                writers.append(int(text.split()[1]))
        return bool(writers)

    assert wait_for(writer_of_run5), finish(job, 10)
    pid = writers[0]
    assert pid != job.pid
    os.kill(pid, signal.SIGKILL)  # the worker process dies holding run 5, its checkpoint half written
    assert not (run5 / "aux_arrays.npz").exists()
    code, out_text, err = finish(job)
    assert code == 0, err
    assert "24 trained" in out_text
    assert records(out / "patient") == single      # run 5 retrained from scratch elsewhere, identically
    assert not list(run5.glob(".checkpoints-partial-*"))
    code, text, _ = finish(heldout(env, "info", str(out / "patient")))
    assert code == 0 and "no problems found" in text and "24 runs" in text


@requires_dask
def test_a_run_that_keeps_failing_is_reported_and_the_others_finish(tmp_path, env, single):
    out = tmp_path / "runs"
    bad = run_seed(0, 0.7, 7)
    code, _, err = finish(heldout(env, "train", "patient", "--out", str(out), "--runs", "24", "--cluster", "local:2",
                                  "-q", "-o", f"fail_seed={bad}"))
    # the workers log the failure's traceback (Dask's own log lines); the command says it in one line
    assert code == 2 and "Traceback (most recent call last)" not in err
    line = [x for x in err.splitlines() if x.startswith("heldout: error:")]
    assert len(line) == 1 and "1 of 24 runs failed (0.7/7): RuntimeError: a planted failure" in line[0]
    found = records(out / "patient")
    assert sorted(found) == sorted(k for k in single if k != "0.7/7")
    assert all(found[k] == single[k] for k in found)
    # the same command, without the failure, trains the missing run
    assert finish(heldout(env, "train", "patient", "--out", str(out), "--runs", "24", "--cluster", "local:2", "-q"))[0] == 0
    assert records(out / "patient") == single


@requires_dask
def test_ctrl_c_cancels_the_tasks_and_leaves_only_finished_runs(tmp_path, env, single):
    out = tmp_path / "runs"
    job = heldout(env, "train", "patient", "--out", str(out), "--runs", "24", "--cluster", "local:2",
                  "-o", "delay=0.3", "-q")
    folder = out / "patient" / "0.7"
    assert wait_for(lambda: len(list(folder.glob("*/aux_arrays.npz"))) >= 2), finish(job, 10)
    os.killpg(job.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
    code, _, err = finish(job, 60)
    assert code == 130 and "heldout: interrupted" in err and "Traceback" not in err, err
    done = records(out / "patient")
    assert 2 <= len(done) < 24 and all(done[k] == single[k] for k in done)
    for aux in folder.glob("*/aux_arrays.npz"):
        assert (aux.parent / "run.json").is_file() and list((aux.parent / "checkpoints").iterdir())
    assert finish(heldout(env, "train", "patient", "--out", str(out), "--runs", "24", "-q"))[0] == 0
    assert records(out / "patient") == single


@requires_dask
def test_finished_runs_of_other_settings_stop_the_job_before_anything_is_submitted(tmp_path, env):
    out = tmp_path / "runs"
    assert finish(heldout(env, "train", "patient", "--out", str(out), "--runs", "2", "-q"))[0] == 0
    code, _, err = finish(heldout(env, "train", "patient", "--out", str(out), "--runs", "4", "--epochs", "3",
                                  "--cluster", "local:2", "-q"))
    assert code == 2 and "epochs=2" in err and "Traceback" not in err
    assert len(records(out / "patient")) == 2


@requires_dask
def test_a_worker_of_gpus_trains_one_task_per_gpu(tmp_path, env, single):
    # local:1 --gpus 2: the worker declares GPU=2 and each task asks for GPU=1 (no GPU needed to run)
    code, _, err = finish(heldout(env, "train", "patient", "--out", str(tmp_path / "runs"), "--runs", "24",
                                  "--cluster", "local:1", "--gpus", "2", "-q"))
    assert code == 0, err
    assert records(tmp_path / "runs" / "patient") == single


@requires_dask
def test_the_device_pool_hands_each_task_a_free_device():
    import threading

    from heldout_core.distributed import worker_state

    class TwoGPUs:
        def devices(self):
            return ["/GPU:0", "/GPU:1"]

    experiment, third = TwoGPUs(), []
    with worker_state.device(experiment) as a, worker_state.device(experiment) as b:
        assert {a, b} == {"/GPU:0", "/GPU:1"}

        def wait_for_one():
            with worker_state.device(experiment) as c:
                third.append(c)

        waiting = threading.Thread(target=wait_for_one)
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive() and not third  # a third task waits until a device is free
    waiting.join(5)
    assert third and third[0] in {"/GPU:0", "/GPU:1"}


@requires_dask
@requires_tf
@pytest.mark.slow
def test_digits_on_two_local_workers_writes_the_single_process_records(tmp_path):
    batches = ["-o", "runs_per_batch=6"]  # 4 batches, so that both workers train
    assert main(["train", "digits", "--out", str(tmp_path / "one"), "--runs", "24", "-q", *batches]) == 0
    assert main(["train", "digits", "--out", str(tmp_path / "two"), "--runs", "24", "-q", *batches,
                 "--cluster", "local:2"]) == 0
    one, two = records(tmp_path / "one" / "digits"), records(tmp_path / "two" / "digits")
    assert len(two) == 24 and two == one


# ---------------------------------------------------------------------------- estimation
@pytest.fixture(scope="module")
def release(tmp_path_factory):
    from heldout_core import RunSet, write_release_layout

    root = tmp_path_factory.mktemp("records")
    mask, correct, correct_test = random_records(3, 200, 300, 150)
    rng = np.random.default_rng(2)
    runs = RunSet.from_arrays(mask, correct, correct_test, subset_ratio=0.7, experiment="toy",
                              labels_train=rng.integers(0, 3, 300), labels_test=rng.integers(0, 3, 150))
    write_release_layout(runs, root / "release")
    np.savez(root / "labels.npz", tr_labels=runs.labels_train, tt_labels=runs.labels_test)
    return root, runs


@requires_dask
def test_estimate_on_two_local_workers_writes_the_same_files(release, tmp_path):
    root, _ = release
    argv = ["estimate", str(root / "release"), "--labels", str(root / "labels.npz"), "--full-influence", "--top-k", "7"]
    assert main([*argv, "--out", str(tmp_path / "one")]) == 0
    assert main([*argv, "--out", str(tmp_path / "two"), "--cluster", "local:2"]) == 0
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert "influence_full.ci_high.npy" in names and names == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in names:  # every file byte for byte (estimate.json holds no times, and the same records path)
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


@requires_dask
def test_the_python_api_with_a_notebook_client(release, tmp_path):
    from distributed import Client, LocalCluster

    from heldout_core import distributed, load_runs
    from heldout_core.estimators import influence_matrix, influence_pairs, influence_topk

    root, _ = release
    runs = load_runs(root / "release")
    options = dict(method="bootstrap", n_boot=200, seed=4)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        records = distributed.Records.at(root / "release")
        top = distributed.influence_topk(records, 5, client=client, blocks=7, **options)
        pairs = distributed.influence_pairs(root / "release", 0.1, client=client, **options)
        dense = distributed.influence_matrix(records, tmp_path / "infl.npy", client=client, blocks=3)
    for got, want in ((top, influence_topk(runs, 5, **options)), (pairs, influence_pairs(runs, 0.1, **options))):
        for name in ("estimate", "ci_low", "ci_high", "standard_error", "train_idx", "n_in", "correct_out"):
            assert np.array_equal(getattr(got, name), getattr(want, name), equal_nan=True), name
    want = influence_matrix(runs)
    for name in ("estimate", "ci_low", "ci_high"):
        assert np.array_equal(np.asarray(getattr(dense, name)), getattr(want, name), equal_nan=True)
    assert np.array_equal(np.load(tmp_path / "infl.ci_low.npy"), want.ci_low, equal_nan=True)
    assert not list(tmp_path.glob(".*.tmp"))


@requires_dask
def test_a_worker_with_other_records_stops_with_an_error(release, tmp_path):
    from heldout_core import HeldoutError
    from heldout_core.distributed import Records
    import dataclasses

    root, _ = release
    forged = dataclasses.replace(Records.at(root / "release"), fingerprint="0" * 32)
    with pytest.raises(HeldoutError, match="other records on this worker"):
        forged.load()


# ---------------------------------------------------------------------------- flags
@requires_dask
def test_print_job_script_for_slurm_shows_the_resources_without_a_batch_system(tmp_path, capsys):
    assert main(["train", "digits", "--out", str(tmp_path / "runs"), "--cluster", "slurm", "--jobs", "8",
                 "--cores", "8", "--memory", "32GB", "--gpus", "2", "--walltime", "04:00:00", "--queue", "gpu",
                 "--account", "lab", "--print-job-script"]) == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=30G",
                 "#SBATCH -t 04:00:00", "#SBATCH --gres=gpu:2", "--resources GPU=2", "--nthreads 8"):
        assert line in script, line
    assert not (tmp_path / "runs").exists()   # nothing was built, written or submitted
    assert main(["estimate", str(tmp_path), "--out", str(tmp_path / "s"), "--cluster", "pbs", "--cores", "4",
                 "--memory", "8GB", "--print-job-script"]) == 0
    assert "#PBS" in capsys.readouterr().out
    # Grid Engine: the site's parallel environment and memory resource, from dask-jobqueue's configuration
    import dask

    with dask.config.set({"jobqueue.sge.resource-spec": "h_vmem=8G", "jobqueue.sge.job-extra-directives": ["-pe smp 4"]}):
        assert main(["train", "digits", "--out", str(tmp_path / "runs"), "--cluster", "sge", "--cores", "4",
                     "--memory", "8GB", "--print-job-script"]) == 0
    script = capsys.readouterr().out
    assert "#$ -l h_vmem=8G" in script and "#$ -pe smp 4" in script and "--nthreads 4" in script


@pytest.mark.parametrize("flags, words", [
    (["--cluster", "local:2", "--scheduler", "tcp://x:1"], "give one of --cluster, --scheduler"),
    (["--cluster", "kubernetes"], "--cluster must be local:N"),
    (["--cluster", "local:0"], "at least one worker"),
    (["--cluster", "local:2", "--cores", "4"], "--cores sets a batch job's resources"),
    (["--cluster", "local:2", "--gpus", "1"], "needs N = 1"),
    (["--scheduler", "tcp://x:1", "--gpus", "1"], "declare their GPUs themselves"),
    (["--cluster", "slurm", "--jobs", "0"], "--jobs must be at least 1"),
    (["--cluster", "local:2", "--print-job-script"], "needs --cluster slurm|pbs|sge|lsf"),
    (["--scheduler-file", "/nonexistent/scheduler.json"], "no such file"),
    (["--print-job-script"], "the cluster flags (--print-job-script, --jobs, --cores, ...) need one of --cluster"),
    (["--scheduler", "notaurl"], "--scheduler notaurl is not a scheduler address this can connect to"),
    (["--scheduler", "foo://bar:1"], "unknown address scheme 'foo'"),
    (["--scheduler-file", "{tmp}/empty.json"], "empty.json is not a scheduler address this can connect to"),
    (["--cluster", "sge", "--cores", "4", "--memory", "8GB", "--print-job-script"],
     "set jobqueue.sge.resource-spec (e.g. 'h_vmem=8G') and job-extra-directives"),
])
@requires_dask
def test_wrong_cluster_flags_are_one_line(tmp_path, capsys, flags, words):
    (tmp_path / "empty.json").write_text("{}")
    flags = [flag.format(tmp=tmp_path) for flag in flags]
    assert main(["train", "digits", "--out", str(tmp_path / "runs"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("heldout: error:") and words in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["train", "estimate"])
@pytest.mark.parametrize("hidden", ["distributed", pytest.param("dask_jobqueue", marks=requires_dask)])
def test_a_missing_extra_is_one_line_naming_the_pip_install(tmp_path, capsys, monkeypatch, command, hidden):
    monkeypatch.setitem(sys.modules, hidden, None)  # as if not installed: importing it fails
    for name in [m for m in sys.modules if m.startswith("heldout_core.distributed")]:
        monkeypatch.delitem(sys.modules, name)
    target = ["digits"] if command == "train" else [str(tmp_path)]
    cluster = ["--cluster", "local:2"] if hidden == "distributed" else ["--cluster", "slurm", "--print-job-script"]
    assert main([command, *target, "--out", str(tmp_path / "out"), *cluster]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"({hidden} is not installed)" in err
    assert 'pip install "heldout-influence[dask]"' in err and not (tmp_path / "out").exists()
