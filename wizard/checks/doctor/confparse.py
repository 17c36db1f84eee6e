"""Readers for strongSwan's configuration syntaxes that keep every value's file and line.

The doctor needs to point at the line that is wrong, which the daemon's own parsers do not always
say ("syntax error, unexpected end of file"), and it must read files it did not write. These readers
are tolerant: a problem becomes a :class:`SyntaxProblem` with its line, never an exception, and
what could be read is still returned. They do not judge values; charon does (see ``daemoncheck``).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Loc:
    """A place in a file, by its logical path (as on the live system, not under --root)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Setting:
    value: str
    loc: Loc


@dataclass(frozen=True)
class SyntaxProblem:
    loc: Loc
    message: str


@dataclass
class Section:
    """A ``name { ... }`` section of strongswan.conf / swanctl.conf syntax."""

    name: str
    loc: Loc
    indent: int = -1  # of the line that opened it (a hint where a brace went missing)
    values: dict[str, Setting] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        setting = self.values.get(key)
        return setting.value if setting else None

    def section(self, *names: str) -> Section | None:
        node: Section | None = self
        for name in names:
            node = node.sections.get(name) if node else None
        return node

    def find_key(self, key: str) -> Setting | None:
        """A key here or in any subsection (depth first): where charon's "invalid value for: X" points."""
        if key in self.values:
            return self.values[key]
        for sub in self.sections.values():
            found = sub.find_key(key)
            if found:
                return found
        return None


# Reads a logical path's text from the root being examined; None when the file is missing.
Reader = Callable[[PurePosixPath], "str | None"]
# Expands a logical glob pattern to logical paths (sorted), within the root being examined.
Globber = Callable[[PurePosixPath], "list[PurePosixPath]"]


def root_reader(root_path: Path) -> tuple[Reader, Globber]:
    def real(logical: PurePosixPath) -> Path:
        return root_path.joinpath(*logical.parts[1:])

    def read(logical: PurePosixPath) -> str | None:
        try:
            return real(logical).read_text(errors="replace")
        except (OSError, ValueError):
            return None

    def expand(pattern: PurePosixPath) -> list[PurePosixPath]:
        base = str(root_path).rstrip("/")
        hits = sorted(glob.glob(str(real(pattern))))
        return [PurePosixPath("/" + h[len(base):].lstrip("/")) for h in hits if Path(h).is_file()]

    return read, expand


# ---------------------------------------------------------------------------------------------- settings

_KEY = re.compile(r"^[A-Za-z0-9_.%\-*]+$")


