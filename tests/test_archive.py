"""heldout_core.archive and ``heldout import``: one pass, MD5, aux-only store, safe extraction."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from heldout_core import archive as archive_mod
from heldout_core import cli
from heldout_core.archive import check_member, import_archive
from heldout_core.errors import HeldoutError
from heldout_core.aux_arrays import aux_arrays_of
from heldout_core.loading import load_runs
from heldout_core.records import Run
from heldout_core.store import read_store


def bytes_npz(**arrays) -> bytes:
    """An uncompressed .npz archive in memory, as an archive member."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


N_TRAIN, N_TEST = 50, 12
RATIOS = {0.3: [0, 1, 2], 0.7: [0, 5, 7, 9]}


def _runs(seed: int = 0) -> dict[tuple[float, int], Run]:
    rng = np.random.default_rng(seed)
    runs = {}
    for ratio, ids in RATIOS.items():
        for run_id in ids:
            mask = rng.random(N_TRAIN) < ratio
            runs[ratio, run_id] = Run(mask, rng.random(N_TRAIN) < 0.8, rng.random(N_TEST) < 0.6, ratio, run_id)
    return runs


def _shuffled_aux(run: Run, rng) -> dict[str, np.ndarray]:
    """aux arrays with train/removed/test entries in a scrambled evaluation order, as the release allows."""
    arrays = aux_arrays_of(run)
    for split in ("train", "removed", "test"):
        order = rng.permutation(len(arrays[f"index_{split}"]))
        arrays[f"index_{split}"] = arrays[f"index_{split}"][order]
        arrays[f"correctness_{split}"] = arrays[f"correctness_{split}"][order]
    return arrays


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_release_archive(path: Path, runs: dict, experiment: str = "cifar10-inception", extra=None) -> Path:
    """A small archive in the release layout: aux_arrays.npz plus fake checkpoint files per run."""
    rng = np.random.default_rng(1)
    with tarfile.open(path, "w:gz") as tar:
        for (ratio, run_id), run in runs.items():
            base = f"{experiment}/{ratio:g}/{run_id}"
            _add(tar, f"{base}/aux_arrays.npz", bytes_npz(**_shuffled_aux(run, rng)))
            _add(tar, f"{base}/checkpoints/ckpt-160.index", b"fake index " + base.encode())
            _add(tar, f"{base}/checkpoints/ckpt-160.data-00000-of-00001", rng.bytes(4096))
        for member, data in (extra or []):
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return path


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def release(tmp_path):
    runs = _runs()
    path = make_release_archive(tmp_path / "cifar10-inception.tar.gz", runs)
    return path, runs


def test_aux_only_writes_one_store_per_ratio_with_the_archive_runs(release, tmp_path, monkeypatch):
    path, runs = release
    monkeypatch.setitem(archive_mod.KNOWN_MD5, path.name, md5_of(path))
    seen = []
    result = import_archive(path, tmp_path / "out", aux_only=True, progress=lambda *a: seen.append(a))
    assert result.md5 == md5_of(path) and result.md5_status == "verified"
    assert result.n_runs == len(runs) and result.n_members == 3 * len(runs)
    assert sorted(p.name for p in result.written) == ["cifar10-inception_0.3.runs.npz", "cifar10-inception_0.7.runs.npz"]
    assert not list((tmp_path / "out").glob("cifar10-inception/**/*"))  # no checkpoints unpacked
    for store in result.written:
        got = read_store(store)
        ratio = float(got.subset_ratio[0])
        assert got.experiment == "cifar10-inception"
        assert got.run_id.tolist() == RATIOS[ratio]
        for r, run_id in enumerate(RATIOS[ratio]):
            want, have = runs[ratio, run_id], got.run(r)
            np.testing.assert_array_equal(have.train_mask, want.train_mask)
            np.testing.assert_array_equal(have.correct_train, want.correct_train)
            np.testing.assert_array_equal(have.correct_test, want.correct_test)
    assert seen[-1][2] == len(runs) and seen[-1][1] == path.stat().st_size
    assert load_runs(tmp_path / "out", ratio=0.7).n_runs == 4


