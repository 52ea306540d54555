"""Importing a released checkpoint archive (``cifar10-inception.tar.gz`` and friends).

One sequential pass over the ``.tar.gz`` both computes its MD5 and does the work, so a 240 GB
archive is read once:

- ``aux_only=True``: only the ``<experiment>/<ratio>/<run_id>/aux_arrays.npz`` members are read
  (into memory, one at a time) and bit-packed as they arrive; checkpoints stream past unwritten.
  The result is the compact store (:mod:`heldout_core.store`): one ``<experiment>_<ratio>.runs.npz``
  per experiment and subset ratio.
- otherwise: every member is checked (no absolute paths, no ``..``, no links that leave the
  output folder, no devices or fifos) and extracted, with the ``tarfile`` "data" filter as a
  second line of defence.

Guarantee: nothing appears in the output folder before the whole archive has been read and its
MD5 checked. Everything is written into a hidden staging folder ``OUT/.heldout-import-*``
(locked while the import runs) and moved into place by renames only after every check passed
(a crash during those renames can leave some files moved and the rest in the staging folder;
rerunning the import replaces them). On any error the staging folder is removed; one left by a
killed import is removed by the next import (and reported by ``heldout info``).

The MD5 is compared with the published sum for the three released archive names, with ``expected_md5`` when given, or not at all when ``verify=False``; an archive of
another name is reported as "unchecked". numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable


from . import locks
from .atomic import publish_files, staged_folder
from .aux_arrays import AUX_FILE, record_budget, run_from_aux_arrays
from .errors import HeldoutError, ParameterError
from .leftovers import remove_stale_staging
from .npz import MAX_BYTES_ENV, load_npz
from .records import RunSetBuilder
from .resources import format_bytes
from .store import write_store

KNOWN_MD5 = {
    "cifar10-inception.tar.gz": "bc3b75203381709f8224810946be14b1",
    "cifar100-inception.tar.gz": "f87218368528afa6e2407c8410f1ffa1",
    "imagenet-resnet50.tar.gz": "64c39ef7702462b83959af9de622b4b8",
}
READ_CHUNK = 1 << 20
STAGING_JOB = "import"  # the staging folder: OUT/.heldout-import-<random>/
_TREE = "tree"          # full extraction goes to OUT/.heldout-import-<random>/tree/
_AUX_MEMBER = re.compile(r"^(?P<experiment>[A-Za-z0-9][A-Za-z0-9._-]*)/(?P<ratio>\d*\.?\d+)/(?P<run_id>\d+)/" + re.escape(AUX_FILE) + "$")
_MD5_HEX = re.compile(r"^[0-9a-f]{32}$")

# progress(bytes_read, total_bytes, aux_files_read)
ImportProgress = Callable[[int, int, int], None]


@dataclass
class ImportResult:
    """What :func:`import_archive` did.

    Attributes:
        archive: the archive read.
        md5: its MD5 (hex), computed during the pass.
        md5_status: "verified" (matched the published or given sum), "unchecked" (no sum known
            for this file name) or "skipped" (``verify=False``).
        written: store files (``aux_only``) or top-level extracted paths.
        n_runs: number of ``aux_arrays.npz`` members read.
        n_members: number of archive members seen.
    """

    archive: Path
    md5: str
    md5_status: str
    written: list[Path] = field(default_factory=list)
    n_runs: int = 0
    n_members: int = 0


class _HashingReader:
    """A read-only file wrapper that feeds every byte read into an MD5."""

    def __init__(self, handle):
        self._handle = handle
        self.md5 = hashlib.md5()
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.md5.update(data)
        self.bytes_read += len(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever the tar reader left unread: end blocks, the gzip trailer."""
        while self.read(READ_CHUNK):
            pass


