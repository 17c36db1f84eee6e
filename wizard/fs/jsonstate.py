"""The wizard's JSON state files (client ledger, profile cache): one entry per line.

Written with the standard library's C encoder (``indent`` falls back to a pure-Python one, which cost a
quarter of a second per file at a few thousand clients), one line per entry so a look at the file still
reads. Any JSON reader parses the result.

A command that changes one client of ten thousand writes each file again with one entry different. A file in
exactly this shape is split into the text of each entry (``read_entries``): the ledger and the profile cache
decode an entry only when asked for, and every entry goes back as the text it was read as (``Raw``) unless it
changed; the stamps record decodes all and keeps the texts beside them (``entry_texts``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _string  # what json.dumps uses for text


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


def entry_texts(data: bytes, raw: Mapping[str, object], key: str) -> dict[str, Raw]:
    """The JSON text of each entry under ``key`` of ``data`` (which parsed into ``raw``), by name, when the file
    is exactly what ``dumps`` writes for it; otherwise none (nothing is reused, everything encoded)."""
    entries = raw.get(key)
    if not isinstance(entries, dict) or not entries:
        return {}
    found = read_entries(data, key)
    if found is None or found[1].keys() != entries.keys():
        return {}
    return found[1]
