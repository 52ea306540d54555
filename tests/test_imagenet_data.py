"""ImageNet: the index file, the TFRecord builder on a tiny JPEG tree, reading and preprocessing."""

from __future__ import annotations


import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from heldout_core.errors import HeldoutError  # noqa: E402
from heldout_zoo.imagenet import records  # noqa: E402
from heldout_zoo.imagenet.builder import build_records, jpeg_header, scan_split  # noqa: E402
from heldout_zoo.imagenet.index_file import read_index  # noqa: E402

WNIDS = {"n01440764": 5, "n09999999": 999}  # class folders and the classes the index gives them


def _jpeg(rng, height, width, smooth=False):
    if smooth:
        y, x = np.mgrid[0:height, 0:width]
        image = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                          np.full_like(x, 128)], -1).astype(np.uint8)
    else:
        image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return tf.io.encode_jpeg(image, quality=95).numpy()


@pytest.fixture
def tree(tmp_path):
    """ROOT/train/<wnid>/<wnid>_<n>.JPEG (3 per class) and ROOT/val/<wnid>/ILSVRC2012_val_<n>.JPEG."""
    rng = np.random.default_rng(0)
    root = tmp_path / "imagenet"
    train_names, train_labels, test_names, test_labels = [], [], [], []
    for wnid, label in WNIDS.items():
        (root / "train" / wnid).mkdir(parents=True)
        (root / "val" / wnid).mkdir(parents=True)
        for n in range(3):
            name = f"{wnid}_{n + 10}.JPEG"
            (root / "train" / wnid / name).write_bytes(_jpeg(rng, 40 + n, 48))
            train_names.append(name)
            train_labels.append(label)
        name = f"ILSVRC2012_val_{label:08d}.JPEG"
        (root / "val" / wnid / name).write_bytes(_jpeg(rng, 256, 320, smooth=True))
        test_names.append(name)
        test_labels.append(label)
    # one PNG disguised as a JPEG, as in the real training set
    png_name = "n01440764_99.JPEG"
    (root / "train" / "n01440764" / png_name).write_bytes(tf.io.encode_png(np.full((30, 20, 3), 200, np.uint8)).numpy())
    train_names.append(png_name)
    train_labels.append(5)
    order = rng.permutation(len(train_names))  # the release's ids are not in folder order
    index = {"tr_filenames": np.array([n.encode() for n in train_names], dtype=object)[order], "tr_labels": np.array(train_labels)[order],
             "tt_filenames": np.array(test_names, dtype="S"), "tt_labels": np.array(test_labels),
             "tr_mem": rng.random(len(train_names))}
    index_path = tmp_path / "imagenet_index.npz"
    np.savez(index_path, **index)  # object array: readable only by unpickling
    return root, index_path, index


def test_index_file_reads_object_and_bytes_arrays_without_general_unpickling(tree, tmp_path):
    _, index_path, raw = tree
    index = read_index(index_path)
    assert index.train_filenames.tolist() == [n.decode() for n in raw["tr_filenames"]]
    assert index.test_filenames.tolist() == [n.decode() for n in raw["tt_filenames"]]
    np.testing.assert_array_equal(index.train_labels, raw["tr_labels"])
    assert index.wnid_labels() == WNIDS

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.npz"
    np.savez(evil, tr_filenames=np.array([Evil()], dtype=object), tr_labels=np.array([0]),
             tt_filenames=np.array([b"a"]), tt_labels=np.array([0]))
    with pytest.raises(HeldoutError, match="builtins.print is not allowed"):
        read_index(evil)
    with pytest.raises(HeldoutError, match="has no key 'tt_labels'"):
        np.savez(tmp_path / "short.npz", tr_filenames=np.array([b"a"]), tr_labels=np.array([0]), tt_filenames=np.array([b"b"]))
        read_index(tmp_path / "short.npz")