def expected_md5_for(archive: Path, expected_md5: str | None, verify: bool) -> tuple[str | None, str]:
    """The sum to compare against and the status it leads to ("verified", "unchecked", "skipped")."""
    if not verify:
        return None, "skipped"
    if expected_md5 is not None:
        expected_md5 = expected_md5.strip().lower()
        if not _MD5_HEX.match(expected_md5):
            raise ParameterError("md5", f"{{parameter}} must be 32 hexadecimal digits, got '{expected_md5}'.",
                                 spelled="expected_md5")
        return expected_md5, "verified"
    if archive.name in KNOWN_MD5:
        return KNOWN_MD5[archive.name], "verified"
    return None, "unchecked"


# ---------------------------------------------------------------------------- aux-only import
def _member_name(member: tarfile.TarInfo) -> str:
    """The path a member writes to, normalised: ``./a//b/./c`` -> ``a/b/c``."""
    name = posixpath.normpath(member.name.replace("\\", "/"))
    return "" if name == "." else name.lstrip("/")


class _MemberPaths:
    """The paths the members of one archive write to: a path may be written once, whichever
    spelling names it (``a/b``, ``./a/b``, ``a//b``), or two members would silently overwrite
    each other. A folder may be listed more than once, but not also be a file."""

    def __init__(self, source: Path):
        self.source = source
        self.files: dict[str, str] = {}
        self.folders: set[str] = set()

    def add(self, member: tarfile.TarInfo) -> str:
        name = _member_name(member)
        parents = [str(p) for p in PurePosixPath(name).parents if str(p) != "."]
        clash = self.files.get(name) or next((self.files[p] for p in parents if p in self.files), None)
        if clash is not None or (not member.isdir() and name in self.folders):
            other = clash if clash is not None else f"{name}/..."
            raise HeldoutError(f"{self.source}: members '{other}' and '{member.name}' both write {name}; "
                               "the archive is refused.")
        self.folders.update(parents)
        if member.isdir():
            self.folders.add(name)
        else:
            self.files[name] = member.name
        return name


class _Spellings:
    """Ratio and run folders of the archive's records, each spelled one way only (``0.7`` and
    ``0.70``, or ``1`` and ``01``, would be one ratio or run twice), as :func:`load_runs` requires."""

    def __init__(self, source: Path):
        self.source, self.ratios, self.runs = source, {}, {}

    def check(self, match: re.Match) -> float:
        """The subset ratio of an aux member's path, after its folders' spellings are checked."""
        what = f"{self.source}:{match.group(0)}"
        ratio = float(match["ratio"])
        if not 0.0 < ratio <= 1.0:
            raise HeldoutError(f"{what}: the ratio folder '{match['ratio']}' is not a subset ratio in (0, 1].")
        experiment, run_id = match["experiment"], int(match["run_id"])
        seen = self.ratios.setdefault((experiment, ratio), match["ratio"])
        if seen != match["ratio"]:
            raise HeldoutError(f"{self.source}: ratio folders '{experiment}/{seen}' and '{experiment}/{match['ratio']}' "
                               f"both name subset ratio {ratio:g}; the archive is refused.")
        seen = self.runs.setdefault((experiment, ratio, run_id), match["run_id"])
        if seen != match["run_id"]:
            raise HeldoutError(f"{self.source}: run folders '{seen}' and '{match['run_id']}' of {experiment}/"
                               f"{match['ratio']} both name run {run_id}; the archive is refused.")
        return ratio


def _read_aux_members(archive: tarfile.TarFile, source: Path, reader: _HashingReader,
                      progress: ImportProgress | None, total: int, result: ImportResult) -> dict:
    groups: dict[tuple[str, float], RunSetBuilder] = {}
    paths, spellings = _MemberPaths(source), _Spellings(source)
    for member in archive:
        result.n_members += 1
        name = paths.add(member)
        match = _AUX_MEMBER.match(name)
        if match is None or not member.isfile():
            continue
        what = f"{source}:{name}"
        ratio = spellings.check(match)
        budget = record_budget()
        if member.size > budget:  # refused before a byte of it is inflated
            raise HeldoutError(f"{what} is {format_bytes(member.size)}, more than the {format_bytes(budget)} a run "
                               f"record may take; if it is genuine, raise {MAX_BYTES_ENV}.")
        buffer = io.BytesIO(archive.extractfile(member).read())
        run = run_from_aux_arrays(load_npz(buffer, what, max_bytes=budget), what, subset_ratio=ratio,
                                  run_id=int(match["run_id"]))
        key = (match["experiment"], ratio)
        groups.setdefault(key, RunSetBuilder(experiment=key[0])).add(run, what)
        result.n_runs += 1
        if progress is not None:
            progress(reader.bytes_read, total, result.n_runs)
    return groups


