"""Reading indexed ImageNet TFRecords and the release's 224x224 preprocessing.

Each record is a ``tf.train.Example`` with (names as in the release):

- ``image/encoded``: JPEG bytes;
- ``image/class/label``: int64 class 1..1000 (shifted here to 0..999);
- ``image/filename``: the basename, e.g. ``n01440764_10026.JPEG``;
- ``index``: int64 example id (the position in ``imagenet_index.npz``, see :mod:`.index_file`).

Preprocessing (the release's, so that released checkpoints see the inputs they were trained on):

- evaluation: the centred square of side ``224/256 * min(height, width)``, bilinear resize to
  224x224;
- training: a random crop covering 8%..100% of the image area with aspect ratio 3/4..4/3 (10
  attempts; the centre crop when none fits), bilinear resize to 224x224, random horizontal flip;
- then pixels / 255, minus the per-channel mean (0.485, 0.456, 0.406), divided by the std
  (0.229, 0.224, 0.225).

Training randomness is stateless and derives from a seed, so a seed gives identical batches.
"""

from __future__ import annotations

import os
from glob import glob
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from heldout_core.errors import HeldoutError

IMAGE_SIZE = 224
CROP_PADDING = 32  # evaluation crops 224 / (224 + 32) of the shorter side
MEAN_RGB = (0.485, 0.456, 0.406)
STDDEV_RGB = (0.229, 0.224, 0.225)
SHUFFLE_BUFFER = 10_000
PICTURE_SIZE = 96  # side of the centre crops shown in figures
MAX_PICTURE_SHARDS = 64  # shards read at most for one batch of pictures

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "index": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
}
# shard names written by the release's builder and by :mod:`.builder`
SHARD_PATTERNS = {"train": "train-*-of-*", "test": "validation-*-of-*"}


def parse_example(serialized: tf.Tensor) -> dict:
    """One serialized record -> ``{"jpeg": string, "label": int64 0..999, "index": int64, "filename": string}``."""
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    return {"jpeg": parsed["image/encoded"], "label": parsed["image/class/label"] - 1,
            "index": parsed["index"], "filename": parsed["image/filename"]}


def _to_unit_float(image: tf.Tensor) -> tf.Tensor:
    return tf.image.convert_image_dtype(image, tf.float32)  # uint8 -> [0, 1]


