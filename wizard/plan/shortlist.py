"""What a command prints about its files, kept readable at any scale: every line, except that past ``SHOWN``
lines about client folders (or PKCS#12 password handouts) the rest are counted and summed up in one line.

A first apply of ten thousand clients writes some 110,000 files and makes 10,000 passwords: a line each would
scroll for minutes through an 80x24 terminal over a slow link, and no one reads them. Every file is still in
the plan (``swan-wizard plan``, ``apply --json``) and in the run's backup manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from wizard.fs import paths

SHOWN = 20
_IN_CLIENTS = f" {paths.CLIENTS_DIR}/"
_PASSWORD_HANDOUT = "PKCS#12 password for "


def password_handout(name: str, where: PurePosixPath) -> str:
    """The handout of a generated PKCS#12 password: the one wording ``handouts`` recognises."""
    return f"{_PASSWORD_HANDOUT}{name} is in {where}"


class FileLines:
    """A report (``apply(report=...)``) that passes each line to ``out``, past ``shown`` client-folder lines
    counting them instead; ``close`` prints how many were not shown."""

    def __init__(self, out: Callable[[str], object], shown: int | None = None) -> None:
        self.out = out
        self.shown = SHOWN if shown is None else shown
        self.in_clients = 0

    def __call__(self, line: str) -> None:
        if _IN_CLIENTS in line:
            self.in_clients += 1
            if self.in_clients > self.shown:
                return
        self.out(line)

    def close(self) -> None:
        if self.in_clients > self.shown:
            self.out(f"... and {self.in_clients - self.shown:,} more files in client folders under "
                     f"{paths.CLIENTS_DIR} (`swan-wizard plan` lists every file)")


def handouts(lines: Sequence[str], shown: int | None = None) -> list[str]:
    """The handouts to print: past ``shown`` PKCS#12 password lines, one line says how many more and where."""
    shown = SHOWN if shown is None else shown
    passwords = [line for line in lines if line.startswith(_PASSWORD_HANDOUT)]
    if len(passwords) <= shown:
        return list(lines)
    hidden = set(passwords[shown:])
    out = [line for line in lines if line not in hidden]
    out.append(f"... and {len(hidden):,} more clients: each one's PKCS#12 password is in p12-password in its "
               f"folder under {paths.CLIENTS_DIR}")
    return out