def test_builder_writes_records_that_line_up_with_the_index(tree, tmp_path):
    root, index_path, raw = tree
    out = tmp_path / "records"
    written = build_records(root, index_path, out, shards={"train": 3, "test": 1})
    assert [p.name for p in written["train"]] == [f"train-{k:05d}-of-00003" for k in range(3)]
    assert [p.name for p in written["test"]] == ["validation-00000-of-00001"]
    assert not list(out.glob(".*"))  # no temporary shards left

    seen = {}
    for path in written["train"]:
        for serialized in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            ex = tf.train.Example.FromString(serialized).features.feature
            idx = ex["index"].int64_list.value[0]
            name = ex["image/filename"].bytes_list.value[0].decode()
            seen[idx] = name
            assert ex["image/class/label"].int64_list.value[0] == raw["tr_labels"][idx] + 1  # stored 1..1000
            assert jpeg_header(ex["image/encoded"].bytes_list.value[0])[2] == 3  # the PNG came out as RGB JPEG
            assert ex["image/class/synset"].bytes_list.value[0].decode() == name.split("_")[0]
    assert seen == {i: n.decode() for i, n in enumerate(raw["tr_filenames"])}

    # the reader: labels 0..999, ids, filenames; and an unchanged rerun keeps the finished shards
    mtimes = [p.stat().st_mtime_ns for p in written["train"]]
    build_records(root, index_path, out, shards={"train": 3, "test": 1})
    assert [p.stat().st_mtime_ns for p in written["train"]] == mtimes
    parsed = list(tf.data.TFRecordDataset(records.record_files(out, "test")).map(records.parse_example).as_numpy_iterator())
    assert [p["label"] for p in parsed] == [5, 999] and [p["index"] for p in parsed] == [0, 1]


def test_pictures_are_read_from_the_shards_that_hold_their_ids(tree, tmp_path):
    from heldout_zoo.imagenet.experiment import ImagenetResnet50

    root, index_path, raw = tree
    out = tmp_path / "records"
    build_records(root, index_path, out, shards={"train": 3, "test": 1})
    (out / "imagenet_index.npz").write_bytes(index_path.read_bytes())
    assert records.shards_holding([0, 2, 3, 6], 7, 3).tolist() == [0, 1, 1, 2]  # shards [0, 2), [2, 4), [4, 7)
    pictures = ImagenetResnet50().images(out, "train", np.array([5, 0, 3]))
    assert [p.shape for p in pictures] == [(96, 96, 3)] * 3 and all(p.dtype == np.uint8 for p in pictures)
    assert not np.array_equal(pictures[0], pictures[1])
    test = ImagenetResnet50().images(out, "test", np.array([1]))
    assert test[0].shape == (96, 96, 3) and test[0].std() > 10  # the smooth gradient image, not a blank
    # ids the shard budget does not reach get no picture instead of a scan of every shard
    files = records.record_files(out, "train")
    assert records.read_pictures(files, [0, 6], 7, max_shards=1)[1] is None
    with pytest.raises(HeldoutError, match="needs --data"):
        ImagenetResnet50().images(None, "train", np.array([0]))