def center_crop(jpeg: tf.Tensor, image_size: int = IMAGE_SIZE) -> tf.Tensor:
    """Decode the central crop of a JPEG, resized to (image_size, image_size, 3) float32 in [0, 1]."""
    shape = tf.image.extract_jpeg_shape(jpeg)
    height, width = shape[0], shape[1]
    side = tf.cast(image_size / (image_size + CROP_PADDING) * tf.cast(tf.minimum(height, width), tf.float32), tf.int32)
    window = tf.stack([(height - side + 1) // 2, (width - side + 1) // 2, side, side])
    image = _to_unit_float(tf.image.decode_and_crop_jpeg(jpeg, window, channels=3))
    return tf.image.resize(image, [image_size, image_size])


def random_resized_crop(jpeg: tf.Tensor, seed: tf.Tensor, image_size: int = IMAGE_SIZE) -> tf.Tensor:
    """A random crop of a JPEG (see module docstring), resized and randomly flipped; ``seed`` is int (2,)."""
    shape = tf.image.extract_jpeg_shape(jpeg)
    whole = tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, whole, seed=seed, min_object_covered=0.1, aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=(0.08, 1.0), max_attempts=10, use_image_if_no_bounding_boxes=True)
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    # When no crop fits, the sampler returns the whole image; the release uses the centre crop then.
    no_crop_found = tf.reduce_all(tf.equal(size[:2], shape[:2]))
    image = tf.cond(
        no_crop_found,
        lambda: center_crop(jpeg, image_size),
        lambda: tf.image.resize(_to_unit_float(tf.image.decode_and_crop_jpeg(jpeg, window, channels=3)),
                                [image_size, image_size]))
    image = tf.image.stateless_random_flip_left_right(image, seed=seed[::-1])
    return tf.reshape(image, [image_size, image_size, 3])


def normalize(image: tf.Tensor) -> tf.Tensor:
    """Per-channel standardization of images in [0, 1]."""
    return (image - tf.constant(MEAN_RGB, shape=[1, 1, 3])) / tf.constant(STDDEV_RGB, shape=[1, 1, 3])


def record_files(source: str | os.PathLike | Sequence, split: str) -> list[str]:
    """The TFRecord files of ``split`` ("train" or "test"): a folder of shards, a glob, or a list."""
    if split not in SHARD_PATTERNS:
        raise HeldoutError(f"unknown split '{split}'; expected 'train' or 'test'.")
    if isinstance(source, (list, tuple)):
        files = [str(f) for f in source]
    elif Path(source).is_dir():
        files = sorted(glob(str(Path(source) / SHARD_PATTERNS[split])))
    else:
        files = sorted(glob(str(source)))
    if not files:
        raise HeldoutError(f"{source} has no {split} TFRecord files (expected {SHARD_PATTERNS[split]}).")
    return files


def imagenet_dataset(files: Sequence[str], batch_size: int, *, training: bool, seed: int = 0,
                     subset_ids=None, labels=None, image_size: int = IMAGE_SIZE):
    """Batches ``{"image": float32 (b, 224, 224, 3) normalized, "label": int64 (b,), "index": int64 (b,)}``.

    Args:
        files: TFRecord files (see :func:`record_files`).
        training: shuffle files and records, random crops and flips; otherwise records in file
            order with centre crops.
        seed: all training randomness derives from it.
        subset_ids: keep only examples whose ``index`` is in this set (e.g. a run's
            ``subsample_idx``).
        labels: int64 (n,) labels by example id that replace the records' own (label noise).
    """
    files = list(files)
    if training:
        data = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        data = data.interleave(tf.data.TFRecordDataset, cycle_length=min(8, len(files)),
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        data = tf.data.TFRecordDataset(files)
    data = data.map(parse_example, num_parallel_calls=tf.data.AUTOTUNE)
    if labels is not None:
        table = tf.constant(np.asarray(labels, dtype=np.int64))
        data = data.map(lambda ex: dict(ex, label=tf.gather(table, ex["index"])), num_parallel_calls=tf.data.AUTOTUNE)
    if subset_ids is not None:
        subset_ids = np.asarray(subset_ids, dtype=np.int64)
        keep = np.zeros(int(subset_ids.max()) + 1 if len(subset_ids) else 1, dtype=bool)
        keep[subset_ids] = True
        keep_table = tf.constant(keep)
        data = data.filter(lambda ex: tf.logical_and(
            ex["index"] < len(keep), tf.gather(keep_table, tf.clip_by_value(ex["index"], 0, len(keep) - 1))))
    if training:
        data = data.shuffle(SHUFFLE_BUFFER, seed=seed)
        data = tf.data.Dataset.zip((data, tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)))
        prepare = lambda ex, pair: {"image": normalize(random_resized_crop(ex["jpeg"], pair, image_size)),  # noqa: E731
                                    "label": ex["label"], "index": ex["index"]}
    else:
        prepare = lambda ex: {"image": normalize(center_crop(ex["jpeg"], image_size)),  # noqa: E731
                              "label": ex["label"], "index": ex["index"]}
    data = data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def shards_holding(ids, n_examples: int, n_shards: int) -> np.ndarray:
    """The shard of each id when ``n_shards`` shards hold contiguous, near-equal ranges of the
    ``n_examples`` ids in order, as :func:`heldout_zoo.imagenet.builder.write_shards` writes them."""
    bounds = np.linspace(0, n_examples, n_shards + 1).astype(int)
    return np.clip(np.searchsorted(bounds, np.asarray(ids, dtype=np.int64), side="right") - 1, 0, n_shards - 1)


def read_pictures(files: Sequence[str], ids, n_examples: int, *, size: int = PICTURE_SIZE,
                  max_shards: int = MAX_PICTURE_SHARDS) -> list[np.ndarray | None]:
    """uint8 (size, size, 3) pictures of the examples ``ids``: their evaluation centre crops
    (:func:`center_crop`), shrunk.

    Bounded for ImageNet's 1.28 million records: only the shards that the builder's id ranges
    assign to ``ids`` are read (at most ``max_shards`` of them, the ones holding the most ids),
    and only the JPEGs of ``ids`` are decoded. An id not found there (records written in
    another order, or beyond the shard budget) gets None.
    """
    ids = np.asarray(ids, dtype=np.int64)
    shard_of = shards_holding(ids, n_examples, len(files))
    shards, counts = np.unique(shard_of, return_counts=True)
    found: dict[int, np.ndarray] = {}
    for shard in shards[np.argsort(-counts, kind="stable")][:max_shards]:
        wanted = tf.constant(np.unique(ids[shard_of == shard]))
        data = tf.data.TFRecordDataset(files[int(shard)]).map(parse_example)
        data = data.filter(lambda ex: tf.reduce_any(tf.equal(ex["index"], wanted)))
        for example in data:
            # the crop the model is evaluated on, shrunk for display
            crop = tf.image.resize(center_crop(example["jpeg"]), [size, size], antialias=True).numpy()
            found[int(example["index"])] = np.clip(np.round(crop * 255.0), 0, 255).astype(np.uint8)
    return [found.get(int(i)) for i in ids]
