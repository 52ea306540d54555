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
    """Read one store file, checking its metadata against its arrays."""
    arrays = load_npz(path, str(path))
    if "metadata" not in arrays:
        raise HeldoutError(f"{path} has no 'metadata' block; it is not a heldout run store.")
    try:
        meta = json.loads(str(arrays["metadata"]))
    except json.JSONDecodeError:
        raise HeldoutError(f"{path}: the 'metadata' block is not valid JSON.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HeldoutError(f"{path}: 'metadata' does not describe a {FORMAT} store.")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise HeldoutError(f"{path} was written with store schema version {meta.get('schema_version')}; this version reads {SCHEMA_VERSION}.")
    for key in ("subset_ratio", "n_runs", "n_train", "n_test", "run_ids", "seeds", *_BIT_KEYS):
        if key not in meta and key not in arrays:
            raise HeldoutError(f"{path} lacks '{key}'.")
    n_runs = meta["n_runs"]
    w = n_words(n_runs)
    for key, n in zip(_BIT_KEYS, (meta["n_train"], meta["n_train"], meta["n_test"])):
        arr = arrays[key]
        if arr.dtype != np.uint64 or arr.shape != (n, w):
            raise HeldoutError(f"{path}: '{key}' has {arr.dtype} {arr.shape} but the metadata says uint64 ({n}, {w}).")
    for key in ("run_ids", "seeds"):
        if len(meta[key]) != n_runs:
            raise HeldoutError(f"{path}: metadata '{key}' has {len(meta[key])} entries for {n_runs} runs.")
    try:  # RunSet checks the rest (padding bits, unique run ids, labels)
        return _runset_from_store(arrays, meta, n_runs)
    except HeldoutError as exc:
        raise HeldoutError(f"{path}: {exc}") from None


def _runset_from_store(arrays, meta, n_runs) -> RunSet:
    return RunSet(
        train_mask_bits=arrays["train_mask_bits"],
        correct_train_bits=arrays["correct_train_bits"],
        correct_test_bits=arrays["correct_test_bits"],
        subset_ratio=np.full(n_runs, float(meta["subset_ratio"])),
        run_id=np.asarray(meta["run_ids"], dtype=np.int64),
        seed=np.asarray(meta["seeds"], dtype=np.int64),
        labels_train=arrays.get("labels_train"),
        labels_test=arrays.get("labels_test"),
        experiment=meta.get("experiment"),
    )
