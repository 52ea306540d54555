"""End to end on tiny CIFAR-10 files: `heldout verify` on a run folder in the release layout, and the
cifar10-inception experiment's train / save / restore."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("sonnet")

from heldout_core import cli  # noqa: E402
from heldout_core.errors import HeldoutError  # noqa: E402
from heldout_core.aux_arrays import write_aux_arrays  # noqa: E402
from heldout_core.records import Run  # noqa: E402
from heldout_core.verify import verify_run  # noqa: E402
from heldout_zoo.cifar.experiment import Cifar10Inception  # noqa: E402

N_PER_BATCH, N_TEST = 4, 10


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("data") / "cifar-10-batches-bin"
    folder.mkdir()

    def write(name, n):
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        rows = [np.concatenate([[labels[i]], images[i].transpose(2, 0, 1).ravel()]) for i in range(n)]
        (folder / name).write_bytes(np.stack(rows).astype(np.uint8).tobytes())
        return images, labels

    train = [write(f"data_batch_{b}.bin", N_PER_BATCH) for b in range(1, 6)]
    test = write("test_batch.bin", N_TEST)
    return folder, (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])), test


def test_verify_reports_accuracy_and_matches_by_index(cifar_folder, tmp_path, monkeypatch, capsys):
    folder, (x_train, y_train), (x_test, y_test) = cifar_folder
    exp = Cifar10Inception()
    data = exp.load_data(folder)
    model = exp.build_model(data, seed=5)
    run_dir = tmp_path / "cifar10-inception" / "0.5" / "3"
    # the release saved with Checkpoint.save (adds save_counter) as checkpoints/ckpt-<N>
    tf.train.Checkpoint(model=model, epoch=tf.Variable(160, dtype=tf.int64),
                        global_step=tf.Variable(7, dtype=tf.int64)).save(str(run_dir / "checkpoints" / "ckpt"))
    # correctness computed directly from the model, independently of the evaluation pipeline
    predict = lambda x: model(tf.constant(x / 255.0, tf.float32), is_training=False).numpy().argmax(1)  # noqa: E731
    correct_train, correct_test = predict(x_train) == y_train, predict(x_test) == y_test
    released_test = correct_test.copy()
    released_test[[1, 4]] ^= True  # two disagreements
    mask = np.zeros(len(y_train), bool)
    mask[::2] = True
    write_aux_arrays(Run(mask, correct_train, released_test, 0.5, 3), run_dir)

    result = verify_run(run_dir, folder)
    assert (result.n, result.n_match) == (N_TEST, N_TEST - 2)
    assert result.accuracy == pytest.approx(correct_test.mean())
    assert result.released_accuracy == pytest.approx(released_test.mean())
    train = verify_run(run_dir, folder, split="train")
    assert (train.n, train.n_match) == (5 * N_PER_BATCH, 5 * N_PER_BATCH)

    assert cli.main(["verify", str(run_dir), "--data", str(folder)]) == 0
    assert f"{N_TEST - 2} of {N_TEST} predictions match" in capsys.readouterr().out
    assert cli.main(["verify", str(tmp_path), "--data", str(folder)]) == 2
    assert "has no aux_arrays.npz" in capsys.readouterr().err


def test_verify_refuses_data_of_another_size(cifar_folder, tmp_path):
    folder = cifar_folder[0]
    run_dir = tmp_path / "cifar10-inception" / "0.7" / "0"
    exp = Cifar10Inception()
    model = exp.build_model(exp.load_data(folder), seed=0)
    exp.save_checkpoint(model, run_dir / "checkpoints" / "ckpt-1", epoch=1)
    write_aux_arrays(Run(np.ones(7, bool), np.ones(7, bool), np.ones(3, bool), 0.7, 0), run_dir)
    with pytest.raises(HeldoutError, match="the data has 10 test examples but .* has 3"):
        verify_run(run_dir, folder)


def test_experiments_register_through_the_plugin_contract_without_importing_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from heldout_core.plugins import build_registry; "
            "r = build_registry(['heldout_zoo.cifar.experiment', 'heldout_zoo.imagenet.experiment'], entry_points=False); "
            "print(sorted(r.experiments), r.broken, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['cifar10-inception', 'cifar100-inception', 'imagenet-resnet50'] [] False"


@pytest.mark.slow
def test_train_save_restore_round_trip(cifar_folder, tmp_path):
    folder = cifar_folder[0]
    exp = Cifar10Inception(batch_size=4, eval_batch_size=8)
    data = exp.load_data(folder)
    model = exp.build_model(data, seed=1)
    before = [v.numpy().copy() for v in model.trainable_variables]
    np.testing.assert_array_equal(exp.build_model(data, seed=1).trainable_variables[0].numpy(), before[0])  # seeded init
    exp.train(model, data, np.arange(0, 16, 2), seed=0, epochs=1)
    assert model.trained_steps == 2  # 8 examples, batch 4
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
    assert int(model.conv1.bn.moving_mean._counter.numpy()) == 2
    correct_train, correct_test = exp.evaluate(model, data)
    assert correct_train.shape == (20,) and correct_test.shape == (10,)
    exp.save_checkpoint(model, tmp_path / "ckpt-1", epoch=1)
    restored = exp.restore_checkpoint(data, tmp_path / "ckpt-1")
    x = tf.random.uniform([3, 32, 32, 3], seed=2)
    np.testing.assert_allclose(restored(x, is_training=False).numpy(), model(x, is_training=False).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(exp.evaluate(restored, data)[1], correct_test)


def test_bfloat16_compute_keeps_float32_variables_and_restores(cifar_folder, tmp_path):
    from heldout_zoo.sonnet_training import bfloat16_compute

    folder = cifar_folder[0]
    exp = Cifar10Inception(batch_size=4, eval_batch_size=8, mixed_precision="on")
    data = exp.load_data(folder)
    model = exp.build_model(data, seed=1)
    exp.train(model, data, np.arange(8), seed=0, epochs=1)
    assert {v.dtype for v in model.variables} <= {tf.float32, tf.int64}  # the release's dtypes
    exp.save_checkpoint(model, tmp_path / "ckpt-1", epoch=1)
    restored = exp.restore_checkpoint(data, tmp_path / "ckpt-1")
    np.testing.assert_array_equal(exp.evaluate(restored, data)[1], exp.evaluate(model, data)[1])
    # the convolutions really run in bfloat16 inside the context
    with bfloat16_compute():
        model(tf.zeros([1, 32, 32, 3]), is_training=False)
        graph = tf.function(lambda x: model(x, is_training=False)).get_concrete_function(
            tf.TensorSpec([2, 32, 32, 3], tf.float32)).graph
    conv_types = {op.get_attr("T") for op in graph.get_operations() if op.type == "Conv2D"}
    assert conv_types == {tf.bfloat16}
