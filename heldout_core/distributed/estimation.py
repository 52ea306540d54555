"""Influence on a Dask cluster: the test examples split into blocks, one task per block, merged.

Every worker loads the records itself from a path all of them share (:class:`Records`; once
per process, see :mod:`.worker_state`) and computes its block with the single-process
estimator's ``test_rows`` (:mod:`heldout_core.estimators`); only the block's result, sized like
the output, comes back. Each statistic's bootstrap stream is named by its global (test, train)
pair, so the merged result is bit-identical to the single-process one, intervals included.

The dense matrix is not sent back at all: the client creates the ``.npy`` files (temporary
names beside ``out``), each worker writes its rows into them with ``pwrite`` (byte ranges, not a
shared memory map, so that workers on other machines never overwrite each other's pages), and
the client renames the finished files into place. ``out`` must then be on the shared file
system too.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import kernels, params
from ..atomic import atomic_memmaps
from ..estimators import InfluenceMatrix, InfluencePairs, InfluenceTopK, dense_output_paths
from ..estimators import influence_matrix as _matrix
from ..estimators import influence_pairs as _pairs
from ..estimators import influence_topk as _topk
from ..estimators._common import check_runs
from ..intervals import interval_spec
from ..loading import load_runs
from ..records import RunSet
from . import worker_state

BLOCKS_PER_WORKER = 4  # blocks of test examples per worker: enough to even out unequal workers
DENSE_CHUNK_BYTES = 64 << 20  # rows of the dense matrix a worker computes before writing them


@dataclass(frozen=True)
class Records:
    """Run records on a shared path, one experiment at one subset ratio, as every worker loads
    them (``load_runs(path, experiment=..., ratio=...)``); ``fingerprint`` is checked on each
    worker, so one that finds other records there stops with an error."""

    path: str
    experiment: str | None
    ratio: float
    fingerprint: str
    n_test: int

    @classmethod
    def at(cls, path: str | os.PathLike, *, experiment: str | None = None, ratio: float | None = None,
           runs: RunSet | None = None) -> "Records":
        """The records at ``path``; pass ``runs`` when the client has loaded them already (they
        must be what ``load_runs(path, experiment=experiment, ratio=ratio)`` gives)."""
        runs = load_runs(path, experiment=experiment, ratio=ratio) if runs is None else runs
        runs = check_runs(runs, needs_test=True)
        return cls(str(Path(path).resolve()), experiment, float(runs.ratios[0]), worker_state.fingerprint(runs),
                   runs.n_test)

    def load(self) -> RunSet:
        """The runs, as this process loaded them (cached)."""
        return worker_state.records(self.path, self.experiment, self.ratio, self.fingerprint)


def _as_records(records) -> Records:
    return records if isinstance(records, Records) else Records.at(records)


def _blocks(n_test: int, client, blocks: int | None) -> list[slice]:
    """``blocks`` (default: BLOCKS_PER_WORKER per connected worker) consecutive ranges of test rows."""
    if blocks is None:
        blocks = BLOCKS_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    blocks = params.integer(blocks, "blocks", minimum=1)
    edges = np.linspace(0, n_test, min(blocks, max(n_test, 1)) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _run_blocks(client, task, records: Records, rows: list[slice], *args) -> list:
    """``task(records, block, *args)`` for every block, on the cluster; the results in block order."""
    token = uuid.uuid4().hex[:8]
    futures = [client.submit(task, records, block, *args, pure=False,
                             key=f"heldout-{task.__name__.strip('_')}-{token}-{block.start}") for block in rows]
    try:
        return client.gather(futures)
    except BaseException:
        client.cancel(futures, force=True)
        raise


def _concat(parts: list):
    """One result from the results of consecutive blocks: array fields concatenated along the
    first axis (test examples, or pairs in test order), the others taken from the first."""
    fields = {}
    for f in dataclasses.fields(parts[0]):
        values = [getattr(p, f.name) for p in parts]
        fields[f.name] = np.concatenate(values) if isinstance(values[0], np.ndarray) else values[0]
    return type(parts[0])(**fields)


# ---------------------------------------------------------------------------- tasks (on workers)
def _topk_block(records: Records, rows: slice, k: int, options: dict) -> InfluenceTopK:
    runs = records.load()
    with worker_state.kernel_lock:
        return _topk(runs, k, test_rows=rows, **options)


def _pairs_block(records: Records, rows: slice, threshold: float, options: dict) -> InfluencePairs:
    runs = records.load()
    with worker_state.kernel_lock:
        return _pairs(runs, threshold, test_rows=rows, **options)


def _dense_block(records: Records, rows: slice, targets: list[tuple[str, int]], intervals: bool,
                 options: dict) -> int:
    """Write test rows ``rows`` of the dense matrices into the files ``targets`` ((path, offset
    of row 0) each), a chunk at a time; returns the rows written."""
    runs = records.load()
    row_bytes = 4 * runs.n_train
    step = max(1, DENSE_CHUNK_BYTES // row_bytes)
    fds = [os.open(path, os.O_WRONLY) for path, _ in targets]
    try:
        for start in range(rows.start, rows.stop, step):
            chunk = slice(start, min(start + step, rows.stop))
            with worker_state.kernel_lock:
                result = _matrix(runs, test_rows=chunk, intervals=intervals, **options)
            for fd, (_, offset), values in zip(fds, targets, (result.estimate, result.ci_low, result.ci_high)):
                _pwrite_all(fd, np.ascontiguousarray(values, dtype=np.float32), offset + chunk.start * row_bytes)
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)
    return rows.stop - rows.start


def _pwrite_all(fd: int, values: np.ndarray, offset: int) -> None:
    view = memoryview(values).cast("B")
    while len(view):
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


# ---------------------------------------------------------------------------- the calls
def influence_topk(records, k: int, *, client, blocks: int | None = None, confidence: float = 0.95,
                   method: str = "newcombe", n_boot: int = 2000, seed: int | None = 0) -> InfluenceTopK:
    """:func:`heldout_core.estimators.influence_topk` on the cluster of ``client``; the same result.

    Args:
        records: a :class:`Records`, or a path every worker can read (one experiment, one ratio).
        blocks: blocks of test examples (tasks); default 4 per worker.
        k, confidence, method, n_boot, seed: as in the single-process estimator.
    """
    records = _as_records(records)
    options = dict(confidence=confidence, method=method, n_boot=n_boot, seed=seed)
    interval_spec(confidence, method, n_boot, seed)  # bad arguments fail here, not on every worker
    k = params.integer(k, "top_k", minimum=1)
    return _concat(_run_blocks(client, _topk_block, records, _blocks(records.n_test, client, blocks), k, options))


def influence_pairs(records, threshold: float, *, client, blocks: int | None = None, confidence: float = 0.95,
                    method: str = "newcombe", n_boot: int = 2000, seed: int | None = 0) -> InfluencePairs:
    """:func:`heldout_core.estimators.influence_pairs` on the cluster of ``client``; the same result
    (arguments as :func:`influence_topk`)."""
    records = _as_records(records)
    options = dict(confidence=confidence, method=method, n_boot=n_boot, seed=seed)
    interval_spec(confidence, method, n_boot, seed)
    threshold = params.influence_threshold(threshold)
    rows = _blocks(records.n_test, client, blocks)
    return _concat(_run_blocks(client, _pairs_block, records, rows, threshold, options))


def influence_matrix(records, out: str | os.PathLike, *, client, blocks: int | None = None, intervals: bool = True,
                     confidence: float = 0.95, method: str = "newcombe", n_boot: int = 2000,
                     seed: int | None = 0, runs: RunSet | None = None) -> InfluenceMatrix:
    """:func:`heldout_core.estimators.influence_matrix` with ``out=PATH.npy`` on the cluster of
    ``client``: the same files, written by the workers (``out`` on the shared file system), and
    the result memory-mapped from them. ``runs``: the records already loaded by the client (else
    loaded here for the counts); other arguments as :func:`influence_topk`."""
    records = _as_records(records)
    spec = interval_spec(confidence, method, n_boot, seed)
    intervals = params.flag(intervals, "intervals")
    runs = records.load() if runs is None else runs
    options = dict(confidence=confidence, method=method, n_boot=n_boot, seed=seed)
    paths = dense_output_paths(out)[:3 if intervals else 1]
    shape = (runs.n_test, runs.n_train)
    with atomic_memmaps(paths, shape, np.float32) as maps:
        # the workers write the files; this process only made them (header and size) and renames them
        targets = [(str(m.filename), int(m.offset)) for m in maps]
        _run_blocks(client, _dense_block, records, _blocks(runs.n_test, client, blocks), targets, intervals, options)
    matrices = [np.load(p, mmap_mode="r") for p in paths] + [None, None]
    n_in = kernels.row_popcounts(runs.train_mask_bits)
    return InfluenceMatrix(matrices[0], matrices[1], matrices[2], n_in, runs.n_runs - n_in,
                           kernels.row_popcounts(runs.correct_test_bits), spec.confidence if intervals else None,
                           spec.method if intervals else None)
