"""Rendered profiles remembered by what they were rendered from, so an unchanged client costs a file read.

Rendering is a pure function of a profile (or README) value and of the wizard's own code. With thousands of
clients, re-rendering every .mobileconfig, .ps1 and README on each command was most of a no-op run. The cache
records, for each profile file written, a digest of its inputs and of its content. A later plan takes the
file's bytes from disk instead of rendering only when the inputs digest matches and the file on disk still
hashes to what was written; anything else (a hand edit, a changed answer, an upgraded wizard, no record)
renders again. The result is byte for byte what rendering would give.

The inputs include passwords and keys: they enter the digest after a random salt kept with the cache (0600),
so the file holds nothing that tests a guessed password faster than the PKCS#12 beside it does.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from wizard.fs import jsonstate, paths
from wizard.fs.boundedread import UnreadableFile, read_regular
from wizard.fs.changes import FileAction
from wizard.fs.paths import Root

CACHE = paths.WIZARD_STATE / "profiles.json"
VERSION = 1
MAX_BYTES = 64 * 1024 * 1024
T = TypeVar("T")
MAX_FILE = 4 * 1024 * 1024  # a profile is kilobytes; a larger file is not one the wizard wrote


@cache
def code_digest() -> bytes:
    """The wizard's own source: a renderer that changed (an upgrade) must not be answered from the cache."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[2]
    for source in sorted(package.rglob("*.py")):
        h.update(source.relative_to(package).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return h.digest()


Memo = dict[int, tuple[object, bytes]]


def _tagged(tag: bytes, data: bytes) -> bytes:
    return tag + len(data).to_bytes(8, "big") + data


_LAYOUTS: dict[type, tuple[bytes, tuple[str, ...], bool]] = {}


def _layout(cls: type) -> tuple[bytes, tuple[str, ...], bool]:
    """A dataclass's encoded header (its name and field names), its field names, and whether it is frozen."""
    if cls in _LAYOUTS:
        return _LAYOUTS[cls]
    names = tuple(f.name for f in dataclasses.fields(cls))
    header = _tagged(b"s", cls.__qualname__.encode()) + b"".join(_tagged(b"s", n.encode()) for n in names)
    frozen = cls.__setattr__ is not object.__setattr__  # frozen dataclasses refuse writes
    _LAYOUTS[cls] = (header, names, frozen)
    return _LAYOUTS[cls]


def _feed(h: Any, value: object, memo: Memo) -> None:
    """A canonical, typed encoding of ``value`` into the hash: equal digests mean equal inputs.

    A dataclass enters as the digest of its own encoding, computed once per object (``memo``, keyed by
    identity and holding the object so the identity cannot be reused): every profile shares one server view.
    Exact types are tested first: this runs some thirty times per profile, ten thousand profiles a run."""
    t = type(value)
    if t is str:
        h.update(_tagged(b"s", value.encode("utf-8", "surrogatepass")))  # type: ignore[attr-defined]
    elif t is bytes:
        h.update(_tagged(b"b", value))  # type: ignore[arg-type]
    elif value is None or t is bool:
        h.update(_tagged(b"c", repr(value).encode()))
    elif t is tuple or t is list:
        h.update(_tagged(b"l", str(len(value)).encode()))  # type: ignore[arg-type]
        for item in value:  # type: ignore[attr-defined]
            _feed(h, item, memo)
    elif isinstance(value, enum.Enum):
        h.update(_tagged(b"e", t.__name__.encode()))
        _feed(h, value.value, memo)
    elif isinstance(value, (int, float)):
        h.update(_tagged(b"n", repr(value).encode()))
    elif isinstance(value, str):
        h.update(_tagged(b"s", value.encode("utf-8", "surrogatepass")))
    elif isinstance(value, bytes):
        h.update(_tagged(b"b", value))
    elif isinstance(value, datetime):
        h.update(_tagged(b"t", value.isoformat().encode()))
    elif isinstance(value, x509.Certificate):
        h.update(_tagged(b"x", value.public_bytes(serialization.Encoding.DER)))
    elif isinstance(value, (list, tuple)):
        h.update(_tagged(b"l", str(len(value)).encode()))
        for item in value:
            _feed(h, item, memo)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        header, names, frozen = _layout(t)
        # Only frozen values are remembered: a mutable one may have changed since.
        known = memo.get(id(value)) if frozen else None
        if known is None:
            inner = hashlib.sha256(header)
            for name in names:
                _feed(inner, getattr(value, name), memo)
            known = (value, inner.digest())
            if frozen:
                memo[id(value)] = known
        h.update(_tagged(b"d", known[1]))
    else:
        # Anything else has no canonical form here: refusing beats a digest that misses a difference.
        raise TypeError(f"no canonical encoding for {t.__name__}")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Entry(NamedTuple):  # a tuple: tens of thousands are read per run
    inputs: str
    content: str  # SHA-256 of the bytes written


def _entry(pair: object) -> Entry:
    if type(pair) is list and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is str:
        return Entry(*pair)
    raise ValueError("not an entry")


@dataclass
class ProfileCache:
    salt: str = field(default_factory=lambda: secrets.token_hex(16))
    entries: Mapping[str, Entry] = field(default_factory=dict)
    # This plan's files, the next cache: an entry, or the text of one carried as read (``keep_others``).
    written: dict[str, Entry | jsonstate.Raw] = field(default_factory=dict)
    reused: int = 0
    # What every client's files were last planned against (see planner.client_context): a client command
    # plans only its own client while this is unchanged.
    context: str = ""
    _memo: Memo = field(default_factory=dict, repr=False)

    def key(self, kind: str, value: object) -> str:
        h = hashlib.sha256(bytes.fromhex(self.salt))
        h.update(code_digest())
        _feed(h, kind, self._memo)
        _feed(h, value, self._memo)
        return h.hexdigest()

    @staticmethod
    def derived(inputs: str, part: str) -> str:
        """The inputs of one file made from inputs already digested (one profile, several formats)."""
        return hashlib.sha256(bytes.fromhex(inputs) + part.encode()).hexdigest()

    def may_hold(self, logical: PurePosixPath, inputs: str) -> bool:
        """Whether the cache has a record of this file from these inputs (``content`` then checks the disk)."""
        entry = self.entries.get(str(logical))
        return entry is not None and entry.inputs == inputs

    def content(self, root: Root, logical: PurePosixPath, inputs: str, render: Callable[[T], bytes], value: T
                ) -> bytes:
        """The file's content: from disk when the cache vouches for it, else rendered. Either way recorded."""
        entry = self.entries.get(str(logical))
        data = _on_disk(root, logical) if entry is not None and entry.inputs == inputs else None
        if data is not None and entry is not None and _digest(data) == entry.content:
            self.reused += 1
        else:
            data = render(value)
        new = Entry(inputs, _digest(data))
        self.written[str(logical)] = entry if entry == new else new  # the entry as read, when unchanged
        return data

    def keep_others(self, planned: Collection[str], existing: Collection[str]) -> None:
        """A plan of some clients only: the records of the other ``existing`` clients stay as they are."""
        base = f"{paths.CLIENTS_DIR}/"
        lazy = self.entries if isinstance(self.entries, jsonstate.Lazy) else None
        for path in self.entries:
            name = path[len(base):].partition("/")[0] if path.startswith(base) else ""
            if name and name not in planned and name in existing:
                text = lazy.as_read(path) if lazy is not None else None
                self.written.setdefault(path, text if text is not None else self.entries[path])

    def action(self, context: str) -> FileAction:
        lazy = self.entries if isinstance(self.entries, jsonstate.Lazy) else None

        def encoded(path: str, e: Entry | jsonstate.Raw) -> object:
            """An entry as read goes back as its text; a new one is encoded."""
            if isinstance(e, jsonstate.Raw):
                return e
            text = lazy.text_of(path, e) if lazy is not None else None
            return text if text is not None else [e.inputs, e.content]

        files = {path: encoded(path, e) for path, e in sorted(self.written.items())}
        head = {"version": VERSION, "salt": self.salt, "context": context}
        return FileAction(CACHE, jsonstate.dumps(head, "files", files), 0o600,
                          why="what each client profile was rendered from, to skip rendering it again")


def _on_disk(root: Root, logical: PurePosixPath) -> bytes | None:
    try:
        return root.read_bytes(logical, MAX_FILE)  # a link anywhere on the way is refused
    except OSError:
        return None


def parse(data: bytes) -> ProfileCache:
    found = jsonstate.read_entries(data, "files")
    if found is not None:
        # The file as this module writes it: the head checked now, each entry when asked for.
        head, lines = found
        salt, context = head.get("salt"), head.get("context", "")
        if head.get("version") != VERSION:
            raise ValueError(f"not a version {VERSION} profile cache")
        if not isinstance(salt, str) or len(salt) != 32:
            raise ValueError("no salt")
        bytes.fromhex(salt)
        return ProfileCache(salt, jsonstate.Lazy(lines, _entry), context=context if isinstance(context, str) else "")
    raw = json.loads(data)
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} profile cache")
    salt, files, context = raw.get("salt"), raw.get("files"), raw.get("context", "")
    if not isinstance(salt, str) or len(salt) != 32 or not isinstance(files, dict):
        raise ValueError("no salt or no files")
    bytes.fromhex(salt)
    entries = {path: _entry(pair) for path, pair in files.items()}  # ValueError: a damaged entry
    return ProfileCache(salt, entries, context=context if isinstance(context, str) else "")


def load(root: Root) -> ProfileCache:
    """The cache under ``root``; an empty one when it is missing or damaged (it costs time, never safety)."""
    try:
        return parse(read_regular(root(CACHE), MAX_BYTES))
    except (OSError, UnreadableFile, ValueError, UnicodeDecodeError):
        return ProfileCache()
