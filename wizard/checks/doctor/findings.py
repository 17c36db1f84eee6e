"""What `swan-wizard doctor` reports: findings with their evidence, the fix, and a fix it can apply itself.

Every check in the doctor returns :class:`DoctorFinding` objects (the one ``wizard.findings.Finding``
with the doctor's command and autofix); nothing else prints. A finding names where
the proof is (a file and line, a log line, a certificate field, a command's output) so an admin can
look for themselves, and says what to change, with the exact command where there is one.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Any, Literal

from wizard.findings import SEVERITIES, Finding

Area = Literal["certificates", "configuration", "system", "log"]

AREAS: tuple[Area, ...] = ("certificates", "configuration", "system", "log")
# A doctor finding's code starts with its area's prefix: "cert.san-missing" is about certificates.
_AREA_OF_PREFIX: dict[str, Area] = {"cert": "certificates", "config": "configuration", "system": "system",
                                    "log": "log"}


@dataclass(frozen=True)
class AutoFix:
    """A fix `doctor --fix` may carry out: a chmod of one file, or one command of the live system."""

    description: str
    chmod_path: str | None = None  # the real path (already under --root)
    mode: int | None = None
    argv: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description}
        if self.chmod_path is not None and self.mode is not None:
            out.update(chmod=self.chmod_path, mode=f"{self.mode:04o}")
        if self.argv:
            out["command"] = list(self.argv)
        return out

    def apply(self) -> str:
        """Carry the fix out; returns what happened (an error is reported, never raised)."""
        if self.chmod_path is not None and self.mode is not None:
            try:
                # The file found, not what a link put there since: no link is followed.
                fd = os.open(self.chmod_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    os.fchmod(fd, self.mode)
                finally:
                    os.close(fd)
            except OSError as exc:
                return f"chmod {self.mode:04o} {self.chmod_path} failed: {exc.strerror}"
            return f"chmod {self.mode:04o} {self.chmod_path}"
        if self.argv:
            try:
                proc = subprocess.run(self.argv, capture_output=True, text=True, timeout=60, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"{' '.join(self.argv)} failed: {exc}"
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
            status = "done" if proc.returncode == 0 else f"exited {proc.returncode}"
            return f"{' '.join(self.argv)}: {status} {tail[0]}".rstrip()
        return "nothing to do"


@dataclass(frozen=True)
class DoctorFinding(Finding):
    """A Finding with what only the doctor has: the command that fixes it, a fix it can carry out itself,
    and machine-readable details. Its area follows from its code."""

    command: str = ""  # the command that fixes it, when there is one to name
    autofix: AutoFix | None = None
    data: dict[str, Any] = field(default_factory=dict, compare=False)  # machine-readable details

    @property
    def area(self) -> Area:
        return _AREA_OF_PREFIX[self.check]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "area": self.area,
            "severity": self.severity,
            "summary": self.message,
            "evidence": [e.to_json() for e in self.evidence],
            "fix": self.fix,
            "command": self.command,
            "autofix": self.autofix.to_json() if self.autofix else None,
        }
        if self.field:
            out["field"] = self.field
        if self.data:
            out["data"] = self.data
        return out


def skipped(code: str, summary: str, reason: str) -> DoctorFinding:
    """A check that could not run here: never counted as passed."""
    return DoctorFinding(code, "skipped", message=f"{summary}: skipped ({reason})")


def counts(findings: list[DoctorFinding]) -> dict[str, int]:
    return {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}


def sort_key(finding: DoctorFinding) -> tuple[int, int]:
    return AREAS.index(finding.area), SEVERITIES.index(finding.severity)