def _strip_comment(line: str) -> str:
    """Drop a ``#`` comment that is not inside double quotes."""
    quoted = False
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[:i]
    return line


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _unquote(value: str) -> str:
    """A settings value as charon's lexer reads it: escapes left to right, ``\\x`` is ``x`` itself."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), value[1:-1], flags=re.DOTALL)
    return value


def _unquote_secret(value: str) -> str:
    """An ipsec.secrets value: charon takes what lies between the quotes as it is (the file has no escapes)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_settings(path: PurePosixPath, read: Reader, expand: Globber, *, _depth: int = 0,
                   _into: Section | None = None,
                   _problems: list[SyntaxProblem] | None = None) -> tuple[Section, list[SyntaxProblem]]:
    """Parse strongswan.conf / swanctl.conf syntax, following ``include`` (relative to the file)."""
    top = _into or Section("", Loc(str(path), 0))
    problems = _problems if _problems is not None else []
    text = read(path)
    if text is None:
        problems.append(SyntaxProblem(Loc(str(path), 0), "cannot read the file"))
        return top, problems
    stack: list[Section] = [top]
    pending: tuple[str, int] | None = None  # a section name on its own line, its "{" comes next
    mismatch_reported = False
    for number, raw in enumerate(text.splitlines(), 1):
        loc = Loc(str(path), number)
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if pending is not None:
            if line.startswith("{"):
                stack.append(_open(stack[-1], pending[0], Loc(str(path), pending[1])))
                pending = None
                line = line[1:].strip()
                if not line:
                    continue
            else:
                problems.append(SyntaxProblem(Loc(str(path), pending[1]), f"'{pending[0]}' is neither a "
                                              "setting (key = value) nor a section (name {)"))
                pending = None
        if line.startswith("include ") and "=" not in line:
            pattern = _unquote(line[len("include "):])
            target = PurePosixPath(pattern) if pattern.startswith("/") else path.parent / pattern
            if _depth > 10:
                problems.append(SyntaxProblem(loc, "includes nested too deeply"))
                continue
            for included in expand(target):
                parse_settings(included, read, expand, _depth=_depth + 1, _into=stack[-1], _problems=problems)
            continue
        if line == "}":
            if len(stack) == 1:
                problems.append(SyntaxProblem(loc, "'}' closes no section"))
                continue
            closed = stack.pop()
            indent = len(raw) - len(raw.lstrip())
            if closed.indent >= 0 and indent != closed.indent and not mismatch_reported:
                # Files are indented consistently (Swan Wizard's are): a '}' that closes a section of another
                # depth means a brace went missing or was added in between. Said once: the rest follows.
                mismatch_reported = True
                problems.append(SyntaxProblem(loc, f"this '}}' closes section '{closed.name}' opened at line "
                                              f"{closed.loc.line} with another indentation: a brace is missing or "
                                              f"extra between lines {closed.loc.line} and {number}"))
            continue
        if "=" in line and ("{" not in line or line.index("=") < line.index("{")):
            key, _, value = line.partition("=")
            key = key.strip()
            if not _KEY.match(key):
                problems.append(SyntaxProblem(loc, f"'{key}' is not a valid setting name"))
                continue
            stack[-1].values[key] = Setting(_unquote(value), loc)
            continue
        if line.endswith("{"):
            name = line[:-1].strip()
            if not _KEY.match(name):
                problems.append(SyntaxProblem(loc, f"'{name}' is not a valid section name"))
            section = _open(stack[-1], name, loc)
            section.indent = len(raw) - len(raw.lstrip())
            stack.append(section)
            continue
        if _KEY.match(line):
            pending = (line, number)
            continue
        problems.append(SyntaxProblem(loc, f"cannot read '{line}': expected 'key = value', 'name {{' or '}}'"))
    if pending is not None:
        problems.append(SyntaxProblem(Loc(str(path), pending[1]), f"'{pending[0]}' is neither a setting nor "
                                      "a section"))
    for unclosed in stack[1:]:
        problems.append(SyntaxProblem(unclosed.loc, f"section '{unclosed.name}' opened here is never closed "
                                      f"(missing '}}' before the end of {path})"))
    return top, problems


def _open(parent: Section, name: str, loc: Loc) -> Section:
    # Sections of the same name merge, as in charon's settings parser.
    existing = parent.sections.get(name)
    if existing is not None:
        return existing
    section = Section(name, loc)
    parent.sections[name] = section
    return section


# ---------------------------------------------------------------------------------------------- ipsec.conf


@dataclass
class IpsecConn:
    name: str
    loc: Loc
    options: dict[str, Setting] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        setting = self.options.get(key)
        return setting.value if setting else None


def parse_ipsec_conf(path: PurePosixPath, read: Reader, expand: Globber,
                     ) -> tuple[dict[str, IpsecConn], dict[str, Setting], list[SyntaxProblem]]:
    """conns (with %default and also= resolved), the config setup options, and problems."""
    raw_conns: dict[str, IpsecConn] = {}
    setup: dict[str, Setting] = {}
    problems: list[SyntaxProblem] = []
    _read_ipsec(path, read, expand, raw_conns, setup, problems, 0)
    default = raw_conns.pop("%default", None)
    conns: dict[str, IpsecConn] = {}
    for name, conn in raw_conns.items():
        merged = IpsecConn(name, conn.loc, dict(default.options) if default else {})
        for also in _also_chain(conn, raw_conns, problems):
            merged.options.update(also.options)
        merged.options.update({k: v for k, v in conn.options.items() if k != "also"})
        conns[name] = merged
    return conns, setup, problems


