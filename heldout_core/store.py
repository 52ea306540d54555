"""The compact run store: one bit-packed ``.runs.npz`` file per experiment and subset ratio.

A store file holds the example-major bit matrices of a :class:`RunSet` exactly as they sit in
memory (so loading is a read, no repacking), optional labels, and a JSON metadata block::

    {"format": "heldout-runs", "schema_version": 1, "experiment": ..., "subset_ratio": 0.7,
     "n_runs": R, "n_train": ..., "n_test": ..., "run_ids": [...], "seeds": [...]}

The metadata is checked against the arrays on every load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import schema
from .atomic import save_npz_atomic
from .bitpack import n_words
from .errors import HeldoutError
from .layout import format_ratio
from .npz import load_npz
from .records import RunSet

STORE_SUFFIX = ".runs.npz"
FORMAT = "heldout-runs"
SCHEMA_VERSION = 1
_BIT_KEYS = ("train_mask_bits", "correct_train_bits", "correct_test_bits")


def store_path(directory: str | os.PathLike, experiment: str | None, ratio: float) -> Path:
    """Where :func:`write_store` puts the runs of one experiment and ratio."""
    return Path(directory) / f"{experiment or 'runs'}_{format_ratio(ratio)}{STORE_SUFFIX}"


def write_store(runs: RunSet, directory: str | os.PathLike) -> list[Path]:
    """Write ``runs`` as one store file per subset ratio under ``directory`` (atomically each)."""
    written = []
    for ratio in runs.ratios:
        part = runs.by_ratio(ratio)
        meta = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "experiment": part.experiment,
            "subset_ratio": float(ratio),
            "n_runs": part.n_runs,
            "n_train": part.n_train,
            "n_test": part.n_test,
            "run_ids": part.run_id.tolist(),
            "seeds": part.seed.tolist(),
        }
        arrays = {key: getattr(part, key) for key in _BIT_KEYS}
        arrays["metadata"] = np.array(json.dumps(meta))
        if part.labels_train is not None:
            arrays["labels_train"] = part.labels_train
        if part.labels_test is not None:
            arrays["labels_test"] = part.labels_test
        written.append(save_npz_atomic(store_path(directory, part.experiment, ratio), **arrays))
    return written


def read_store(path: str | os.PathLike) -> RunSet:
    """Read one store file, checking its metadata (a typed schema) against its arrays."""
    what = str(path)
    arrays = load_npz(path, what)
    meta = _read_metadata(arrays, what)
    n_runs = meta["n_runs"]
    w = n_words(n_runs)
    for key, n in zip(_BIT_KEYS, (meta["n_train"], meta["n_train"], meta["n_test"])):
        if key not in arrays:
            raise HeldoutError(f"{what} lacks the array '{key}'.")
        arr = arrays[key]
        if arr.dtype != np.uint64 or arr.shape != (n, w):
            raise HeldoutError(f"{what}: '{key}' has {arr.dtype} {arr.shape} but the metadata says uint64 ({n}, {w}).")
    try:  # RunSet checks the rest (padding bits, unique run ids, labels)
        return RunSet(
            train_mask_bits=arrays["train_mask_bits"],
            correct_train_bits=arrays["correct_train_bits"],
            correct_test_bits=arrays["correct_test_bits"],
            subset_ratio=np.full(n_runs, meta["subset_ratio"]),
            run_id=np.asarray(meta["run_ids"], dtype=np.int64),
            seed=np.asarray(meta["seeds"], dtype=np.int64),
            labels_train=arrays.get("labels_train"),
            labels_test=arrays.get("labels_test"),
            experiment=meta["experiment"],
        )
    except HeldoutError as exc:
        raise HeldoutError(f"{what}: {exc}") from None


def _read_metadata(arrays: dict[str, np.ndarray], what: str) -> dict:
    """The metadata block, every field checked for its type and range."""
    if "metadata" not in arrays:
        raise HeldoutError(f"{what} has no 'metadata' block; it is not a heldout run store.")
    block = arrays["metadata"]
    if block.shape != () or block.dtype.kind != "U":
        raise HeldoutError(f"{what}: the 'metadata' block must be one string, got {block.dtype} {block.shape}.")
    meta = schema.require_object(schema.parse_json(str(block), f"{what}: the 'metadata' block"), f"{what}: 'metadata'")
    where = f"{what} metadata"
    if meta.get("format") != FORMAT:
        raise HeldoutError(f"{what}: 'metadata' does not describe a {FORMAT} store.")
    if meta.get("schema_version") != SCHEMA_VERSION or isinstance(meta.get("schema_version"), bool):
        raise HeldoutError(f"{what} was written with store schema version {meta.get('schema_version')!r}; "
                           f"this version reads {SCHEMA_VERSION}.")
    n_runs = schema.integer(schema.get(meta, "n_runs", where), "n_runs", where, minimum=1, maximum=2**31)
    return {
        "experiment": schema.string(meta.get("experiment"), "experiment", where, optional=True),
        "subset_ratio": schema.number(schema.get(meta, "subset_ratio", where), "subset_ratio", where,
                                      low=0.0, high=1.0, open_low=True),
        "n_runs": n_runs,
        "n_train": schema.integer(schema.get(meta, "n_train", where), "n_train", where, minimum=1),
        "n_test": schema.integer(schema.get(meta, "n_test", where), "n_test", where, minimum=0),
        "run_ids": schema.integer_list(schema.get(meta, "run_ids", where), "run_ids", where, length=n_runs),
        "seeds": schema.integer_list(schema.get(meta, "seeds", where), "seeds", where, length=n_runs, minimum=-1),
    }
