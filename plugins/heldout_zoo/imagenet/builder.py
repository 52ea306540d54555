"""Write indexed ImageNet TFRecords from an ImageNet folder tree, with the release's example ids.

Input tree (the ILSVRC-2012 layout)::

    ROOT/train/<wnid>/<wnid>_<n>.JPEG
    ROOT/val/<wnid>/ILSVRC2012_val_<n>.JPEG      (or ROOT/val/ILSVRC2012_val_<n>.JPEG, flat;
                                                  "validation/" is accepted for "val/")

Every file gets the id and class that ``imagenet_index.npz`` gives its basename (see
:mod:`.index_file`), so the records line up with the released ``aux_arrays.npz``. A file in the
tree that the index does not know, a file of the index missing from the tree (unless
``allow_missing``), or a class folder that disagrees with the index's class is an error naming
the file.

Output: ``train-<k>-of-<K>`` and ``validation-<k>-of-<K>`` shards (the release's names), each
holding a contiguous range of ids in id order, with the features that :mod:`.records` reads plus
``image/class/synset``, ``image/height`` and ``image/width``. Like the release's builder, the PNG
and CMYK files hidden among the JPEGs are re-encoded as RGB JPEG (quality 100). Each shard is
written to a temporary name and renamed when complete; an existing shard is kept, so an
interrupted build resumes where it stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from heldout_core.atomic import atomic_path
from heldout_core.errors import HeldoutError

from .index_file import ImagenetIndex, read_index

SPLIT_FOLDERS = {"train": ("train",), "test": ("val", "validation")}
SHARD_PREFIX = {"train": "train", "test": "validation"}
DEFAULT_SHARDS = {"train": 1024, "test": 128}
IMAGE_SUFFIXES = (".jpeg", ".jpg")


@dataclass(frozen=True)
class ImageFile:
    """One image of the tree with its release id and class (0..999)."""

    path: Path
    example_id: int
    label: int
    wnid: str


def _split_folder(root: Path, split: str) -> Path:
    for name in SPLIT_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    raise HeldoutError(f"{root} has no {' or '.join(n + '/' for n in SPLIT_FOLDERS[split])} folder for the {split} split.")


def scan_split(root: str | os.PathLike, index: ImagenetIndex, split: str, *, allow_missing: bool = False) -> list[ImageFile]:
    """The images of one split under ``root``, each with its release id, sorted by id."""
    folder = _split_folder(Path(root), split)
    filenames, labels = index.split(split)
    id_of = {name: i for i, name in enumerate(filenames)}
    label_of_wnid = index.wnid_labels()
    wnid_of_label = {label: wnid for wnid, label in label_of_wnid.items()}
    found: dict[int, ImageFile] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.name not in id_of:
            raise HeldoutError(f"{path} is not in the index file's {split} file names; the tree does not match the release.")
        example_id = id_of[path.name]
        label = int(labels[example_id])
        class_folder = path.parent.name if path.parent != folder else None
        if class_folder is not None and label_of_wnid.get(class_folder, label) != label:
            raise HeldoutError(f"{path} lies in class folder {class_folder} but the index file gives it class {label} ({wnid_of_label.get(label, '?')}).")
        if example_id in found:
            raise HeldoutError(f"{path} and {found[example_id].path} have the same name; each file may appear once.")
        found[example_id] = ImageFile(path, example_id, label, wnid_of_label.get(label, class_folder or ""))
    if len(found) < len(filenames) and not allow_missing:
        missing = [filenames[i] for i in range(len(filenames)) if i not in found]
        raise HeldoutError(f"{folder} lacks {len(missing)} of the index file's {len(filenames)} {split} images "
                           f"(first: {missing[0]}); pass allow_missing to build records of the rest.")
    return [found[i] for i in sorted(found)]


# ---------------------------------------------------------------------------- image bytes
def jpeg_header(data: bytes) -> tuple[int, int, int] | None:
    """(height, width, components) from a JPEG's start-of-frame marker, or None if not a JPEG."""
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
            if pos + 10 > len(data):
                return None
            height = int.from_bytes(data[pos + 5:pos + 7], "big")
            width = int.from_bytes(data[pos + 7:pos + 9], "big")
            return height, width, data[pos + 9]
        pos += 2 + length
    return None


def rgb_jpeg(data: bytes, what: str) -> tuple[bytes, int, int]:
    """The image as RGB (or grayscale) JPEG bytes with its height and width; PNG and CMYK are re-encoded."""
    header = jpeg_header(data)
    if header is not None and header[2] in (1, 3):
        return data, header[0], header[1]
    import tensorflow as tf

    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError:
        raise HeldoutError(f"{what} is not a readable image.") from None
    encoded = tf.io.encode_jpeg(image, format="rgb", quality=100).numpy()
    return encoded, int(image.shape[0]), int(image.shape[1])


# ---------------------------------------------------------------------------- records
def _example(image: ImageFile):
    import tensorflow as tf

    jpeg, height, width = rgb_jpeg(image.path.read_bytes(), str(image.path))
    b = lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))  # noqa: E731
    i = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))  # noqa: E731
    return tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": b(jpeg),
        "image/class/label": i(image.label + 1),  # the release stores classes 1..1000
        "image/class/synset": b(image.wnid.encode()),
        "image/filename": b(image.path.name.encode()),
        "image/height": i(height),
        "image/width": i(width),
        "index": i(image.example_id),
    }))


def write_shards(images: list[ImageFile], out_dir: str | os.PathLike, prefix: str, n_shards: int,
                 progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write ``images`` (in order) into ``n_shards`` contiguous shards ``<prefix>-%05d-of-%05d``."""
    import tensorflow as tf

    if n_shards < 1:
        raise HeldoutError(f"the number of shards must be at least 1, got {n_shards}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(images), n_shards + 1).astype(int)
    written = []
    for shard in range(n_shards):
        path = out_dir / f"{prefix}-{shard:05d}-of-{n_shards:05d}"
        written.append(path)
        if not path.exists():
            with atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
                for image in images[bounds[shard]:bounds[shard + 1]]:
                    writer.write(_example(image).SerializeToString())
        if progress is not None:
            progress(int(bounds[shard + 1]), len(images))
    return written


def build_records(root: str | os.PathLike, index_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                  splits=("train", "test"), shards: dict | None = None, allow_missing: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, list[Path]]:
    """Scan ``root`` (see module docstring) and write the indexed TFRecords of ``splits`` to ``out_dir``.

    Every split is scanned and checked before anything is written. Returns the shard paths per split.
    """
    index = read_index(index_path)
    shards = {**DEFAULT_SHARDS, **(shards or {})}
    scanned = {split: scan_split(root, index, split, allow_missing=allow_missing) for split in splits}
    return {split: write_shards(images, out_dir, SHARD_PREFIX[split], min(shards[split], max(len(images), 1)), progress)
            for split, images in scanned.items()}
