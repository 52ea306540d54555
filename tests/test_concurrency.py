"""Real processes: jobs killed with SIGKILL, jobs started together on one folder, and what they leave.

Each test runs the ``heldout`` command line in subprocesses with a small numpy plugin installed
through a real entry point (a ``.dist-info`` on ``PYTHONPATH``), so locks, renames and kills are
the operating system's, not simulated.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from heldout_core.cli import main
from heldout_core.leftovers import clean, find_leftovers
from heldout_core import locks

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals and flock")

PLUGIN = textwrap.dedent('''
    import time
    import numpy as np
    from heldout_core import hookimpl
    from heldout_core.experiment import ArrayData, Experiment, Option

    class Slow(Experiment):
        """Nearest centroids that take their time, so a job can be caught in the middle."""
        name = "slow"
        num_classes = 3
        default_epochs = 2
        options = {"delay": Option(0.0, float, "seconds of training per run", False, minimum=0.0),
                   "ckpt_delay": Option(0.0, float, "seconds inside each checkpoint write", False, minimum=0.0)}

        def load_data(self, data_path):
            rng = np.random.default_rng(0)
            y = np.arange(90) % 3
            x = rng.normal(size=(90, 2)) + 1.5 * np.stack([y, y % 2], 1)
            return ArrayData(x[:60], y[:60], x[60:], y[60:])

        def build_model(self, data, seed):
            return {"c": np.zeros((3, 2))}

        def train(self, model, data, subset_idx, *, seed, epochs):
            time.sleep(self.config["delay"])
            x, y = data.x_train[subset_idx], data.y_train[subset_idx]
            model["c"] = np.stack([x[y == k].mean(0) for k in range(3)]) * (1 + 0.01 * epochs)

        def evaluate(self, model, data):
            pred = lambda x: ((x[:, None] - model["c"]) ** 2).sum(-1).argmin(1)
            return pred(data.x_train) == data.y_train, pred(data.x_test) == data.y_test

        def save_checkpoint(self, model, prefix, *, epoch):
            with open(f"{prefix}.npy", "wb") as handle:
                handle.write(b"half")
                handle.flush()
                time.sleep(self.config["ckpt_delay"])
            np.save(f"{prefix}.npy", model["c"])

        def restore_checkpoint(self, data, prefix):
            return {"c": np.load(f"{prefix}.npy")}

    @hookimpl
    def register_experiments(register):
        register(Slow)
''')


@pytest.fixture
def env(tmp_path):
    """Environment of the subprocesses: the slow plugin installed through an entry point."""
    site = tmp_path / "site"
    dist = site / "slow_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: slow-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[heldout]\nslow = slow_plugin\n")
    (site / "slow_plugin.py").write_text(PLUGIN)
    environ = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
                   HELDOUT_PLUGINS="slow")
    return environ


def heldout(env, *args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "heldout_core.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for(condition, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def records(folder: Path) -> dict:
    found = {}
    for path in sorted(folder.glob("*/*/aux_arrays.npz")):
        with np.load(path) as f:
            found[path.parent.relative_to(folder).as_posix()] = {k: f[k].tolist() for k in f.files}
    return found


def test_two_jobs_with_different_settings_started_together(tmp_path, env):
    out = tmp_path / "runs"
    jobs = [heldout(env, "train", "slow", "--out", str(out), "--runs", "8", "--epochs", str(e), "-o", "delay=0.2", "-q")
            for e in (2, 3)]
    results = [finish(job) for job in jobs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert "heldout: error:" in loser and "epochs=" in loser and "Traceback" not in loser
    epochs = {json.loads(p.read_text())["epochs"] for p in (out / "slow").glob("0.7/*/run.json")}
    assert len(epochs) == 1 and len(list((out / "slow").glob("0.7/*/aux_arrays.npz"))) == 8
    code, text, _ = finish(heldout(env, "info", str(out / "slow")))
    assert code == 0 and "no problems found" in text


def test_two_jobs_with_the_same_settings_share_the_work(tmp_path, env):
    out = tmp_path / "runs"
    jobs = [heldout(env, "train", "slow", "--out", str(out), "--runs", "10", "-o", "delay=0.3", "-q") for _ in range(2)]
    results = [finish(job) for job in jobs]
    assert [code for code, _, _ in results] == [0, 0], results
    trained = [int(text.split("0.7: ")[1].split(" trained")[0]) for _, text, _ in results]
    assert sum(trained) == 10 and min(trained) > 0, trained   # each run trained once, by one of them
    single = tmp_path / "single"
    assert finish(heldout(env, "train", "slow", "--out", str(single), "--runs", "10", "-q"))[0] == 0
    assert records(out / "slow") == records(single / "slow")


def test_mixed_settings_are_reported_by_info(tmp_path, env):
    out = tmp_path / "runs"
    assert finish(heldout(env, "train", "slow", "--out", str(out), "--runs", "3", "-q"))[0] == 0
    run_json = out / "slow" / "0.7" / "2" / "run.json"
    info = json.loads(run_json.read_text())
    info["epochs"] = 7      # as if copied in from a folder trained otherwise
    run_json.write_text(json.dumps(info))
    code, text, _ = finish(heldout(env, "info", str(out / "slow")))
    assert code == 1 and "was trained with epochs=7, but its folder's settings.json records 2" in text


def test_a_killed_job_leaves_nothing_counted_and_resumes_to_identical_records(tmp_path, env):
    out = tmp_path / "runs"
    job = heldout(env, "train", "slow", "--out", str(out), "--runs", "6", "-o", "ckpt_delay=3", "-q")
    folder = out / "slow" / "0.7"
    assert wait_for(lambda: list(folder.glob("*/.checkpoints-partial-*/ckpt-2.npy"))), finish(job, 5)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert not list(folder.glob("*/aux_arrays.npz"))     # the run being written is not finished
    # leftovers of atomic writes, as a kill in the middle of one leaves them
    (folder / "1").mkdir(exist_ok=True)
    (folder / "1" / ".aux_arrays.npz.heldout-abc123xy.tmp").write_bytes(b"half")
    stale = out / "slow" / ".labels.npz.heldout-def456xy.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 600, time.time() - 600))
    code, text, _ = finish(heldout(env, "info", str(out / "slow")))
    assert code == 1 and "leftover(s) of interrupted jobs" in text and f"heldout clean {out / 'slow'}" in text
    assert "run folder(s) without aux_arrays.npz" in text
    code, _, err = finish(heldout(env, "train", "slow", "--out", str(out), "--runs", "6", "-q"))
    assert code == 0, err
    assert find_leftovers(out) == []
    clean_run = tmp_path / "clean"
    assert finish(heldout(env, "train", "slow", "--out", str(clean_run), "--runs", "6", "-q"))[0] == 0
    assert records(out / "slow") == records(clean_run / "slow")
    assert finish(heldout(env, "info", str(out / "slow")))[0] == 0


class _Zeros:
    """A file object of ``size`` zero bytes, read in chunks (a large archive member costs no memory)."""

    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def test_a_killed_import_leaves_a_staging_folder_that_the_next_import_removes(tmp_path, env):
    from test_archive import _runs, _shuffled_aux, bytes_npz

    archive = tmp_path / "rel.tar.gz"
    big = 1 << 27  # a checkpoint of zeros: small on disk, a second or more to read through
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        run = _runs()[0.7, 0]
        data = bytes_npz(**_shuffled_aux(run, np.random.default_rng(0)))
        info = tarfile.TarInfo("exp/0.7/0/aux_arrays.npz")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("exp/0.7/0/checkpoints/ckpt-1.data-00000-of-00001")
        info.size = big
        tar.addfile(info, _Zeros(big))
    out = tmp_path / "out"
    job = heldout(env, "import", str(archive), "--out", str(out), "--no-verify", "--aux-only")
    assert wait_for(lambda: out.is_dir() and list(out.glob(".heldout-import-*")))
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert list(out.glob(".heldout-import-*")) and not list(out.glob("*.runs.npz"))
    code, text, _ = finish(heldout(env, "info", str(out)))
    assert code == 1 and "staging folder" in text and f"heldout clean {out}" in text
    code, _, err = finish(heldout(env, "import", str(archive), "--out", str(out), "--no-verify", "--aux-only"))
    assert code == 0, err
    assert not list(out.glob(".heldout-import-*")) and len(list(out.glob("*.runs.npz"))) == 1


def test_clean_removes_only_what_no_running_job_holds(tmp_path, capsys):
    root = tmp_path / "runs" / "exp"
    run = root / "0.7" / "0"
    run.mkdir(parents=True)
    (run / "aux_arrays.npz").write_bytes(b"a record")          # never touched
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "ckpt-1.npy").write_bytes(b"a checkpoint")
    partial = run / f".checkpoints-partial-{'a' * 32}"
    partial.mkdir()
    stale_tmp = run / ".run.json.heldout-x1234567.tmp"
    stale_tmp.write_bytes(b"")
    young_tmp = root / ".labels.npz.heldout-y1234567.tmp"   # could be a job writing labels.npz right now
    young_tmp.write_bytes(b"")
    stale_stage = tmp_path / "runs" / ".heldout-estimate-old12345"
    stale_stage.mkdir()
    (stale_stage / locks.LOCK_FILE).write_bytes(b"")
    busy = root / "0.7" / "1"
    busy.mkdir()
    (busy / f".checkpoints-partial-{'b' * 32}").mkdir()
    # the user's own files, named like ours but not made by this project: never touched
    mine = [root / ".draft.tmp", root / ".notes.heldout-1.tmp", tmp_path / "runs" / ".heldout-mystuff" / "f",
            tmp_path / "runs" / ".venv" / "lib" / ".cache.heldout-abcdefgh.tmp", run / ".checkpoints-partial-mine" / "f"]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"mine")
    for path in [stale_tmp, *mine]:
        os.utime(path, (time.time() - 600, time.time() - 600))
    fd = locks.try_lock(busy / locks.LOCK_FILE)   # a job is writing run 1 now
    try:
        assert main(["clean", str(tmp_path / "runs"), "--dry-run"]) == 0
        assert partial.exists()
        assert "would remove 3 leftover(s)" in capsys.readouterr().out
        removed = clean(tmp_path / "runs")
    finally:
        locks.unlock(fd)
    assert {item.path for item in removed} == {partial, stale_tmp, stale_stage}
    assert (busy / f".checkpoints-partial-{'b' * 32}").exists() and young_tmp.exists()
    assert all(path.read_bytes() == b"mine" for path in mine)
    assert (run / "aux_arrays.npz").read_bytes() == b"a record"
    assert (run / "checkpoints" / "ckpt-1.npy").exists()


def test_a_tar_of_links_is_refused_before_writing(tmp_path):
    """A smoke test of the refusal path in a real process, with the archive on disk."""
    archive = tmp_path / "x.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("exp/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc"
        tar.addfile(info)
    proc = subprocess.run([sys.executable, "-m", "heldout_core.cli", "import", str(archive), "--out",
                           str(tmp_path / "o"), "--no-verify"], capture_output=True, text=True)
    assert proc.returncode == 2 and "links are refused" in proc.stderr and not (tmp_path / "o").exists()
