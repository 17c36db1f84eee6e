"""Backups of earlier applies: list them, roll back to one, and find an apply that was interrupted.

Every apply that changes anything first copies each file it will touch to
/var/lib/swan-wizard/backups/<id>/ and records in manifest.json what existed before. Rolling back
to run X restores, for every file a later run touched, the content it had right after X: the
"before" copy kept by the first run after X that touched it. The rollback itself is an apply, so
it is backed up too and can be undone the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from wizard.fs import paths
from wizard.fs.changes import Command, FileAction, Plan
from wizard.fs.paths import Root
from wizard.fs.safefs import pid_alive
from wizard.problems import WizardError


@dataclass(frozen=True)
class Backup:
    id: str
    created: str
    files: tuple[dict[str, object], ...]
    kind: str = "apply"

    def folder(self, root: Root) -> PurePosixPath:
        return paths.BACKUPS_DIR / self.id


def backups(root: Root) -> list[Backup]:
    """Every backup, oldest first (ids are UTC timestamps, so they sort by time)."""
    base = root(paths.BACKUPS_DIR)
    out = []
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        manifest = folder / "manifest.json"
        if manifest.is_file():
            data = json.loads(manifest.read_text())
            out.append(Backup(data["id"], data.get("created", ""), tuple(data.get("files", [])),
                              data.get("kind", "apply")))
    return out


def rollback_plan(root: Root, target: str | None) -> tuple[Plan, list[Backup]]:
    """A plan that brings every file back to its state right after run ``target``.

    Without a target, the newest run is undone (the state before it).
    """
    runs = backups(root)
    if not runs:
        raise WizardError("there is no backup to roll back to: nothing was applied under this root yet")
    ids = [b.id for b in runs]
    if target is None:
        undo = runs[-1:]
    elif target in ids:
        undo = runs[ids.index(target) + 1:]
        if not undo:
            raise WizardError(f"{target} is the newest run: there is nothing after it to undo")
    else:
        raise WizardError(f"no backup {target!r}; known: {', '.join(ids)}")
    return _undo(root, undo), undo


def rollback_plan_to_start(root: Root) -> tuple[Plan, list[Backup]]:
    """Undo every run: the state before Swan Wizard's first apply under this root."""
    runs = backups(root)
    if not runs:
        raise WizardError("there is no backup to roll back to: nothing was applied under this root yet")
    return _undo(root, runs), runs


def _undo(root: Root, undo: list[Backup]) -> Plan:
    restored: dict[str, FileAction] = {}
    for run in undo:  # oldest first: the first run after the target holds the content right after it
        for entry in run.files:
            path = str(entry["path"])
            if path in restored:
                continue
            if entry.get("existed"):
                copy = root(run.folder(root) / "files" / path.lstrip("/"))
                saved_mode = entry.get("mode")  # the manifest is JSON: a number, as apply wrote it
                mode = saved_mode if isinstance(saved_mode, int) and saved_mode else 0o600
                restored[path] = FileAction(PurePosixPath(path), copy.read_bytes(), mode,
                                            secret=_looks_secret(copy.read_bytes(), mode),
                                            why=f"as it was before run {run.id}")
            else:
                restored[path] = FileAction(PurePosixPath(path), None, why=f"created by run {run.id}")
    commands: tuple[Command, ...] = ()
    if root.is_live:
        commands = (Command(("swanctl", "--load-all", "--noprompt"), "load the restored configuration",
                            may_fail=True),
                    Command(("ipsec", "reload"), "for the legacy layout", may_fail=True))
    return Plan(tuple(restored[p] for p in sorted(restored)), commands=commands)


def _looks_secret(content: bytes, mode: int) -> bool:
    return mode & 0o077 == 0 or b"PRIVATE KEY" in content


@dataclass(frozen=True)
class Interrupted:
    backup: str
    pid: int
    files: tuple[str, ...]
    time: str


def interrupted(root: Root) -> Interrupted | None:
    """An apply that started writing and never finished (killed, dropped session, power loss)."""
    journal = root(paths.JOURNAL_FILE)
    if not journal.is_file():
        return None
    try:
        data = json.loads(journal.read_text())
    except (OSError, ValueError):
        return Interrupted("", 0, (), "")
    pid = int(data.get("pid", 0))
    if pid and pid_alive(pid):
        return None  # still running: the lock will tell
    return Interrupted(str(data.get("backup", "")), pid, tuple(data.get("files", [])), str(data.get("time", "")))