def test_packing_more_than_64_runs_matches_the_dense_reference(tmp_path):
    rng = np.random.default_rng(3)
    runs = {(0.5, i): Run(rng.random(N_TRAIN) < 0.5, rng.random(N_TRAIN) < 0.7, rng.random(N_TEST) < 0.5, 0.5, i)
            for i in range(70)}
    path = make_release_archive(tmp_path / "x.tar.gz", runs, experiment="toy")
    result = import_archive(path, tmp_path / "out", aux_only=True)
    assert result.md5_status == "unchecked"
    got = read_store(result.written[0])
    want = np.stack([runs[0.5, i].correct_train for i in range(70)])
    np.testing.assert_array_equal(got.unpack("correct_train"), want)
    np.testing.assert_array_equal(got.unpack("train_mask"), np.stack([runs[0.5, i].train_mask for i in range(70)]))


def test_full_import_extracts_the_release_layout(release, tmp_path):
    path, runs = release
    out = tmp_path / "out"
    result = import_archive(path, out, expected_md5=md5_of(path))
    assert result.md5_status == "verified" and result.n_runs == len(runs)
    assert (out / "cifar10-inception/0.7/9/checkpoints/ckpt-160.index").read_bytes() == b"fake index cifar10-inception/0.7/9"
    assert not list(out.glob(".heldout-import-*"))
    loaded = load_runs(out)
    assert loaded.n_runs == len(runs)
    np.testing.assert_array_equal(loaded.by_ratio(0.3).run(2).train_mask, runs[0.3, 2].train_mask)
    assert sorted(p.name for p in out.iterdir()) == ["cifar10-inception"]     # the staging folder's .lock stays out
    # importing again would replace the files: refused, naming one, and nothing is moved
    mine = out / "cifar10-inception" / "0.7" / "9" / "checkpoints" / "ckpt-160.index"
    mine.write_bytes(b"the user's own")
    with pytest.raises(HeldoutError, match=r"aux_arrays.npz already exists \(and \d+ more of the archive's files\); "
                                           r"pass --overwrite to replace them; nothing was moved"):
        import_archive(path, out, expected_md5=md5_of(path))
    assert mine.read_bytes() == b"the user's own" and not list(out.glob(".heldout-import-*"))
    # with overwrite it merges into the existing tree, replacing the archive's files
    (out / "cifar10-inception" / "notes.txt").write_text("kept")
    import_archive(path, out, expected_md5=md5_of(path), overwrite=True)
    assert load_runs(out).n_runs == len(runs) and mine.read_bytes() == b"fake index cifar10-inception/0.7/9"
    assert (out / "cifar10-inception" / "notes.txt").read_text() == "kept"


def test_an_aux_only_import_never_replaces_a_store_without_overwrite(release, tmp_path):
    path, runs = release
    out = tmp_path / "out"
    first = import_archive(path, out, aux_only=True, expected_md5=md5_of(path))
    before = {p.name: p.read_bytes() for p in first.written}
    with pytest.raises(HeldoutError, match=r"\.runs\.npz already exists; pass --overwrite to replace it; nothing was written"):
        import_archive(path, out, aux_only=True, expected_md5=md5_of(path))
    assert {p.name: p.read_bytes() for p in out.glob("*.runs.npz")} == before
    again = import_archive(path, out, aux_only=True, expected_md5=md5_of(path), overwrite=True)
    assert sorted(p.name for p in again.written) == sorted(before) and load_runs(out).n_runs == len(runs)


@pytest.mark.parametrize("aux_only", [True, False])
def test_md5_mismatch_is_an_error_and_leaves_nothing_behind(release, tmp_path, monkeypatch, aux_only):
    path, _ = release
    monkeypatch.setitem(archive_mod.KNOWN_MD5, path.name, "0" * 32)
    out = tmp_path / "out"
    with pytest.raises(HeldoutError, match=r"MD5 [0-9a-f]{32} but 0{32} was expected"):
        import_archive(path, out, aux_only=aux_only)
    assert not out.exists()  # not even the folder the failed import would have made


def test_the_published_sums_are_used_for_the_released_names(tmp_path):
    runs = {(0.7, 0): _runs()[0.7, 0]}
    path = make_release_archive(tmp_path / "imagenet-resnet50.tar.gz", runs)
    with pytest.raises(HeldoutError, match="64c39ef7702462b83959af9de622b4b8 was expected"):
        import_archive(path, tmp_path / "out", aux_only=True)
    assert import_archive(path, tmp_path / "out", aux_only=True, verify=False).md5_status == "skipped"


