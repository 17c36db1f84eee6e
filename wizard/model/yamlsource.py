"""Safe YAML loading that remembers which line each value came from.

Answers files are small mappings of scalars and lists. Anchors and aliases are refused outright:
they are never needed here and are how a "billion laughs" document explodes on load.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from wizard import problems

# Ten thousand clients with long names and generated passwords take about 1.7 MB: room for several times that.
MAX_BYTES = 16 * 1024 * 1024
# An answers file nests five or six levels; the composer and everything after it recurse per level, so a
# deep document ("[[[[..." or thousands of nested mappings) would end in a RecursionError.
MAX_DEPTH = 32
# From this size on (some 400 clients; no hand-written file is that long) libyaml reads it: see _fast_node.
FAST_FROM = 64 * 1024

Path_ = tuple[str | int, ...]


class DataMemo(Protocol):
    """The data of texts read before, by SHA-256 (wizard.fs.answersmemo keeps one under the root)."""

    def get(self, text_digest: str) -> dict[str, Any] | None: ...

    def keep(self, text_digest: str, data: dict[str, Any]) -> None: ...


class YamlProblem(ValueError):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class LoadedYaml:
    data: Any
    _lines: dict[Path_, int] | None = None
    # The text the lines are found in when asked for (the fast path reads data only: lines are for messages).
    _text: str = field(default="", repr=False)

    @property
    def lines(self) -> dict[Path_, int]:
        if self._lines is None:
            self._lines = _lines_of(self._text)
        return self._lines

    def line_of(self, path: Path_) -> int | None:
        """The line of the closest value the parser saw at or above ``path``."""
        path = tuple(path)
        lines = self.lines
        while True:
            if path in lines:
                return lines[path]
            if not path:
                return None
            path = path[:-1]


class _NoAliasComposer(yaml.SafeLoader):
    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.depth >= MAX_DEPTH:
            raise YamlProblem(f"nested more than {MAX_DEPTH} levels deep; an answers file never is",
                              self.peek_event().start_mark.line + 1)
        self.depth += 1
        try:
            return self._compose_checked(parent, index)
        finally:
            self.depth -= 1

    def _compose_checked(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlProblem("YAML aliases (*name) are not allowed in an answers file",
                              event.start_mark.line + 1)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise YamlProblem("YAML anchors (&name) are not allowed in an answers file",
                              event.start_mark.line + 1)
        return super().compose_node(parent, index)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in seen:
                # PyYAML would silently keep the last value; an answer given twice is a mistake.
                raise YamlProblem(f"key '{problems.visible(str(key))}' appears twice in the same mapping",
                                  key_node.start_mark.line + 1)
            seen.add(key)
            _walk(value_node, (*path, key), lines)
            # Point at the key's line: it is where the field starts, and where a misspelled key stands.
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


# A resolver and constructor for plain scalars (the document's own loader is libyaml's parser).
_SCALARS = yaml.SafeLoader("")
_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp"))
_REFUSED = object()


def _plain(value: str) -> object:
    """A plain scalar as SafeLoader constructs it; _REFUSED for a merge key (<<) or "=", which take the
    pure path."""
    tag = _SCALARS.resolve(yaml.ScalarNode, value, (True, False))
    if tag not in _TAGS:
        return _REFUSED
    return _SCALARS.yaml_constructors[tag](_SCALARS, yaml.ScalarNode(tag, value))


def _fast_data(text: str) -> dict[str, Any] | None:
    """The document's data straight from libyaml's events, for a document the checks would pass; None sends
    it to the pure-Python composer, which makes the same checks as it goes and words every refusal (and PyYAML
    without libyaml takes that path always).

    libyaml parses an answers file of ten thousand clients ten times faster, and building the data from its
    events (plain scalars resolved and constructed as SafeLoader does, once per distinct text) skips the node
    tree and the line table: lines are found only when a message needs one. An alias, an anchor, a tag, deep
    nesting, a key given twice or a second document never gets past the event it starts with. libyaml is
    also more lenient in corners (a tab after a block scalar's indicator): files under FAST_FROM, which
    people write by hand, keep the pure reader's exact judgement; the large ones are the wizard's own."""
    if len(text) < FAST_FROM or not getattr(yaml, "__with_libyaml__", False):
        return None
    memo: dict[str, object] = {}
    # Per open collection: the collection, and for a mapping its key awaiting a value and the keys seen.
    stack: list[tuple[Any, list[Any], set[str] | None]] = []
    top: object = _REFUSED
    documents = 0
    try:
        events: Iterable[Any] = yaml.parse(text, Loader=yaml.CSafeLoader)  # type tests below, not isinstance
        for event in events:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    return None
                raw = event.value
                if event.implicit[0]:
                    value = memo.get(raw, _REFUSED)
                    if value is _REFUSED:
                        value = memo[raw] = _plain(raw)
                        if value is _REFUSED:
                            return None
                else:
                    value = raw  # quoted or block: a string
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH - 3:
                    return None  # the exact depth limit is the pure composer's to judge, and word
                if kind is yaml.MappingStartEvent:
                    stack.append(({}, [_REFUSED], set()))
                else:
                    stack.append(([], [_REFUSED], None))
                continue
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                value, raw = stack.pop()[0], None
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return None
                continue
            elif kind is yaml.AliasEvent:
                return None
            else:
                continue  # stream and document ends
            if not stack:
                top = value
                continue
            container, pending, seen = stack[-1]
            if seen is None:
                container.append(value)
            elif pending[0] is _REFUSED:
                if raw is None or raw in seen:
                    return None  # a collection as a key, or a key given twice: for the pure path to word
                seen.add(raw)
                pending[0] = value
            else:
                container[pending[0]] = value
                pending[0] = _REFUSED
    except yaml.YAMLError:
        return None
    return top if isinstance(top, dict) else None  # anything else is refused, in the pure path's words


def _lines_of(text: str) -> dict[Path_, int]:
    """The line of every value of a document the fast path read (so the checks passed already)."""
    loader = yaml.CSafeLoader(text) if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return lines


def decode(data: bytes) -> str:
    """UTF-8 text (a UTF-8 byte order mark is allowed); anything else is named, not guessed at."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise YamlProblem("file is UTF-16 (or UTF-32) text; save it as UTF-8")
    if b"\0" in data:
        raise YamlProblem("file holds NUL bytes (UTF-16 without a byte order mark, or binary); save it as UTF-8 text",
                          data[:data.index(b"\0")].count(b"\n") + 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise YamlProblem(f"file is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x}); save it as UTF-8",
                          line) from None


def load(text: str | bytes, memo: DataMemo | None = None) -> LoadedYaml:
    """The document's data, and its lines when a message needs one. With ``memo``, a large text read before
    is not parsed again, and one parsed now is offered to the memo."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise YamlProblem(f"file is larger than {MAX_BYTES // 1024} KiB; an answers file is never that big")
        text = decode(text)
    elif len(text.encode()) > MAX_BYTES:
        raise YamlProblem(f"file is larger than {MAX_BYTES // 1024} KiB; an answers file is never that big")
    text_digest = hashlib.sha256(text.encode()).hexdigest() if memo is not None and len(text) >= FAST_FROM else ""
    if text_digest and memo is not None:
        data = memo.get(text_digest)
        if data is not None:
            return LoadedYaml(data, _text=text)
    data = _fast_data(text)
    if data is not None:
        if text_digest and memo is not None:
            memo.keep(text_digest, data)
        return LoadedYaml(data, _text=text)
    try:
        loader = _NoAliasComposer(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is None:
            raise YamlProblem("the document is empty; expected a mapping with 'version: 1' at the top")
        lines: dict[Path_, int] = {}
        _walk(node, (), lines)
        constructor = yaml.SafeLoader("")
        data = constructor.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"not valid YAML: {exc.problem or exc}"
        context = exc.context_mark
        if exc.context and context is not None and mark is not None and context.line != mark.line:
            message += f" ({exc.context} started on line {context.line + 1})"
        raise YamlProblem(message, mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        # Its own str() spans two lines and prints the character itself: name it, on one line.
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        line = text[:exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        raise YamlProblem(f"not valid YAML: {exc.reason} {problems.char_name(char)}", line) from None
    except yaml.YAMLError as exc:
        # One line: PyYAML's own text goes on with "in <unicode string>, position N".
        raise YamlProblem(f"not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        # The depth limit above should come first; this keeps any other deep path from a traceback.
        raise YamlProblem("nested too deeply; an answers file never is") from None
    if not isinstance(data, dict):
        raise YamlProblem(f"the document is a {type(data).__name__}, expected a mapping of answers",
                          node.start_mark.line + 1)
    return LoadedYaml(data, lines)
