"""The one owner of exit codes and of what Swan Wizard prints to stderr.

Every front end (the CLI, headless replay, the TUI when it exits) reports problems through here,
so a script driving ``swan-wizard`` can rely on the codes below.
"""

from __future__ import annotations

import errno
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import TextIO

# Cc: C0/C1 controls (NUL, CR, LF, ESC, U+0085 NEL...); Cf: invisible format characters (bidi overrides
# U+202E, zero-width spaces, BOM); Zl/Zp: U+2028/U+2029, line breaks to Python, JavaScript and editors;
# Cs/Co: lone surrogates (undecodable bytes) and private use.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def unsafe_char(text: str) -> str | None:
    """The first character no output format can hold, or None."""
    if text.isascii() and text.isprintable():  # the common case, in C: no ASCII printable is in those categories
        return None
    return next((ch for ch in text if unicodedata.category(ch) in _UNSAFE_CATEGORIES), None)


def char_name(ch: str) -> str:
    """``U+000A (LINE FEED)``: how a message names a character without printing it."""
    name = unicodedata.name(ch, "") or {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\t": "TAB",
                                         "\x00": "NUL", "\x1b": "ESCAPE", "\x85": "NEXT LINE"}.get(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def visible(text: str) -> str:
    """``text`` with every unsafe character shown as an escape: safe to print on one terminal line."""
    return "".join(ch if unicodedata.category(ch) not in _UNSAFE_CATEGORIES else
                   f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}" for ch in text)


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # a step failed while applying, or a check found a problem
    INVALID = 2  # the answers file (or a command-line argument) is wrong; nothing was written
    CONFLICT = 3  # existing key material does not match the answers; nothing was overwritten
    LOCKED = 4  # another run holds the lock
    USAGE = 64  # EX_USAGE: the command line itself is malformed
    CRASH = 70  # EX_SOFTWARE: an internal error; a crash report says where


@dataclass(frozen=True)
class Problem:
    """One thing wrong, named by where it is: ``file:line: field: message``."""

    message: str
    field: str = ""
    source: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.source
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        parts = [p for p in (where, self.field) if p]
        return ": ".join([*parts, self.message])


class WizardError(Exception):
    """An expected failure with problems to show and an exit code; never a traceback for the user."""

    exit_code: Exit = Exit.FAILED

    def __init__(self, problems: list[Problem] | str, exit_code: Exit | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems = problems
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__("\n".join(str(p) for p in problems))


class InvalidAnswers(WizardError):
    exit_code = Exit.INVALID


class MaterialConflict(WizardError):
    exit_code = Exit.CONFLICT


class Locked(WizardError):
    exit_code = Exit.LOCKED


def report(error: WizardError, stream: TextIO | None = None) -> Exit:
    """Print one line per problem to stderr and return the exit code to use."""
    stream = stream or sys.stderr
    for problem in error.problems:
        # One line per problem, whatever a value quoted in the message holds (no terminal escapes either).
        print(f"swan-wizard: error: {visible(str(problem))}", file=stream)
    return error.exit_code


def internal_error(what: str, report_path: object | None, stream: TextIO | None = None) -> Exit:
    """The one line an unexpected exception gets (the details are in the crash report, never on screen)."""
    where = f"report in {report_path}" if report_path is not None else "no report could be written"
    print(f"swan-wizard: internal error: {what}; {where}", file=stream or sys.stderr)
    return Exit.CRASH


@contextmanager
def io_failures(needed_bytes: int | None = None, where: object = "") -> Iterator[None]:
    """Turn an OSError from writing into one line (exit 1); ``needed_bytes`` is what the step writes,
    ``where`` names the place when the error does not (a failed write() has no file name)."""
    try:
        yield
    except OSError as exc:
        raise io_failure(exc, needed_bytes, where) from None


def io_failure(exc: OSError, needed_bytes: int | None = None, where: object = "") -> WizardError:
    """A failed write or read (read-only file system, full disk...) as one line, exit 1."""
    where = exc.filename or where
    message = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC and needed_bytes is not None:
        message += f": the files this step writes take {_size(needed_bytes)}, plus as much again for backups"
    elif exc.errno == errno.EROFS:
        message += ": nothing can be written there"
    return WizardError([Problem(message, str(where))], Exit.FAILED)


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"


def warn(message: str, stream: TextIO | None = None) -> None:
    print(f"swan-wizard: warning: {message}", file=stream or sys.stderr)


def note(message: str, stream: TextIO | None = None) -> None:
    """A line of progress for the user (e.g. waiting for another run's lock), on stderr."""
    print(f"swan-wizard: {message}", file=stream or sys.stderr, flush=True)
