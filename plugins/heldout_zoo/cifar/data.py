"""CIFAR-10 and CIFAR-100: readers for the standard binary distribution and tf.data pipelines.

Sources accepted by :func:`load_cifar`:

- the folder of binary files (``cifar-10-batches-bin/`` with ``data_batch_1.bin`` ..
  ``data_batch_5.bin`` and ``test_batch.bin``; ``cifar-100-binary/`` with ``train.bin`` and
  ``test.bin``), or the folder that contains it;
- the tar.gz as distributed (``cifar-10-binary.tar.gz``, ``cifar-100-binary.tar.gz``), read in
  memory without unpacking;
- ``"tfds"`` (or ``"tfds:/path/to/tensorflow_datasets"``): a prepared TFDS ``cifar10`` /
  ``cifar100`` (needs the optional ``tensorflow_datasets``).

Binary record layout (https://www.cs.toronto.edu/~kriz/cifar.html): CIFAR-10 is 1 label byte +
3072 pixel bytes; CIFAR-100 is 1 coarse label byte + 1 fine label byte + 3072 pixel bytes. Pixels
are channel-major (1024 red, 1024 green, 1024 blue, each row-major 32x32).

Example order. Binary sources give ids in the original file order (data_batch_1 first; test in
test_batch order). TFDS sources give ids in TFDS order, the order of the released
``cifar10-inception`` runs (the release's demo evaluates with TFDS ``cifar10:3.0.2``); their
``source_ids`` hold the original-order id of each example, parsed from the TFDS ``id`` feature.

The readers are numpy only; :func:`cifar_dataset` builds the tf.data pipeline on top.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heldout_core.errors import HeldoutError

IMAGE_SHAPE = (32, 32, 3)
PIXELS = 32 * 32 * 3
SPLITS = ("train", "test")
_MAX_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps its files and how long a record is."""

    name: str
    num_classes: int
    archive: str
    folder: str
    files: dict  # split -> tuple of file names, in order
    label_bytes: int  # 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)


LAYOUTS = {
    "cifar10": CifarLayout("cifar10", 10, "cifar-10-binary.tar.gz", "cifar-10-batches-bin",
                           {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}, 1),
    "cifar100": CifarLayout("cifar100", 100, "cifar-100-binary.tar.gz", "cifar-100-binary",
                            {"train": ("train.bin",), "test": ("test.bin",)}, 2),
}


@dataclass(frozen=True)
class CifarArrays:
    """One split in memory.

    Attributes:
        images: uint8 (n, 32, 32, 3), height-width-channel.
        labels: int64 (n,); the fine label for CIFAR-100.
        ids: int64 (n,), the example ids that run records use (see the module docstring for
            which order they refer to).
        coarse_labels: int64 (n,) for CIFAR-100 (20 superclasses), else None.
        source_ids: int64 (n,), original-file-order id of each example, or None when ``ids``
            already are that.
        order: "original" (binary files) or "tfds".
    """

    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    coarse_labels: np.ndarray | None = None
    source_ids: np.ndarray | None = None
    order: str = "original"

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, ids) -> "CifarArrays":
        """The examples with the given ids (e.g. a run's ``subsample_idx``), in that order."""
        ids = np.asarray(ids, dtype=np.int64)
        position = np.full(int(self.ids.max()) + 1, -1, dtype=np.int64)
        position[self.ids] = np.arange(len(self.ids))
        if len(ids) and (ids.min() < 0 or ids.max() >= len(position) or (position[ids] < 0).any()):
            raise HeldoutError(f"the subset names example ids that are not in this split (ids 0..{len(position) - 1}).")
        take = position[ids]
        pick = lambda a: None if a is None else a[take]  # noqa: E731
        return CifarArrays(self.images[take], self.labels[take], self.ids[take], pick(self.coarse_labels),
                           pick(self.source_ids), self.order)


def _layout(name: str) -> CifarLayout:
    if name not in LAYOUTS:
        raise HeldoutError(f"unknown CIFAR variant '{name}'; expected one of {', '.join(LAYOUTS)}.")
    return LAYOUTS[name]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise HeldoutError(f"unknown split '{split}'; expected 'train' or 'test'.")


