"""The wizard's JSON state files (client ledger, profile cache, client folder stamps): one entry per line.

Written with the standard library's C encoder (``indent`` falls back to a pure-Python one, which cost a
quarter of a second per file at a few thousand clients), one line per entry so a look at the file still
reads. Any JSON reader parses the result.

A command that changes one client of ten thousand writes each file again with one entry different. A file in
exactly this shape is split into the text of each entry (``read_entries``) and read through ``Lazy``: an entry
is decoded only when asked for, and goes back as the text it was read as (``Raw``) unless it changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from json.encoder import encode_basestring_ascii as _string  # what json.dumps uses for text
from typing import TypeVar

V = TypeVar("V")


class Raw(str):
    """The JSON text of a value, as read from the file: written as it is."""


def _value(value: object) -> str:
    if type(value) is Raw:
        return value
    # Most entries are lists of strings (digests): joined here, as json.dumps would write them, without its
    # per-call set-up (a tenth of a second per hundred thousand entries).
    if type(value) is list and all(type(v) is str for v in value):
        return "[" + ", ".join(map(_string, value)) + "]"
    return json.dumps(value)


def dumps(head: Mapping[str, object], key: str, entries: Mapping[str, object]) -> bytes:
    """``head`` with ``key`` mapped to ``entries`` (in their order), each entry on a line of its own."""
    lines = [f"{_string(name)}: {_value(value)}" for name, value in entries.items()]
    outer = json.dumps({**head, key: {}})
    assert outer.endswith("{}}")
    body = "{\n" + ",\n".join(lines) + "\n}" if lines else "{}"
    return (outer[:-3] + body + "}\n").encode()


def read_entries(data: bytes, key: str) -> tuple[dict[str, object], dict[str, Raw]] | None:
    """The head and the text of each entry of a file ``dumps`` wrote, by name, without decoding the entries (a
    client command needs a handful of seventy thousand); None for a file in any other shape."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    newline = text.find("\n")
    opening = f"{_string(key)}: {{"
    if newline < 0 or not text.endswith("\n}}\n") or not text[:newline].endswith(opening):
        return None
    try:
        head = json.loads(text[:newline] + "}}")
    except ValueError:
        return None
    if not isinstance(head, dict) or list(head)[-1:] != [key] or head[key] != {} \
            or json.dumps(head)[:-3] + "{" != text[:newline]:
        return None
    del head[key]
    out: dict[str, Raw] = {}
    for line in text[newline + 1:-4].split(",\n"):
        end = line.find('": ')
        name = line[1:end]
        if end < 1 or line[0] != '"' or "\\" in name or '"' in name or "\n" in line or name in out:
            return None  # an escaped name, or not one entry per line
        out[name] = Raw(line[end + 3:])
    return head, out


class Lazy(Mapping[str, V]):
    """The entries of a state file as read (``texts``), each decoded when first asked for (a client command asks
    for one of ten thousand), beside entries this run made (``made``, which win). ``decode`` turns an entry's
    JSON value into the entry; one it refuses (KeyError, TypeError or ValueError) is a missing entry: a cache
    miss, which costs time, never a wrong answer."""

    def __init__(self, texts: Mapping[str, Raw], decode: Callable[[object], V], made: Mapping[str, V] | None = None
                 ) -> None:
        self.texts = texts
        self.decode = decode
        self.made = dict(made or {})
        self.decoded: dict[str, V] = {}

    def __getitem__(self, name: str) -> V:
        if name in self.made:
            return self.made[name]
        if name in self.decoded:
            return self.decoded[name]
        text = self.texts[name]
        try:
            value = self.decode(json.loads(text))
        except (KeyError, TypeError, ValueError):
            raise KeyError(name) from None
        self.decoded[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self.made or name in self.texts

    def __iter__(self) -> Iterator[str]:
        yield from self.made
        yield from (name for name in self.texts if name not in self.made)

    def __len__(self) -> int:
        return len(self.made) + sum(1 for name in self.texts if name not in self.made)

    def items(self) -> list[tuple[str, V]]:  # type: ignore[override]
        """Every entry that decodes, with its name (a damaged one is missing here as it is for ``get``); comparing
        two mappings goes through this."""
        out = []
        for name in self:
            try:
                out.append((name, self[name]))
            except KeyError:
                continue
        return out

    def values(self) -> list[V]:  # type: ignore[override]
        return [value for _, value in self.items()]

    def as_read(self, name: str) -> Raw | None:
        """The entry's text as read, while the entry is the one read (not one this run made)."""
        return None if name in self.made else self.texts.get(name)

    def text_of(self, name: str, value: object) -> Raw | None:
        """The text ``value`` was decoded from, when it is the very entry read for ``name``: what to write back."""
        return self.texts[name] if name not in self.made and self.decoded.get(name) is value else None
