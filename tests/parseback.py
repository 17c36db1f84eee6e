"""Readers of the files Swan Wizard writes, as the programs that load them read them.

Used by the injection tests to check that a rendered value parses back to exactly the value written.
The strongSwan settings syntax reuses the doctor's parser (wizard.checks.doctor.confparse); ipsec.secrets is
read the way charon's stroke plugin reads it (stroke_cred.c: split at the first " : ", ids split at
blanks with quoted ids, the secret between quotes taken as it is, no escapes; a line without " : "
ends the file for charon), which the doctor's more forgiving reader is not meant to mimic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from wizard.checks.doctor import confparse

_MEM = PurePosixPath("/mem.conf")


def settings(text: str) -> confparse.Section:
    """swanctl.conf / strongswan.conf text as a section tree; any syntax problem fails the caller."""
    tree, problems = confparse.parse_settings(_MEM, lambda p: text if p == _MEM else None, lambda p: [])
    assert not problems, problems
    return tree


def ipsec_conf(text: str) -> tuple[dict[str, confparse.IpsecConn], dict[str, confparse.Setting]]:
    conns, setup, problems = confparse.parse_ipsec_conf(_MEM, lambda p: text if p == _MEM else None,
                                                         lambda p: [])
    assert not problems, problems
    return conns, setup


@dataclass(frozen=True)
class StrokeSecret:
    ids: tuple[str, ...]
    kind: str
    value: str


class StrokeStop(AssertionError):
    """Where charon would stop reading ipsec.secrets (and drop every later secret)."""


def _stroke_token(text: str) -> tuple[str, str]:
    """lexparser.c extract_token(' '): a quoted token runs to its closing quote, else to a blank."""
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end < 0:
            raise StrokeStop(f"missing closing quote in {text!r}")
        return text[1:end], text[end + 1:]
    word, _, rest = text.partition(" ")
    return word, rest


def stroke_secrets(text: str) -> list[StrokeSecret]:
    out = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        if line.startswith(": "):
            ids_text, rest = "", line[2:]
        elif " : " in line:
            ids_text, rest = line.split(" : ", 1)
        else:
            raise StrokeStop(f"line {number}: missing ' : ' separator")
        kind, _, rest = rest.lstrip(" \t").partition(" ")
        rest = rest.lstrip(" \t")
        if rest[:1] in ("'", '"'):
            end = rest.find(rest[0], 1)
            if end < 0:
                raise StrokeStop(f"line {number}: missing second delimiter")
            value = rest[1:end]
        else:
            value = rest.split(" ")[0]
        ids = []
        ids_text = ids_text.strip(" \t")
        while ids_text:
            token, ids_text = _stroke_token(ids_text)
            ids_text = ids_text.lstrip(" ")
            if token:
                ids.append(token)
        out.append(StrokeSecret(tuple(ids), kind, value))
    return out


_PPP_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def chap_words(line: str) -> list[str]:
    """pppd's getword(): blank-separated words, quotes group, a backslash escapes the next character."""
    words: list[str] = []
    i = 0
    while i < len(line):
        if line[i] in " \t":
            i += 1
            continue
        word, quote = "", None
        while i < len(line):
            ch = line[i]
            if ch == "\\" and i + 1 < len(line):
                word += _PPP_ESCAPES.get(line[i + 1], line[i + 1])
                i += 2
                continue
            if quote is None and ch in "\"'":
                quote = ch
            elif ch == quote:
                quote = None
            elif quote is None and ch in " \t":
                break
            else:
                word += ch
            i += 1
        assert quote is None, f"unterminated quote in {line!r}"
        words.append(word)
    return words


_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def powershell_string(text: str) -> tuple[str, str]:
    """A single-quoted PowerShell string at the start of ``text``: (its value, what follows).

    Any of the four single quotes opens and closes it; two in a row stand for the second one."""
    assert text[:1] and text[0] in _PS_QUOTES, text
    value, i = "", 1
    while i < len(text):
        ch = text[i]
        if ch in _PS_QUOTES:
            if i + 1 < len(text) and text[i + 1] in _PS_QUOTES:
                value += text[i + 1]
                i += 2
                continue
            return value, text[i + 1:]
        value += ch
        i += 1
    raise AssertionError(f"unterminated PowerShell string: {text!r}")


def powershell_assignments(script: str) -> dict[str, str]:
    """``$Name = '...'`` lines of a script (CRLF), each value read as PowerShell reads it."""
    out = {}
    for line in script.removeprefix("\ufeff").split("\r\n"):
        match = re.match(r"\$(\w+) = (.*)$", line, re.DOTALL)
        if match and match[2][:1] in _PS_QUOTES:
            value, rest = powershell_string(match[2])
            assert rest == "", f"text after the string: {rest!r}"
            out[match[1]] = value
        match = re.match(r"\$(\w+) = ConvertTo-SecureString -String (.*)$", line, re.DOTALL)
        if match:
            value, rest = powershell_string(match[2])
            assert rest == " -AsPlainText -Force", rest
            out[match[1]] = value
    return out


def keyfile(text: str) -> dict[str, dict[str, str]]:
    """A NetworkManager keyfile as GKeyFile reads it: blanks after "=" dropped, trailing ones kept, escapes undone."""
    escapes = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
    out: dict[str, dict[str, str]] = {}
    group: dict[str, str] | None = None
    for line in text.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("["):
            assert line.endswith("]"), line
            group = out.setdefault(line[1:-1], {})
            continue
        assert group is not None and "=" in line, line
        key, _, value = line.partition("=")
        assert key.strip() not in group, f"{key} twice"
        group[key.strip()] = re.sub(r"\\(.)", lambda m: escapes[m[1]], value.lstrip(" \t"))
    return out