# ---------------------------------------------------------------------------- full extraction
def check_member(member: tarfile.TarInfo, source: Path) -> None:
    """Refuse a member that could write outside the output folder or create a special file."""
    name = member.name
    what = f"{source}: member '{name}'"
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise HeldoutError(f"{what} has an absolute path; the archive is refused.")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise HeldoutError(f"{what} contains '..'; the archive is refused.")
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        raise HeldoutError(f"{what} is a device or fifo; the archive is refused.")
    if member.issym() or member.islnk():
        # The released layout has no links, and a chain of links can lead a later member
        # anywhere (CVE-2025-4517 defeats tarfile's own filter on older Pythons): refuse them all.
        raise HeldoutError(f"{what} is a link (to '{member.linkname}'); archives with links are refused.")
    if not (member.isfile() or member.isdir()):
        raise HeldoutError(f"{what} is neither a file, a folder nor a link; the archive is refused.")


def _extract_members(archive: tarfile.TarFile, source: Path, staging: Path, reader: _HashingReader,
                     progress: ImportProgress | None, total: int, result: ImportResult) -> None:
    paths, spellings = _MemberPaths(source), _Spellings(source)
    for member in archive:
        result.n_members += 1
        check_member(member, source)
        name = paths.add(member)
        match = _AUX_MEMBER.match(name)
        if match is not None:
            spellings.check(match)
        try:
            archive.extract(member, path=staging, filter="data")
        except tarfile.FilterError as exc:
            raise HeldoutError(f"{source}: member '{member.name}' is refused by the safe-extraction filter ({exc}).") from None
        if match is not None:
            result.n_runs += 1
        if progress is not None:
            progress(reader.bytes_read, total, result.n_runs)


def _move_into_place(tree: Path, out_dir: Path, overwrite: bool) -> list[Path]:
    """Move the extracted tree into ``out_dir``: whole top-level folders by one rename when new, else
    file by file, under the lock of ``out_dir``. Every destination is checked first, so a clash
    (an existing file, without ``overwrite``) leaves ``out_dir`` untouched."""
    if not tree.is_dir():   # an archive of no members
        return []
    with locks.folder_locked(out_dir):
        return _move_checked(tree, out_dir, overwrite)


def _move_checked(tree: Path, out_dir: Path, overwrite: bool) -> list[Path]:
    plan: list[tuple[Path, Path]] = []
    for top in sorted(tree.iterdir()):
        target = out_dir / top.name
        if not os.path.lexists(target):
            plan.append((top, target))
        elif top.is_dir() and target.is_dir():
            plan += [(path, target / path.relative_to(top)) for path in sorted(top.rglob("*")) if not path.is_dir()]
        else:
            plan.append((top, target))
    taken = [dest for _, dest in plan if os.path.lexists(dest) and not dest.is_dir()]
    if taken and not overwrite:
        more = f" (and {len(taken) - 1} more of the archive's files)" if len(taken) > 1 else ""
        raise HeldoutError(f"{taken[0]} already exists{more}; pass --overwrite to replace them; nothing was moved.")
    for src, dest in plan:
        if dest.is_dir() and not src.is_dir():
            raise HeldoutError(f"{dest} is a folder but the archive has a file of that name; nothing was moved.")
        for parent in dest.relative_to(out_dir).parents:
            if parent != Path(".") and (out_dir / parent).exists() and not (out_dir / parent).is_dir():
                raise HeldoutError(f"{out_dir / parent} is a file but the archive has a folder of that name; "
                                   "nothing was moved.")
    moved = []
    try:
        for src, dest in plan:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            moved.append(dest)
    except OSError as exc:
        raise HeldoutError(f"moving the extracted files into {out_dir} failed after {len(moved)} of {len(plan)} "
                           f"({exc.strerror}: {exc.filename}).") from None
    return sorted({out_dir / dest.relative_to(out_dir).parts[0] for dest in moved})


