"""YAML text of plain data (mappings, lists, strings, integers, booleans, None), byte for byte what
``yaml.dump(data, Dumper=CSafeDumper, sort_keys=False, default_flow_style=None)`` writes, in a third of the time.

PyYAML's representer builds a node per value through a chain of Python calls before libyaml's emitter sees it;
an answers file of ten thousand clients spent most of a second there on every `client add`. Here the events
go to the emitter directly: a collection of scalars only is written in flow style (what default_flow_style=None
chooses), and a string is left plain only where reading it back gives the same string (the resolver's
judgement, asked once per distinct text). Anything else (a float, a date, a set) takes yaml.dump itself.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_STR = "tag:yaml.org,2002:str"
_RESOLVER = yaml.SafeLoader("")


class _Unsupported(Exception):
    pass


def _events(data: Any, block_root: bool = False) -> list[yaml.Event]:
    out: list[yaml.Event] = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=False)]
    plain_ok: dict[str, bool] = {}

    def scalar(value: Any) -> None:
        kind = type(value)
        if kind is str:
            ok = plain_ok.get(value)
            if ok is None:
                ok = plain_ok[value] = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR
            out.append(yaml.ScalarEvent(None, None, (ok, True), value))
        elif kind is bool:
            out.append(yaml.ScalarEvent(None, None, (True, False), "true" if value else "false"))
        elif value is None:
            out.append(yaml.ScalarEvent(None, None, (True, False), "null"))
        elif kind is int:
            out.append(yaml.ScalarEvent(None, None, (True, False), str(value)))
        else:
            raise _Unsupported(kind.__name__)

    def walk(value: Any) -> None:
        kind = type(value)
        if kind is dict:
            flow = not any(type(v) is dict or type(v) is list for v in value.values())
            out.append(yaml.MappingStartEvent(None, None, True, flow_style=flow))
            for key, item in value.items():
                scalar(key)
                walk(item)
            out.append(yaml.MappingEndEvent())
        elif kind is list:
            flow = not any(type(v) is dict or type(v) is list for v in value)
            out.append(yaml.SequenceStartEvent(None, None, True, flow_style=flow))
            for item in value:
                walk(item)
            out.append(yaml.SequenceEndEvent())
        else:
            scalar(value)

    if block_root:  # one entry of a block mapping, whatever its value
        out.append(yaml.MappingStartEvent(None, None, True, flow_style=False))
        for key, item in data.items():
            scalar(key)
            walk(item)
        out.append(yaml.MappingEndEvent())
    else:
        walk(data)
    out += [yaml.DocumentEndEvent(explicit=False), yaml.StreamEndEvent()]
    return out


def _emit(data: Any, width: int) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    try:
        events = _events(data)
    except _Unsupported:
        return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=None, width=width)
    return yaml.emit(events, Dumper=dumper, width=width)


# A word the emitter writes whole: no indicator, space, quote or escape, well short of the 128 characters beyond
# which a key is no longer simple. It goes plain where it reads back as a string (the resolver's judgement) and
# has no colon (which flow style would quote), else in single quotes (a number, a boolean, a time stamp).
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@/+=:-]{0,63}\Z")


class _Words:
    """Scalars, and collections of them, as the emitter writes them where that is beyond doubt; None otherwise."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.memo: dict[str, str | None] = {}

    def text(self, value: Any) -> str | None:
        kind = type(value)
        if kind is str:
            known = self.memo.get(value, "")
            if known == "":
                known = self.memo[value] = self._word(value)
            return known
        if kind is bool:
            return "true" if value else "false"
        if value is None:
            return "null"
        if kind is int:
            return str(value)
        return None

    @staticmethod
    def _word(value: str) -> str | None:
        if not _WORD.match(value):
            return None
        if _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _STR:
            return f"'{value}'"
        return None if ":" in value else value

    def flow(self, value: Any, column: int, indent: int) -> str | None:
        """A collection of scalars in flow style whose opening bracket is written at ``column``, wrapped as the
        emitter wraps it: before an item (after its comma) once the line has gone past the width, the next
        line indented by ``indent``. A scalar as it is; None for anything else."""
        if type(value) is dict:
            pairs = [(self.text(k), self.text(v)) for k, v in value.items()]
            parts = [f"{k}: {v}" if k is not None and v is not None else None for k, v in pairs]
            opening, closing = "{", "}"
        elif type(value) is list:
            parts, opening, closing = [self.text(v) for v in value], "[", "]"
        else:
            return self.text(value)
        out, column = [opening], column + 1
        for i, part in enumerate(parts):
            if part is None:
                return None
            if i:
                out.append(",")
                column += 1
            if column > self.width:
                out.append("\n" + " " * indent)
                column = indent
            elif i:
                out.append(" ")
                column += 1
            out.append(part)
            column += len(part)
        out.append(closing)
        return "".join(out)

    def entry(self, item: Any) -> str | None:
        """The lines of one mapping in a block sequence at column 0."""
        if type(item) is not dict or not item:
            return None
        if not any(type(v) is dict or type(v) is list for v in item.values()):
            text = self.flow(item, 2, 2)
            return None if text is None else f"- {text}\n"
        lines = []
        for k, v in item.items():
            key = self.text(k)
            if key is None:
                return None
            text = self.flow(v, 2 + len(key) + 2, 4)
            if text is None:
                return None
            lines.append(f"{key}: {text}")
        return "- " + "\n  ".join(lines) + "\n"


def _block_list(key: str, items: list[Any], words: _Words, width: int) -> str:
    out = [f"{key}:\n"]
    for item in items:
        if type(item) is dict or type(item) is list:
            text = words.entry(item)
            out.append(text if text is not None else _emit([item], width))
            continue
        # A scalar alone in a list would be written in flow style: only a word is written here.
        word = words.text(item)
        if word is None:
            raise _Unsupported(type(item).__name__)
        out.append(f"- {word}\n")
    return "".join(out)


def dump(data: Any, width: int = 100) -> str:
    if (type(data) is not dict
            or not any(type(v) is list and len(v) > 1 and any(type(i) is dict for i in v) for v in data.values())):
        return _emit(data, width)
    # A top-level mapping with a list of mappings: block style, one key after the other.
    words, out = _Words(width), []
    for key, value in data.items():
        name = words.text(key)
        if name is None or type(key) is not str:
            return _emit(data, width)
        if type(value) is list and any(type(i) is dict or type(i) is list for i in value):
            try:
                out.append(_block_list(name, value, words, width))
            except _Unsupported:
                return _emit(data, width)
        elif type(value) is dict or type(value) is list:
            out.append(_emit({key: value}, width))
        else:
            text = words.text(value)
            if text is not None:
                out.append(f"{name}: {text}\n")
                continue
            try:  # e.g. a string with spaces: as the emitter writes it in a block mapping
                out.append(yaml.emit(_events({key: value}, block_root=True),
                                     Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), width=width))
            except _Unsupported:
                return _emit(data, width)
    return "".join(out)
