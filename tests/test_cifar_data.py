"""CIFAR readers (binary files, tar.gz, TFDS absent) and the tf.data pipeline, on tiny files in the
exact distribution formats."""

from __future__ import annotations

import sys
import tarfile

import numpy as np
import pytest

from heldout_core.errors import HeldoutError
from heldout_zoo.cifar.data import CifarArrays, cifar_dataset, load_cifar

from conftest import requires_tf

PER_BATCH, N_TEST = 3, 4


def _images(rng, n):
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _records(images, labels):
    """CIFAR-10 binary records: 1 label byte, then 3072 pixel bytes, channel-major (R plane, G, B)."""
    rows = [np.concatenate([[labels[i]], images[i].transpose(2, 0, 1).reshape(-1)]) for i in range(len(images))]
    return np.stack(rows).astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def cifar10_files(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("c10")
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    train_images, train_labels = _images(rng, 5 * PER_BATCH), rng.integers(0, 10, 5 * PER_BATCH)
    for b in range(5):
        part = slice(b * PER_BATCH, (b + 1) * PER_BATCH)
        (folder / f"data_batch_{b + 1}.bin").write_bytes(_records(train_images[part], train_labels[part]))
    test_images, test_labels = _images(rng, N_TEST), rng.integers(0, 10, N_TEST)
    (folder / "test_batch.bin").write_bytes(_records(test_images, test_labels))
    (folder / "batches.meta.txt").write_text("airplane\n")
    archive = root / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-bin")
    return root, archive, (train_images, train_labels), (test_images, test_labels)


@pytest.fixture(scope="module")
def cifar100_files(tmp_path_factory):
    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("c100")
    folder = root / "cifar-100-binary"
    folder.mkdir()
    data = {}
    for split, n in (("train", 6), ("test", 3)):
        images, coarse, fine = _images(rng, n), rng.integers(0, 20, n), rng.integers(0, 100, n)
        rows = [np.concatenate([[coarse[i], fine[i]], images[i].transpose(2, 0, 1).reshape(-1)]) for i in range(n)]
        (folder / f"{split}.bin").write_bytes(np.stack(rows).astype(np.uint8).tobytes())
        data[split] = images, coarse, fine
    archive = root / "cifar-100-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-binary")
    return root, archive, data


def test_cifar10_folder_and_archive_give_the_files_in_original_order(cifar10_files):
    root, archive, (images, labels), (test_images, test_labels) = cifar10_files
    for source in (root, root / "cifar-10-batches-bin", archive):
        train = load_cifar("cifar10", source, "train")
        np.testing.assert_array_equal(train.images, images)  # CHW bytes -> HWC images
        np.testing.assert_array_equal(train.labels, labels)
        np.testing.assert_array_equal(train.ids, np.arange(5 * PER_BATCH))
        assert train.order == "original" and train.coarse_labels is None
        test = load_cifar("cifar10", source, "test")
        np.testing.assert_array_equal(test.images, test_images)
        np.testing.assert_array_equal(test.labels, test_labels)


def test_cifar100_has_fine_and_coarse_labels(cifar100_files):
    root, archive, data = cifar100_files
    for source in (root, archive):
        for split in ("train", "test"):
            got = load_cifar("cifar100", source, split)
            images, coarse, fine = data[split]
            np.testing.assert_array_equal(got.images, images)
            np.testing.assert_array_equal(got.labels, fine)
            np.testing.assert_array_equal(got.coarse_labels, coarse)


def test_reader_errors_name_the_file(cifar10_files, tmp_path):
    root, archive, _, _ = cifar10_files
    with pytest.raises(HeldoutError, match="cifar-100-binary.tar.gz"):
        load_cifar("cifar100", archive, "train")  # wrong archive: names the member it lacks
    broken = tmp_path / "cifar-10-batches-bin"
    broken.mkdir()
    (broken / "test_batch.bin").write_bytes(b"\x00" * 3074)
    with pytest.raises(HeldoutError, match=r"test_batch.bin has 3074 bytes, not a whole number of 3073-byte"):
        load_cifar("cifar10", tmp_path, "test")
    with pytest.raises(HeldoutError, match=r"data_batch_1.bin does not exist"):
        load_cifar("cifar10", tmp_path, "train")
    with pytest.raises(HeldoutError, match="unknown split 'val'"):
        load_cifar("cifar10", root, "val")
    with pytest.raises(HeldoutError, match="unknown CIFAR variant"):
        load_cifar("cifar20", root, "train")