# ---------------------------------------------------------------------------- entry point
def import_archive(archive: str | os.PathLike, out_dir: str | os.PathLike, *, aux_only: bool = False,
                   verify: bool = True, expected_md5: str | None = None,
                   progress: ImportProgress | None = None, overwrite: bool = False) -> ImportResult:
    """Read a released ``.tar.gz`` once: check its MD5, and extract it or stream its run records.

    Args:
        archive: the ``.tar.gz`` file.
        out_dir: created if needed; gets the stores (``aux_only``) or the extracted tree.
        aux_only: write the compact run store instead of unpacking checkpoints.
        verify: compare the MD5 with the published (or ``expected_md5``) sum.
        expected_md5: the sum to expect, for archives whose name is not one of the released ones.
        progress: called as ``progress(bytes_read, archive_bytes, aux_files_read)`` as the pass goes.
        overwrite: replace files of ``out_dir`` that the archive (or its stores) would write;
            without it such a clash is refused and nothing is written.

    Raises:
        HeldoutError: naming the archive (and member) on an unreadable archive, a bad
            ``aux_arrays.npz``, a refused member, or an MD5 mismatch; the output folder is then
            left as it was.
    """
    source = Path(archive)
    if not source.is_file():
        raise HeldoutError(f"{source} does not exist or is not a file.")
    expected, status = expected_md5_for(source, expected_md5, verify)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError("out", f"{{parameter}} {out} exists and is not a folder.", spelled="out_dir")
    total = source.stat().st_size
    result = ImportResult(source, "", status)
    remove_stale_staging(out, STAGING_JOB)  # what killed imports left
    with staged_folder(out, STAGING_JOB) as staging:
        with open(source, "rb") as handle:
            reader = _HashingReader(handle)
            try:
                with tarfile.open(fileobj=reader, mode="r|gz", bufsize=READ_CHUNK) as tar:
                    if aux_only:
                        groups = _read_aux_members(tar, source, reader, progress, total, result)
                    else:
                        # into a subfolder: the staging folder's own .lock stays out of the tree
                        _extract_members(tar, source, staging / _TREE, reader, progress, total, result)
                reader.drain()
            except HeldoutError:
                raise
            except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                raise HeldoutError(f"{source} is not a readable tar.gz archive ({type(exc).__name__}: {exc}).") from None
        result.md5 = reader.md5.hexdigest()
        if expected is not None and result.md5 != expected:
            raise HeldoutError(f"{source} has MD5 {result.md5} but {expected} was expected; the file is damaged or "
                               f"incomplete, and nothing was written.")
        if aux_only:
            if not groups:
                raise HeldoutError(f"{source} has no <experiment>/<ratio>/<run_id>/{AUX_FILE} members.")
            sets = [groups[key].build() for key in sorted(groups)]  # every check before any write
            names = []
            for runs in sets:
                try:
                    names += [p.name for p in write_store(runs, staging)]
                except OSError as exc:
                    raise HeldoutError(f"writing the store of {runs.experiment} at ratio {runs.ratios[0]:g} into {out} "
                                       f"failed ({exc.strerror}); nothing was written.") from None
            try:
                result.written = publish_files(staging, out, names, overwrite=overwrite)
            except FileExistsError as exc:
                raise HeldoutError(f"{exc.filename} already exists; pass --overwrite to replace it; "
                                   "nothing was written.") from None
            except IsADirectoryError as exc:
                raise HeldoutError(f"{exc.filename} exists and is not a file; nothing was written.") from None
        else:
            result.written = _move_into_place(staging / _TREE, out, overwrite)
    return result