def test_builder_refuses_unknown_missing_and_misfiled_images(tree, tmp_path):
    root, index_path, _ = tree
    index = read_index(index_path)
    stray = root / "train" / "n01440764" / "n01440764_12345.JPEG"
    stray.write_bytes(b"\xff\xd8")
    with pytest.raises(HeldoutError, match=r"n01440764_12345.JPEG is not in the index file's train file names"):
        build_records(root, index_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything is written
    stray.unlink()
    (root / "train" / "n09999999" / "n09999999_11.JPEG").unlink()
    with pytest.raises(HeldoutError, match=r"lacks 1 of the index file's 7 train images \(first: n09999999_11.JPEG\)"):
        scan_split(root, index, "train")
    assert len(scan_split(root, index, "train", allow_missing=True)) == 6
    (root / "val" / "n01440764" / "ILSVRC2012_val_00000005.JPEG").rename(root / "val" / "n09999999" / "ILSVRC2012_val_00000005.JPEG")
    with pytest.raises(HeldoutError, match="lies in class folder n09999999 but the index file gives it class 5"):
        scan_split(root, index, "test")


def test_flat_validation_folder_is_accepted(tree):
    root, index_path, _ = tree
    for wnid in WNIDS:
        for path in (root / "val" / wnid).iterdir():
            path.rename(root / "val" / path.name)
    images = scan_split(root, read_index(index_path), "test")
    assert [(i.example_id, i.label, i.wnid) for i in images] == [(0, 5, "n01440764"), (1, 999, "n09999999")]


def _normalized(image_01):
    return (image_01 - np.array(records.MEAN_RGB)) / np.array(records.STDDEV_RGB)


def test_eval_preprocessing_is_the_centre_crop_of_224_256ths_normalized(tree, tmp_path):
    root, index_path, _ = tree
    out = tmp_path / "records"
    build_records(root, index_path, out, splits=("test",), shards={"test": 1})
    batches = list(records.imagenet_dataset(records.record_files(out, "test"), 2, training=False).as_numpy_iterator())
    assert len(batches) == 1 and batches[0]["image"].shape == (2, 224, 224, 3)
    np.testing.assert_array_equal(batches[0]["label"], [5, 999])
    jpeg = (root / "val" / "n01440764" / "ILSVRC2012_val_00000005.JPEG").read_bytes()
    decoded = tf.io.decode_jpeg(jpeg).numpy() / 255.0
    # 256x320 image: the crop side is 224/256 * 256 = 224, at offsets (16, 48); no resizing needed
    want = _normalized(decoded[16:240, 48:272])
    np.testing.assert_allclose(batches[0]["image"][0], want, atol=2.5 / 255 / 0.224)


def test_training_preprocessing_and_subset_filter(tree, tmp_path):
    root, index_path, raw = tree
    out = tmp_path / "records"
    build_records(root, index_path, out, splits=("train",), shards={"train": 2})
    files = records.record_files(out, "train")
    keep = [0, 3, 6]

    def epoch(seed):
        batches = list(records.imagenet_dataset(files, 2, training=True, seed=seed, subset_ids=keep).as_numpy_iterator())
        return np.concatenate([b["index"] for b in batches]), np.concatenate([b["image"] for b in batches])

    (ids_a, img_a), (ids_b, img_b), (_, img_c) = epoch(1), epoch(1), epoch(2)
    assert sorted(ids_a.tolist()) == keep
    np.testing.assert_array_equal(ids_a, ids_b)
    np.testing.assert_array_equal(img_a, img_b)
    assert img_a.shape == (3, 224, 224, 3) and np.isfinite(img_a).all()
    assert not np.allclose(np.sort(img_a.ravel()), np.sort(img_c.ravel()))
    lo, hi = _normalized(np.zeros(3)), _normalized(np.ones(3))
    assert (img_a >= lo - 1e-5).all() and (img_a <= hi + 1e-5).all()
    with pytest.raises(HeldoutError, match="has no test TFRecord files"):
        records.record_files(out, "test")


def test_labels_by_example_id_replace_the_records_labels(tree, tmp_path):
    root, index_path, raw = tree
    out = tmp_path / "records"
    build_records(root, index_path, out, splits=("train",), shards={"train": 2})
    files = records.record_files(out, "train")
    plain = list(records.imagenet_dataset(files, 4, training=False).as_numpy_iterator())
    ids = np.concatenate([b["index"] for b in plain])
    original = np.concatenate([b["label"] for b in plain])
    noisy = (np.arange(ids.max() + 1) * 7 + 3) % 1000
    batches = list(records.imagenet_dataset(files, 4, training=False, labels=noisy).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in batches]), noisy[ids])
    assert not np.array_equal(noisy[ids], original)


def test_jpeg_header_reads_size_and_components():
    data = tf.io.encode_jpeg(np.zeros((17, 23, 3), np.uint8)).numpy()
    assert jpeg_header(data) == (17, 23, 3)
    assert jpeg_header(tf.io.encode_jpeg(np.zeros((5, 6, 1), np.uint8)).numpy()) == (5, 6, 1)
    assert jpeg_header(b"\x89PNG\r\n") is None
