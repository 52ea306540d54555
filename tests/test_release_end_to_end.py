"""`heldout train` then `heldout verify` for each released experiment, on tiny files in the exact
CIFAR binary and ImageNet TFRecord formats, one tiny epoch on CPU: every prediction must match."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("sonnet")

from heldout_core.cli import main  # noqa: E402
from heldout_core.aux_arrays import read_aux_arrays  # noqa: E402
from tiny_imagenet import build_tiny_imagenet  # noqa: E402

pytestmark = pytest.mark.slow


def _cifar10(folder, rng):
    folder.mkdir()
    for name, n in [(f"data_batch_{b}.bin", 4) for b in range(1, 6)] + [("test_batch.bin", 8)]:
        images = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.integers(0, 10, (n, 1), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels, images], axis=1).tobytes())


def _cifar100(folder, rng):
    folder.mkdir()
    for name, n in (("train.bin", 20), ("test.bin", 8)):
        images = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
        coarse = rng.integers(0, 20, (n, 1), dtype=np.uint8)
        fine = rng.integers(0, 100, (n, 1), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([coarse, fine, images], axis=1).tobytes())


@pytest.mark.parametrize("experiment, make, options", [
    ("cifar10-inception", _cifar10, ["-o", "batch_size=8", "-o", "eval_batch_size=16"]),
    ("cifar100-inception", _cifar100, ["-o", "batch_size=8", "-o", "eval_batch_size=16"]),
    ("imagenet-resnet50", None, ["-o", "batch_size=2", "-o", "eval_batch_size=4"]),
])
def test_train_then_verify_matches_every_prediction(tmp_path, capsys, experiment, make, options):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    if make is None:
        data = build_tiny_imagenet(tmp_path)
    else:
        make(data, rng)
    out = tmp_path / "runs"
    assert main(["train", experiment, "--data", str(data), "--out", str(out), "--runs", "1", "--epochs", "1",
                 "-q", *options]) == 0
    run = out / experiment / "0.7" / "0"
    assert sorted(p.name for p in run.iterdir()) == ["aux_arrays.npz", "checkpoints", "run.json"]
    records = read_aux_arrays(run / "aux_arrays.npz")
    for split, n in (("test", len(records.correct_test)), ("train", len(records.correct_train))):
        assert main(["verify", str(run), "--data", str(data), "--split", split]) == 0
        assert f"{n} of {n} predictions match" in capsys.readouterr().out
