"""What every check needs to know: the root, the installed configuration, the saved answers, the time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from wizard.checks.doctor.installed import Installed, read_installed
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model.answers import Answers


@dataclass
class Context:
    root: Root
    installed: Installed
    answers: Answers | None = None
    answers_path: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    log_path: Path | None = None  # the charon log to read (a real path)
    log_shown: str = ""  # how findings name it
    daemon_check: bool = True  # start a throwaway charon to parse-check the configuration
    vici_socket: Path | None = None

    @property
    def live(self) -> bool:
        return self.root.is_live

    def shown(self, logical: PurePosixPath | str) -> str:
        """A path as findings show it: the logical path, prefixed with the root when it is not /."""
        return str(logical) if self.live else f"{self.root.path}{logical}"

    def apply_command(self) -> str:
        """How to re-run apply with the admin's answers (named even when doctor did not get them)."""
        target = self.answers_path or "answers.yaml"
        root = "" if self.live else f" --root {self.root.path}"
        return f"swan-wizard apply {target}{root}"


def make_context(root: Root, answers: Answers | None = None, answers_path: str | None = None,
                 now: datetime | None = None, log: str | None = None, daemon_check: bool = True) -> Context:
    installed = read_installed(root, answers.layout if answers else None)
    if log:
        log_path, shown = Path(log), log
    else:
        log_path = root(paths.CHARON_LOG)
        shown = str(paths.CHARON_LOG) if root.is_live else str(log_path)
    return Context(root=root, installed=installed, answers=answers, answers_path=answers_path,
                   now=now or datetime.now(UTC), log_path=log_path, log_shown=shown, daemon_check=daemon_check,
                   vici_socket=root(paths.VICI_SOCKET))
