"""The last guard: an exception nobody expected becomes one line on stderr and a crash report, exit 70.

The report (0600) holds what a developer needs: the version, the command line with secret-looking
arguments redacted, and the traceback, with every secret this process has seen replaced.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path

from wizard import __version__
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import secrets
from wizard.problems import Exit, internal_error

REDACTED = "<redacted>"
CRASH_DIR = paths.WIZARD_STATE / "crash"
_SECRET_OPTION = re.compile(r"^--?[\w-]*(pass|secret|psk|token|pin|key)[\w-]*$", re.IGNORECASE)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The command line with the value of every secret-looking option replaced (``--psk X``, ``--psk=X``)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        if _SECRET_OPTION.match(name):
            if eq:
                out.append(f"{name}={REDACTED}")
                continue
            hide_next = True
        out.append(arg)
    return out


def scrub(text: str, known: Iterable[str]) -> str:
    for secret in sorted({s for s in known if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def report_text(exc: BaseException, argv: Sequence[str], known: Iterable[str] = ()) -> str:
    lines = [f"swan-wizard {__version__} internal error", f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
             f"python: {sys.version.split()[0]}", f"argv: {redact_argv(argv)!r}", "",
             *traceback.format_exception(exc)]
    return scrub("".join(line if line.endswith("\n") else line + "\n" for line in lines), known)


def _candidate_dirs(root: Root | None) -> list[Path]:
    dirs = [(root or Root.of(None))(CRASH_DIR)] if root is not None or os.geteuid() == 0 else []
    return [*dirs, Path(tempfile.gettempdir())]


def write_report(text: str, root: Root | None) -> Path | None:
    """Store the report 0600 in the root's crash directory, else in the temp directory; None if neither works."""
    name = f"swan-wizard-crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt"
    for folder in _candidate_dirs(root):
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            # O_EXCL|O_NOFOLLOW: a planted file or link at this name (in /tmp) is never written through.
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(text)
        return folder / name
    return None


def handle(exc: BaseException, argv: Sequence[str], root: Root | None = None) -> Exit:
    """Write the report and print the one line; the exit code is ``Exit.CRASH``."""
    try:
        path = write_report(report_text(exc, argv, secrets.seen()), root)
    except Exception:
        path = None
    return internal_error(f"{type(exc).__name__}", path)