def _also_chain(conn: IpsecConn, conns: dict[str, IpsecConn], problems: list[SyntaxProblem],
                seen: frozenset[str] = frozenset()) -> list[IpsecConn]:
    also = conn.options.get("also")
    if also is None:
        return []
    out: list[IpsecConn] = []
    for name in also.value.split():
        target = conns.get(name)
        if target is None or name in seen:
            problems.append(SyntaxProblem(also.loc, f"also={name} names no conn (or loops)"))
            continue
        out += [*_also_chain(target, conns, problems, seen | {conn.name}), target]
    return out


def _read_ipsec(path: PurePosixPath, read: Reader, expand: Globber, conns: dict[str, IpsecConn],
                setup: dict[str, Setting], problems: list[SyntaxProblem], depth: int) -> None:
    text = read(path)
    if text is None:
        problems.append(SyntaxProblem(Loc(str(path), 0), "cannot read the file"))
        return
    current: dict[str, Setting] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        loc = Loc(str(path), number)
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            words = line.split()
            if words[0] == "include" and len(words) == 2 and depth < 10:
                target = PurePosixPath(words[1]) if words[1].startswith("/") else path.parent / words[1]
                for included in expand(target):
                    _read_ipsec(included, read, expand, conns, setup, problems, depth + 1)
                current = None
            elif words[0] == "conn" and len(words) == 2:
                conn = conns.setdefault(words[1], IpsecConn(words[1], loc))
                current = conn.options
            elif words[:2] == ["config", "setup"] and len(words) == 2:
                current = setup
            elif words[0] == "ca" and len(words) == 2:
                current = {}  # ca sections: read, not needed by the checks
            elif words == ["version", "2"] or words == ["version", "2.0"]:
                current = None
            else:
                problems.append(SyntaxProblem(loc, f"unexpected '{line.strip()}' (expected conn NAME, "
                                              "ca NAME, config setup or include)"))
                current = None
            continue
        body = line.strip()
        if current is None:
            problems.append(SyntaxProblem(loc, f"'{body}' is outside any conn or config setup section"))
            continue
        key, sep, value = body.partition("=")
        if not sep or not key.strip():
            problems.append(SyntaxProblem(loc, f"'{body}' is not key=value"))
            continue
        current[key.strip()] = Setting(_unquote(value), loc)


# ---------------------------------------------------------------------------------------------- ipsec.secrets


@dataclass(frozen=True)
class SecretEntry:
    loc: Loc
    selectors: str
    kind: str  # RSA, ECDSA, PKCS8, P12, PSK, EAP, XAUTH, NTLM, PIN ...
    value: str  # the secret, or for key kinds the file name and optional passphrase
    value_span: tuple[int, int]  # where the value is in the line (for redaction)


KEY_KINDS = frozenset({"RSA", "ECDSA", "BLISS", "PKCS8", "P12", "PRIVATE"})
SECRET_LINE = re.compile(r"^(?P<sel>[^:]*?)\s*:\s*(?P<kind>[A-Z0-9]+)\s+(?P<value>.*?)\s*$")


def parse_ipsec_secrets(path: PurePosixPath, read: Reader, expand: Globber, depth: int = 0,
                        ) -> tuple[list[SecretEntry], list[SyntaxProblem]]:
    entries: list[SecretEntry] = []
    problems: list[SyntaxProblem] = []
    text = read(path)
    if text is None:
        return entries, [SyntaxProblem(Loc(str(path), 0), "cannot read the file")]
    for number, raw in enumerate(text.splitlines(), 1):
        loc = Loc(str(path), number)
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = line.split()
        if words[0] == "include" and len(words) == 2 and depth < 10:
            target = PurePosixPath(words[1]) if words[1].startswith("/") else path.parent / words[1]
            for included in expand(target):
                more, bad = parse_ipsec_secrets(included, read, expand, depth + 1)
                entries += more
                problems += bad
            continue
        match = SECRET_LINE.match(line)
        if match is None:
            problems.append(SyntaxProblem(loc, "not 'SELECTORS : TYPE value'"))
            continue
        entries.append(SecretEntry(loc, match["sel"].strip(), match["kind"], _unquote_secret(match["value"]),
                                   match.span("value")))
    return entries, problems


def split_list(value: str | None) -> list[str]:
    """swanctl list values: comma (or space) separated."""
    if not value:
        return []
    return [v for v in re.split(r"[,\s]+", value.strip()) if v]