def test_tfds_source_without_tensorflow_datasets_is_a_clear_error(monkeypatch, cifar10_files):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails as if absent
    with pytest.raises(HeldoutError, match="needs the tensorflow_datasets package"):
        load_cifar("cifar10", "tfds", "train")


def test_subset_takes_examples_by_id(cifar10_files):
    train = load_cifar("cifar10", cifar10_files[0], "train")
    part = train.subset([7, 2, 11])
    np.testing.assert_array_equal(part.ids, [7, 2, 11])
    np.testing.assert_array_equal(part.images[1], train.images[2])
    with pytest.raises(HeldoutError, match="not in this split"):
        train.subset([15])


def test_experiment_pictures_are_the_images_of_the_ids(cifar10_files):
    from heldout_zoo.cifar.experiment import Cifar10Inception

    root, _, (images, _), (test_images, _) = cifar10_files
    np.testing.assert_array_equal(Cifar10Inception().images(root, "train", np.array([7, 2])), images[[7, 2]])
    np.testing.assert_array_equal(Cifar10Inception().images(root, "test", np.array([3])), test_images[[3]])
    with pytest.raises(HeldoutError, match="needs --data for its images"):
        Cifar10Inception().images(None, "train", np.array([0]))


# ----------------------------------------------------------------------------- tf.data


def _collect(dataset):
    batches = list(dataset.as_numpy_iterator())
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}, [len(b["label"]) for b in batches]


@requires_tf
def test_eval_pipeline_keeps_order_and_scales_by_255(cifar10_files):
    train = load_cifar("cifar10", cifar10_files[0], "train")
    got, sizes = _collect(cifar_dataset(train, 4, training=False))
    assert sizes == [4, 4, 4, 3]
    np.testing.assert_array_equal(got["index"], train.ids)
    np.testing.assert_array_equal(got["label"], train.labels)
    np.testing.assert_allclose(got["image"], train.images / 255.0, rtol=0, atol=1e-7)
    assert got["image"].dtype == np.float32


def _is_padded_crop(image, original, pad=4):
    padded = np.pad(original, [(pad, pad), (pad, pad), (0, 0)])
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[dy:dy + 32, dx:dx + 32]
            if np.array_equal(image, crop) or np.array_equal(image, crop[:, ::-1]):
                return True
    return False


@requires_tf
def test_training_pipeline_shuffles_crops_flips_reproducibly(cifar10_files):
    train = load_cifar("cifar10", cifar10_files[0], "train")
    a, _ = _collect(cifar_dataset(train, 5, training=True, seed=3))
    b, _ = _collect(cifar_dataset(train, 5, training=True, seed=3))
    c, _ = _collect(cifar_dataset(train, 5, training=True, seed=4))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])  # same seed, same batches
    assert sorted(a["index"].tolist()) == list(range(len(train)))  # every example once per epoch
    assert not np.array_equal(a["index"], train.ids) or not np.array_equal(a["index"], c["index"])
    assert not np.array_equal(a["image"], c["image"])
    originals = train.images / np.float32(255.0)
    for image, idx in zip(a["image"], a["index"]):
        assert _is_padded_crop(image, originals[idx].astype(np.float32))
    moved = [not np.array_equal(img, originals[i].astype(np.float32)) for img, i in zip(a["image"], a["index"])]
    assert sum(moved) >= len(moved) // 2  # augmentation actually changes most images
    np.testing.assert_array_equal(a["label"], train.labels[a["index"]])


def test_arrays_dataclass_round_trip():
    arrays = CifarArrays(np.zeros((2, 32, 32, 3), np.uint8), np.array([1, 2]), np.array([5, 9]))
    assert len(arrays) == 2 and arrays.subset([9]).labels.tolist() == [2]


def test_cifar_experiment_relabels_by_example_id(cifar10_files):
    from heldout_zoo.cifar.experiment import Cifar10Inception

    exp = Cifar10Inception()
    data = exp.load_data(cifar10_files[0])
    labels = (data.labels_train + 1) % 10
    noisy = exp.relabel(data, labels)
    np.testing.assert_array_equal(noisy.labels_train, labels)
    np.testing.assert_array_equal(noisy.test.labels, data.test.labels)        # test labels untouched
    part = noisy.train.subset([3, 0])
    np.testing.assert_array_equal(part.labels, labels[[3, 0]])
