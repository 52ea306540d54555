"""Commands for the released run records: ``heldout import`` and ``heldout verify``.

``heldout import ARCHIVE.tar.gz --out DIR [--aux-only] [--md5 HEX | --no-verify]`` reads a released
archive once, checks its MD5 and either extracts it or writes the compact run store (see
:mod:`heldout_core.archive`). Progress goes to stderr, the summary to stdout.

``heldout verify RUN_DIR --data PATH [--split test|train]`` rebuilds the model of a released (or
our own) run, restores its checkpoint, evaluates it, and reports the accuracy and how many
predictions agree with the run's ``aux_arrays.npz``, aligned by example id.

No TensorFlow at import: ``verify`` imports the experiment's plugin inside the command.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .archive import KNOWN_MD5, import_archive
from .errors import HeldoutError
from .io import AUX_FILE, read_aux_arrays

class _StderrProgress:
    """Prints ``read X of Y GB (p%), N run records`` on stderr, at most once a second."""

    def __init__(self, stream=None, every_s: float = 1.0):
        stream = stream or sys.stderr
        self.stream, self.every_s, self.last, self.shown = stream, every_s, None, False

    def __call__(self, done: int, total: int, n_runs: int) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.every_s:
            return
        self.last, self.shown = now, True
        pct = 100.0 * done / total if total else 100.0
        self.stream.write(f"\rheldout import: read {done / 1e9:.2f} of {total / 1e9:.2f} GB ({pct:.0f}%), {n_runs} run records")
        self.stream.flush()

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _import(args) -> int:
    progress = _StderrProgress()
    try:
        result = import_archive(args.archive, args.out, aux_only=args.aux_only, verify=not args.no_verify,
                                expected_md5=args.md5, progress=progress)
    finally:
        progress.finish()
    if result.md5_status == "unchecked":
        print(f"heldout import: {result.archive.name} is not one of the released archives "
              f"({', '.join(KNOWN_MD5)}), so its MD5 {result.md5} cannot be checked; pass --md5 to check it.",
              file=sys.stderr)
    what = "store files" if args.aux_only else "top-level paths"
    print(f"{result.archive}: MD5 {result.md5} ({result.md5_status}), {result.n_members} members, "
          f"{result.n_runs} run records; wrote {len(result.written)} {what} to {args.out}")
    for path in result.written:
        print(f"  {path}")
    return 0


@dataclass(frozen=True)
class VerifyResult:
    """How a restored checkpoint's predictions compare with its run's ``aux_arrays.npz``.

    Attributes:
        checkpoint: the restored checkpoint prefix.
        split: "train" (all training examples: trained-on and held-out) or "test".
        accuracy: fraction of the split the restored model classifies correctly.
        released_accuracy: the same from ``aux_arrays.npz``.
        n_match: examples where both agree on correctness; n: examples in the split.
    """

    checkpoint: Path
    split: str
    accuracy: float
    released_accuracy: float
    n_match: int
    n: int


def experiment_for(name: str, run_dir: Path | None = None):
    """An instance of the registered experiment ``name`` (the released three are built-in
    plugins), with the options the run was trained with when its ``run.json`` records them."""
    from .plugins import get_experiment
    from .training.driver import read_run_info

    info = read_run_info(run_dir) if run_dir is not None else None
    options = info.get("options", {}) if isinstance(info, dict) else {}
    if isinstance(info, dict) and info.get("experiment") not in (None, name):
        raise HeldoutError(f"{run_dir} was trained as experiment '{info['experiment']}', not '{name}'.")
    return get_experiment(name, **options)


def find_checkpoint(run_dir: Path) -> Path:
    """The single ``checkpoints/ckpt-<N>`` prefix of a run folder."""
    found = sorted((run_dir / "checkpoints").glob("ckpt-*.index"))
    if len(found) != 1:
        raise HeldoutError(f"{run_dir / 'checkpoints'} holds {len(found)} checkpoints (ckpt-*.index); expected exactly one.")
    return found[0].with_suffix("")


def verify_run(run_dir: str | os.PathLike, data_path: str | os.PathLike | None, *, split: str = "test",
               experiment: str | None = None) -> VerifyResult:
    """Restore the run's checkpoint, evaluate it on ``split`` and compare with its ``aux_arrays.npz``.

    The experiment defaults to the name of the folder two levels up (``<experiment>/<ratio>/<run_id>``).
    """
    run_dir = Path(run_dir)
    if split not in ("train", "test"):
        raise HeldoutError(f"--split must be 'train' or 'test', got '{split}'.")
    if not (run_dir / AUX_FILE).is_file():
        raise HeldoutError(f"{run_dir} has no {AUX_FILE}; expected a run folder <experiment>/<ratio>/<run_id>.")
    released = read_aux_arrays(run_dir / AUX_FILE)
    want = released.correct_train if split == "train" else released.correct_test
    if want is None:
        raise HeldoutError(f"{run_dir / AUX_FILE} has no test records to compare with.")
    prefix = find_checkpoint(run_dir)
    exp = experiment_for(experiment or run_dir.resolve().parent.parent.name, run_dir)
    data = exp.load_data(Path(data_path) if data_path is not None else None)
    try:
        model = exp.restore_checkpoint(data, prefix)
    except HeldoutError:
        raise
    except Exception as exc:  # TensorFlow reports a mismatch as one of many error types
        raise HeldoutError(f"{prefix} does not restore into experiment '{exp.name}''s model "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).") from None
    if hasattr(exp, "evaluate_split"):
        got = exp.evaluate_split(model, data, split)
    else:
        got = exp.evaluate(model, data)[0 if split == "train" else 1]
    got = np.asarray(got, dtype=bool)
    if len(got) != len(want):
        raise HeldoutError(f"the data has {len(got)} {split} examples but {run_dir / AUX_FILE} has {len(want)}; "
                           f"it is not the data this run was evaluated on.")
    return VerifyResult(prefix, split, float(got.mean()), float(want.mean()), int((got == want).sum()), len(got))


def _verify(args) -> int:
    result = verify_run(args.run_dir, args.data, split=args.split, experiment=args.experiment)
    print(f"{result.checkpoint}: {result.split} accuracy {result.accuracy:.4f} "
          f"(aux_arrays.npz: {result.released_accuracy:.4f}); {result.n_match} of {result.n} predictions match")
    return 0


def add_commands(subparsers) -> None:
    """Add ``import`` and ``verify`` to the ``heldout`` command line."""
    parser = subparsers.add_parser(
        "import", help="check and unpack a released checkpoint archive, or stream its run records into a store",
        description="Read a released .tar.gz once: check its MD5 against the published sum, then extract it "
                    "into --out, or with --aux-only write only the run records as compact stores "
                    "(<experiment>_<ratio>.runs.npz) without unpacking checkpoints.")
    parser.add_argument("archive", help="the .tar.gz archive, e.g. cifar10-inception.tar.gz")
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--aux-only", action="store_true",
                        help="read only <experiment>/<ratio>/<run_id>/aux_arrays.npz members and write compact stores")
    check = parser.add_mutually_exclusive_group()
    check.add_argument("--md5", help="expected MD5 (hex) for an archive that is not one of the released names")
    check.add_argument("--no-verify", action="store_true", help="do not compare the MD5 with any expected sum")
    parser.set_defaults(func=_import)

    parser = subparsers.add_parser(
        "verify", help="restore a run's checkpoint, evaluate it and compare with its aux_arrays.npz",
        description="Rebuild the model of RUN_DIR (<experiment>/<ratio>/<run_id>), restore its checkpoint, "
                    "evaluate it on --data and report the accuracy and how many predictions match aux_arrays.npz.")
    parser.add_argument("run_dir", help="a run folder with aux_arrays.npz and checkpoints/ckpt-<N>.*")
    parser.add_argument("--data", help="the experiment's data (see `heldout plugins`)")
    parser.add_argument("--split", default="test", choices=("test", "train"), help="which split to evaluate (default test)")
    parser.add_argument("--experiment", help="experiment name when RUN_DIR is not inside an <experiment> folder")
    parser.set_defaults(func=_verify)
