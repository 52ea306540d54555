"""End to end on a tiny ImageNet tree: build indexed records, then `heldout verify` a run folder."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("sonnet")

from heldout_core.aux_arrays import write_aux_arrays  # noqa: E402
from heldout_core.records import Run  # noqa: E402
from heldout_core.verify import verify_run  # noqa: E402
from heldout_zoo.imagenet import records  # noqa: E402
from heldout_zoo.imagenet.experiment import ImagenetResnet50  # noqa: E402
from tiny_imagenet import build_tiny_imagenet  # noqa: E402


def test_verify_an_imagenet_run_on_built_records(tmp_path):
    data = build_tiny_imagenet(tmp_path, label=3, train_shards=2, reverse_train_index=True)

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