def parse_records(data: bytes, layout: CifarLayout, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Decode the bytes of one binary file into (images uint8 (n,32,32,3), labels, coarse labels)."""
    record = layout.label_bytes + PIXELS
    if len(data) == 0 or len(data) % record:
        raise HeldoutError(f"{what} has {len(data)} bytes, not a whole number of {record}-byte {layout.name} records.")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    images = rows[:, layout.label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    labels = rows[:, layout.label_bytes - 1].astype(np.int64)
    coarse = rows[:, 0].astype(np.int64) if layout.label_bytes == 2 else None
    if labels.max() >= layout.num_classes:
        raise HeldoutError(f"{what} has label {labels.max()}, outside 0..{layout.num_classes - 1}; is it a {layout.name} file?")
    return images, labels, coarse


def _assemble(parts, layout: CifarLayout) -> CifarArrays:
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    coarse = np.concatenate([p[2] for p in parts]) if layout.label_bytes == 2 else None
    return CifarArrays(images, labels, np.arange(len(labels), dtype=np.int64), coarse)


def _read_folder(folder: Path, layout: CifarLayout, split: str) -> CifarArrays:
    if (folder / layout.folder).is_dir():
        folder = folder / layout.folder
    parts = []
    for name in layout.files[split]:
        path = folder / name
        if not path.is_file():
            raise HeldoutError(f"{path} does not exist; expected the {layout.name} binary files ({', '.join(layout.files[split])}).")
        parts.append(parse_records(path.read_bytes(), layout, str(path)))
    return _assemble(parts, layout)


def _read_archive(path: Path, layout: CifarLayout, split: str) -> CifarArrays:
    wanted = {f"{layout.folder}/{name}": name for name in layout.files[split]}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r|gz") as archive:  # one sequential pass, nothing written to disk
            for member in archive:
                name = member.name[2:] if member.name.startswith("./") else member.name
                if name in wanted and member.isfile():
                    if member.size > _MAX_FILE_BYTES:  # CIFAR's largest file is 154 MB
                        raise HeldoutError(f"{path}: member {name} is {member.size} bytes; no {layout.name} file is "
                                           f"that large, so it is not {layout.archive}.")
                    found[wanted[name]] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise HeldoutError(f"{path} is not a readable tar.gz ({exc}).") from None
    missing = [f"{layout.folder}/{n}" for n in layout.files[split] if n not in found]
    if missing:
        raise HeldoutError(f"{path} has no member {missing[0]}; is it {layout.archive}?")
    return _assemble([parse_records(found[n], layout, f"{path}:{layout.folder}/{n}") for n in layout.files[split]], layout)


def _tfds_source_id(text: bytes) -> int:
    # TFDS cifar ids look like b"train_16399": the example's position in the original files.
    return int(text.decode().rsplit("_", 1)[-1])


def load_cifar_tfds(name: str, split: str, data_dir: str | None = None) -> CifarArrays:
    """A prepared TFDS ``cifar10``/``cifar100`` split, in TFDS order (the release's order)."""
    _layout(name), _check_split(split)
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise HeldoutError("source 'tfds' needs the tensorflow_datasets package, which is not installed.") from None
    try:
        data = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, data_dir=data_dir, download=False,
                                       shuffle_files=False))
    except Exception as exc:  # TFDS raises many types for a missing or unprepared dataset
        raise HeldoutError(f"TFDS dataset {name} ({split}) could not be loaded from {data_dir or 'the default data_dir'} ({exc}).") from None
    labels = np.asarray(data["label"], dtype=np.int64)
    source_ids = np.array([_tfds_source_id(t) for t in data["id"]], dtype=np.int64) if "id" in data else None
    coarse = np.asarray(data["coarse_label"], dtype=np.int64) if "coarse_label" in data else None
    return CifarArrays(np.asarray(data["image"], dtype=np.uint8), labels, np.arange(len(labels), dtype=np.int64),
                       coarse, source_ids, "tfds")


def load_cifar(name: str, source: str | os.PathLike, split: str) -> CifarArrays:
    """Load one split of ``name`` ("cifar10" or "cifar100") from ``source`` (see module docstring)."""
    layout, _ = _layout(name), _check_split(split)
    text = str(source)
    if text == "tfds" or text.startswith("tfds:"):
        return load_cifar_tfds(name, split, text[5:] or None)
    path = Path(source)
    if path.is_dir():
        return _read_folder(path, layout, split)
    if path.is_file():
        return _read_archive(path, layout, split)
    raise HeldoutError(f"{path} does not exist; expected {layout.archive}, its unpacked {layout.folder}/ folder, or 'tfds'.")


# ---------------------------------------------------------------------------- tf.data
def cifar_dataset(arrays: CifarArrays, batch_size: int, *, training: bool, seed: int = 0, pad: int = 4):
    """A ``tf.data.Dataset`` of batches ``{"image": float32 (b,32,32,3) in [0,1], "label": int64 (b,),
    "index": int64 (b,)}``.

    Training: reshuffled every epoch, then per image a random crop of the image zero-padded by
    ``pad`` pixels and a random horizontal flip; all randomness derives from ``seed``. Evaluation:
    the images in order, unchanged. Both prefetch.
    """
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices({"image": arrays.images, "label": arrays.labels, "index": arrays.ids})

    def scale(example):
        return dict(example, image=tf.cast(example["image"], tf.float32) / 255.0)

    if training:
        data = data.shuffle(len(arrays), seed=seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)

        def augment(example, pair):
            image = tf.pad(example["image"], [[pad, pad], [pad, pad], [0, 0]])
            image = tf.image.stateless_random_crop(image, IMAGE_SHAPE, seed=pair)
            image = tf.image.stateless_random_flip_left_right(image, seed=pair[::-1])
            return dict(example, image=image)

        data = tf.data.Dataset.zip((data.map(scale), seeds)).map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        data = data.map(scale, num_parallel_calls=tf.data.AUTOTUNE)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
