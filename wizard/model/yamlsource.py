"""Safe YAML loading that remembers which line each value came from.

Answers files are small mappings of scalars and lists. Anchors and aliases are refused outright:
they are never needed here and are how a "billion laughs" document explodes on load.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Any

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


class YamlProblem(ValueError):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class LoadedYaml:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of the closest value the parser saw at or above ``path``."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
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


def _fast_node(text: str) -> yaml.Node | None:
    """The document's node tree from libyaml, for a document the checks would pass; None sends it to the
    pure-Python composer, which makes the same checks as it goes and words every refusal (and PyYAML
    without libyaml takes that path always).

    libyaml parses an answers file of ten thousand clients ten times faster. Its events are looked at
    before anything is composed: an alias, an anchor, a tag or deep nesting never reaches its composer.
    It is also more lenient in corners (a tab after a block scalar's indicator): files under FAST_FROM,
    which people write by hand, keep the pure reader's exact judgement; the large ones are the wizard's own."""
    if len(text) < FAST_FROM or not getattr(yaml, "__with_libyaml__", False):
        return None
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            # Aliases, anchors and tags (an answers file needs none) are for the pure composer to word.
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None \
                    or getattr(event, "tag", None) is not None:
                return None
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth >= MAX_DEPTH - 2:  # a margin: the exact limit is the pure composer's to judge
                    return None
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        loader = yaml.CSafeLoader(text)
        try:
            node: yaml.Node | None = loader.get_single_node()
        finally:
            loader.dispose()
        return node if isinstance(node, yaml.MappingNode) else None  # anything else is refused, in those words
    except yaml.YAMLError:
        return None


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


def load(text: str | bytes) -> LoadedYaml:
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise YamlProblem(f"file is larger than {MAX_BYTES // 1024} KiB; an answers file is never that big")
        text = decode(text)
    elif len(text.encode()) > MAX_BYTES:
        raise YamlProblem(f"file is larger than {MAX_BYTES // 1024} KiB; an answers file is never that big")
    try:
        node = _fast_node(text)
        if node is None:
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
