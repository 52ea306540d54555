"""A tiny ImageNet: a folder tree of JPEGs, its imagenet_index.npz, and indexed TFRecords built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_tiny_imagenet(tmp_path: Path, *, n_train: int = 4, n_test: int = 3, label: int = 0,
                        train_shards: int = 1, reverse_train_index: bool = False) -> Path:
    """Write ``tmp_path/tree`` (one class, n01440764) and build records into ``tmp_path/data``.

    ``reverse_train_index`` lists the training files in the index in reverse order, so example
    ids differ from the order of the tree. Returns the data folder.
    """
    import tensorflow as tf

    from heldout_zoo.imagenet.builder import build_records

    rng = np.random.default_rng(0)
    root, data = tmp_path / "tree", tmp_path / "data"
    names = {"train": [], "test": []}
    for split, folder, count in (("train", "train", n_train), ("test", "val", n_test)):
        (root / folder / "n01440764").mkdir(parents=True)
        for n in range(count):
            name = f"n01440764_{n}.JPEG" if split == "train" else f"ILSVRC2012_val_{n + 1:08d}.JPEG"
            image = rng.integers(0, 256, size=(40 + 8 * n, 60, 3), dtype=np.uint8)
            (root / folder / "n01440764" / name).write_bytes(tf.io.encode_jpeg(image).numpy())
            names[split].append(name.encode())
    data.mkdir()
    train_names = names["train"][::-1] if reverse_train_index else names["train"]
    np.savez(data / "imagenet_index.npz", tr_filenames=np.array(train_names), tr_labels=np.full(n_train, label),
             tt_filenames=np.array(names["test"]), tt_labels=np.full(n_test, label))
    build_records(root, data / "imagenet_index.npz", data, shards={"train": train_shards, "test": 1})
    return data
