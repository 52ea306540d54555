"""End to end on a tiny ImageNet tree: build indexed records, then `heldout verify` a run folder."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("sonnet")

from heldout_core.io import write_aux_arrays  # noqa: E402
from heldout_core.records import Run  # noqa: E402
from heldout_core.release_commands import verify_run  # noqa: E402
from heldout_zoo.imagenet import records  # noqa: E402
from heldout_zoo.imagenet.builder import build_records  # noqa: E402
from heldout_zoo.imagenet.experiment import ImagenetResnet50  # noqa: E402


def test_verify_an_imagenet_run_on_built_records(tmp_path):
    rng = np.random.default_rng(0)
    root, data = tmp_path / "tree", tmp_path / "data"
    names = {"train": [], "test": []}
    for split, folder, count in (("train", "train", 4), ("test", "val", 3)):
        (root / folder / "n01440764").mkdir(parents=True)
        for n in range(count):
            name = f"n01440764_{n}.JPEG" if split == "train" else f"ILSVRC2012_val_{n + 1:08d}.JPEG"
            image = rng.integers(0, 256, size=(60 + 8 * n, 70, 3), dtype=np.uint8)
            (root / folder / "n01440764" / name).write_bytes(tf.io.encode_jpeg(image).numpy())
            names[split].append(name.encode())
    data.mkdir()
    np.savez(data / "imagenet_index.npz",
             tr_filenames=np.array(names["train"][::-1]), tr_labels=np.full(4, 3),
             tt_filenames=np.array(names["test"]), tt_labels=np.full(3, 3))
    build_records(root, data / "imagenet_index.npz", data, shards={"train": 2, "test": 1})

    exp = ImagenetResnet50(eval_batch_size=2)
    loaded = exp.load_data(data)
    assert (loaded.n_train, loaded.n_test) == (4, 3)
    model = exp.build_model(loaded, seed=0)
    for var in model.trainable_variables:  # zero-initialised logits would predict class 0 everywhere
        if "logits" in var.name:
            var.assign(tf.random.stateless_normal(var.shape, seed=[1, 2]) * 0.1)
    run_dir = tmp_path / "imagenet-resnet50" / "0.7" / "11"
    tf.train.Checkpoint(model=model, epoch=tf.Variable(90, dtype=tf.int64),
                        global_step=tf.Variable(1, dtype=tf.int64)).save(str(run_dir / "checkpoints" / "ckpt"))
    batch = next(iter(records.imagenet_dataset(loaded.test_files, 3, training=False)))
    predicted = model(batch["image"], is_training=False).numpy().argmax(1)
    correct = np.zeros(3, bool)
    correct[batch["index"].numpy()] = predicted == batch["label"].numpy()
    released = correct.copy()
    released[2] ^= True
    write_aux_arrays(Run(np.array([1, 0, 1, 1], bool), np.ones(4, bool), released, 0.7, 11), run_dir)

    result = verify_run(run_dir, data, split="test")
    assert (result.n, result.n_match) == (3, 2)
    assert result.accuracy == pytest.approx(correct.mean())
