"""One shape for everything a check finds: a stable code, a severity, the answers field, the message, the fix.

The network checks, the doctor and the answers' cross-section checks all return :class:`Finding`;
their callers select by ``code`` (never by the English of ``message``) and show ``field`` with the one
dotted-path spelling of :func:`field_path`. ``Problem`` (wizard.problems) stays the shape of a line on
stderr with its exit code; a Finding becomes one only where a front end refuses to go on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# "unknown" has no severity of its own: a fact that could not be read makes its check a warning
# ("could not check ..."), never "ok"; "skipped" is a check that did not run here at all.
Severity = Literal["error", "warning", "info", "ok", "skipped"]
# Order of importance, for sorting and for summary lines.
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info", "ok", "skipped")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Evidence:
    """Where the proof is: ``where`` is "path:line", a certificate file, "vici", or a command."""

    where: str
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}" if self.where else self.text

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "text": self.text}


@dataclass(frozen=True)
class Finding:
    """One thing a check found. ``code`` is stable for automation and for callers that pick findings
    (``ports.udp-500-taken``, ``cert.san-missing``); its first dotted part names the check."""

    code: str
    severity: Severity
    field: str = ""  # the answers field it is about, as field_path spells it ("" when none)
    message: str = ""
    fix: str = ""
    evidence: tuple[Evidence, ...] = ()

    @property
    def check(self) -> str:
        """The check that found it: what ``networking.accept_failed_checks`` names."""
        return self.code.split(".", 1)[0]

    @property
    def is_problem(self) -> bool:
        return self.severity in ("error", "warning")

    def to_json(self) -> dict[str, object]:
        """What --json prints: ``summary`` is the message (the key the outputs have always used)."""
        return {"code": self.code, "check": self.check, "severity": self.severity, "field": self.field,
                "summary": self.message, "fix": self.fix, "evidence": [e.to_json() for e in self.evidence]}

    def __str__(self) -> str:
        return f"[{self.severity}] {self.check}: {self.message}" + (f" Fix: {self.fix}" if self.fix else "")


def field_path(loc: Loc) -> str:
    """The one spelling of a place in the answers: ('clients', 0, 'name') -> 'clients[0].name'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


_PART = re.compile(r"([^.\[\]]+)|\[([0-9]+)\]")


def field_loc(path: str) -> Loc:
    """The inverse of field_path for the answers' own keys (no '.', '[' or ']' in a key)."""
    out: list[str | int] = []
    pos = 0
    while pos < len(path):
        if path[pos] == "." and out:
            pos += 1
        match = _PART.match(path, pos)
        if match is None:
            raise ValueError(f"not a field path: {path!r}")
        out.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    return tuple(out)


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    """The findings with exactly this code."""
    return [f for f in findings if f.code == code]
