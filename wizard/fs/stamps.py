"""What each client folder held when the wizard last left it: the stamp of the folder and of every file in it.

A plan that finds a client's folder and each of its files with the very stamps recorded here knows they still
hold what the run that recorded them wrote or checked, without reading a byte: a re-run on a server with ten
thousand clients then costs an lstat per file, not a read, a hash and a render. A stamp is the inode, size,
mtime and ctime (nanoseconds): ctime moves on any write, chmod, chown or rename and no system call sets it
back, so a hand edit, a restored backup, a chmod, or a file added to or removed from the folder (its own
stamp moves) sends that client through the full plan, which reads and checks everything again.

A stamp is recorded only once its file is older than the filesystem clock's tick (``SETTLE_NS``; two seconds
where the filesystem keeps whole seconds): a write in the same tick as the stamp could otherwise leave it
unchanged. The record is a cache: missing, damaged or stale, it costs time (the full plan), never a wrong
answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wizard.fs import jsonstate, paths
from wizard.fs.boundedread import UnreadableFile, read_regular
from wizard.fs.paths import Root, stamp_of

STAMPS = paths.WIZARD_STATE / "client-stamps.json"
VERSION = 1
MAX_BYTES = 256 * 1024 * 1024
# Filesystem timestamps come from a clock that ticks every few milliseconds (a jiffy: 10 ms at HZ=100): stamps
# are taken this long after the last write, so a later write cannot share the tick. Some filesystems keep
# whole seconds (ext4 with small inodes, FAT): a ctime without nanoseconds must be older than COARSE_NS.
SETTLE_NS = 20_000_000
COARSE_NS = 2_000_000_000


@dataclass(frozen=True)
class FolderStamps:
    inputs: str  # what the folder's files were planned from (the planner's digest)
    stamps: str  # SHA-256 of the stamps of the folder and of each regular file in it (see folder_stamps)


@dataclass(frozen=True)
class Request:
    """What a plan asks its apply to record once the files are written: the inputs of every client folder
    of the answers; ``planned`` folders (those the plan read and checked) are stamped anew, those in
    ``carried`` keep their record as it is (folders the plan left unopened), any other gets none. ``loaded``
    is the record as the plan found it: an unchanged one is not written again."""

    inputs: Mapping[str, str]
    planned: frozenset[str]
    carried: Mapping[str, FolderStamps]
    loaded: Mapping[str, FolderStamps]
    # Every folder name of the answers, when ``inputs`` holds only the planned ones (a client command).
    names: frozenset[str] | None = None

    def to_take(self) -> list[str]:
        return [name for name in self.inputs if name in self.planned]

    def result(self, taken: Mapping[str, str]) -> dict[str, FolderStamps]:
        """The new record: the carried entries, and each folder stamped now with the inputs it was planned from."""
        names = self.inputs if self.names is None else self.names
        out = {name: self.carried[name] for name in names if name in self.carried and name not in self.planned}
        out.update({name: FolderStamps(self.inputs[name], digest) for name, digest in taken.items()
                    if name in self.inputs})
        return out


def _entry(entry: object) -> FolderStamps:
    if isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, str) for v in entry):
        return FolderStamps(entry[0], entry[1])
    raise ValueError("a damaged entry")


def parse(data: bytes) -> Mapping[str, FolderStamps]:
    """The record in ``data``: each entry decoded when asked for (a damaged one is missing: that folder takes the
    full plan), or, in any other shape than ``render`` writes, all at once."""
    found = jsonstate.read_entries(data, "clients")
    if found is not None:
        head, texts = found
        if head.get("version") != VERSION:
            raise ValueError(f"not a version {VERSION} stamp record")
        return jsonstate.Lazy(texts, _entry)
    raw = json.loads(data)
    if not isinstance(raw, dict) or raw.get("version") != VERSION or not isinstance(raw.get("clients"), dict):
        raise ValueError(f"not a version {VERSION} stamp record")
    return {str(name): _entry(entry) for name, entry in raw["clients"].items()}


def load(root: Root) -> Mapping[str, FolderStamps]:
    """The record under ``root``; empty when it is missing or damaged (every client then takes the full plan)."""
    try:
        return parse(read_regular(root(STAMPS), MAX_BYTES))
    except (OSError, UnreadableFile, ValueError, UnicodeDecodeError):
        return {}


def render(records: Mapping[str, FolderStamps], loaded: Mapping[str, FolderStamps] | None = None) -> bytes:
    """The record's file; entries still the very objects of the ``loaded`` record keep their text."""
    lazy = loaded if isinstance(loaded, jsonstate.Lazy) else None
    entries = {name: (lazy.text_of(name, r) if lazy is not None else None) or [r.inputs, r.stamps]
               for name, r in sorted(records.items())}
    return jsonstate.dumps({"version": VERSION}, "clients", entries)


def folder_stamps(dir_fd: int, name: str) -> tuple[str, list[int]] | None:
    """The digest of the stamps of folder ``name`` under the directory open as ``dir_fd`` and of every regular
    file in it, with their ctimes; None when it is missing or not a directory. Nothing is
    followed: the folder is opened without following a link, its entries are looked at relative to it."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        found = [("", stamp_of(st))]
        with os.scandir(fd) as entries:
            for entry in entries:
                est = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(est.st_mode):
                    found.append((entry.name, stamp_of(est)))
    except OSError:
        return None
    finally:
        os.close(fd)
    found.sort()
    text = "\n".join(f"{n}\0{s}" for n, s in found)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest(), [s[4] for _, s in found]


def holds(dir_fd: int, name: str, record: FolderStamps, inputs: str) -> bool:
    """True when the folder ``name`` and every file in it carry the recorded stamps, recorded for ``inputs``."""
    if record.inputs != inputs:
        return False
    now = folder_stamps(dir_fd, name)
    return now is not None and now[0] == record.stamps


def take(dir_fd: int, names: Iterable[str]) -> dict[str, str]:
    """The stamps digest of each named folder under ``dir_fd``. A missing folder, one that is not a directory,
    or one where anything changed within the last clock tick (``settle`` first) gets none: the next plan
    opens it."""
    now = time.time_ns()
    out = {}
    for name in names:
        found = folder_stamps(dir_fd, name)
        if found is not None and all(settled(ctime, now) for ctime in found[1]):
            out[name] = found[0]
    return out


def settled(ctime: int, now: int) -> bool:
    """Whether a file changed at ``ctime`` lies a clock tick before ``now``."""
    return ctime < now - (SETTLE_NS if ctime % 1_000_000_000 else COARSE_NS)


def settle(since_ns: int) -> None:
    """Wait until a write made before ``since_ns`` lies a clock tick in the past (see SETTLE_NS)."""
    left = since_ns + SETTLE_NS - time.time_ns()
    if left > 0:
        time.sleep(left / 1e9)