def _evil(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    data = b"pwned" if kind == tarfile.REGTYPE else None
    if data:
        info.size = len(data)
    return info, data


@pytest.mark.parametrize("member, message", [
    (_evil("/tmp/evil.txt"), "absolute path"),
    (_evil("cifar10-inception/../../evil.txt"), r"contains '\.\.'"),
    (_evil("cifar10-inception/link", tarfile.SYMTYPE, "../../outside"), "is a link .* archives with links are refused"),
    (_evil("cifar10-inception/abs", tarfile.SYMTYPE, "/etc/passwd"), r"is a link \(to '/etc/passwd'\)"),
    (_evil("cifar10-inception/hard", tarfile.LNKTYPE, "../x"), "archives with links are refused"),
    (_evil("cifar10-inception/dev", tarfile.CHRTYPE), "device or fifo"),
])
def test_malicious_members_are_refused(tmp_path, member, message):
    path = make_release_archive(tmp_path / "evil.tar.gz", {(0.7, 0): _runs()[0.7, 0]}, extra=[member])
    out = tmp_path / "sandbox" / "out"
    with pytest.raises(HeldoutError, match=message) as err:
        import_archive(path, out)
    assert "evil.tar.gz: member" in str(err.value)
    assert not out.exists()  # the good members extracted before it were removed too
    assert sorted(p.name for p in (tmp_path / "sandbox").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_even_links_that_stay_inside_are_refused():
    # A chain of harmless-looking links can lead a later member anywhere; the release has none.
    with pytest.raises(HeldoutError, match="archives with links are refused"):
        check_member(_evil("exp/0.7/1/latest", tarfile.SYMTYPE, "../0/aux_arrays.npz")[0], Path("a.tar.gz"))


def test_a_clash_with_the_output_folder_moves_nothing(tmp_path):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("exp/a", "exp/b"):
            info, data = _evil(name)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "out"
    (out / "exp" / "b").mkdir(parents=True)  # a folder where the archive has a file
    with pytest.raises(HeldoutError, match="is a folder but the archive has a file of that name; nothing was moved"):
        import_archive(archive, out, verify=False)
    assert sorted(p.name for p in (out / "exp").iterdir()) == ["b"]
    assert [p.name for p in out.iterdir()] == ["exp"]  # the staging folder is gone too


def test_aux_only_refuses_a_ratio_folder_that_is_no_ratio_before_writing(tmp_path):
    runs = {(0.5, 0): _runs()[0.3, 0]}
    path = make_release_archive(tmp_path / "x.tar.gz", runs)
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for m, data in members:
            tar.addfile(m, io.BytesIO(data))
            m.name = m.name.replace("/0.5/", "/7/")
            tar.addfile(m, io.BytesIO(data))
    with pytest.raises(HeldoutError, match="the ratio folder '7' is not a subset ratio"):
        import_archive(bad, tmp_path / "out", aux_only=True, verify=False)
    assert not (tmp_path / "out").exists()


def test_bad_aux_member_and_broken_archive_name_the_file(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        _add(tar, "exp/0.7/3/aux_arrays.npz", bytes_npz(subsample_idx=np.arange(3)))
    with pytest.raises(HeldoutError, match=r"bad.tar.gz:exp/0.7/3/aux_arrays.npz has no key 'correctness_train'"):
        import_archive(bad, tmp_path / "out", aux_only=True)
    truncated = tmp_path / "cut.tar.gz"
    data = make_release_archive(tmp_path / "whole.tar.gz", _runs()).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(HeldoutError, match="cut.tar.gz is not a readable tar.gz"):
        import_archive(truncated, tmp_path / "out2", aux_only=True)
    assert not (tmp_path / "out2").exists()


def test_cli_import_exit_codes_and_messages(release, tmp_path, monkeypatch, capsys):
    path, runs = release
    assert cli.main(["import", str(path), "--out", str(tmp_path / "a"), "--aux-only", "--md5", md5_of(path)]) == 0
    out = capsys.readouterr().out
    assert f"MD5 {md5_of(path)} (verified)" in out and f"{len(runs)} run records" in out
    assert cli.main(["import", str(path), "--out", str(tmp_path / "b"), "--aux-only"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("heldout: error: ")]
    assert len(errors) == 1 and "bc3b75203381709f8224810946be14b1 was expected" in errors[0]
    assert "heldout import: read" in err  # progress goes to stderr
    other = make_release_archive(tmp_path / "mine.tar.gz", runs)
    assert cli.main(["import", str(other), "--out", str(tmp_path / "c"), "--aux-only"]) == 0
    assert "cannot be checked" in capsys.readouterr().err
    assert cli.main(["import", str(other), "--out", str(tmp_path / "d"), "--md5", "xyz"]) == 2


def test_archive_module_does_not_import_tensorflow():
    code = "import sys, heldout_core.archive, heldout_core.cli.import_archive; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
