"""Backups of earlier applies: list them, roll back to one, and find an apply that was interrupted.

Every apply that changes anything first copies each file it will touch to
/var/lib/swan-wizard/backups/<id>/ and records in manifest.json what existed before and the directories
it creates; before each command it runs, the command's undo goes into the manifest too. Rolling back to
run X restores, for every file a later run touched, the content it had right after X (the "before" copy
kept by the first run after X that touched it), then runs the later runs' undos in reverse order, then
removes the directories they created when empty. The rollback itself is an apply, so it is backed up
too and can be undone the same way (its undos are the commands they took back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from wizard.fs import paths
from wizard.fs.changes import Argv, Command, DirAction, FileAction, Plan
from wizard.fs.paths import Root
from wizard.fs.safefs import pid_alive
from wizard.problems import Exit, WizardError


@dataclass(frozen=True)
class Ran:
    """One command a run started, as its manifest recorded it before running it."""

    argv: Argv
    undo: tuple[Argv, ...] | None
    undo_why: str
    state: str  # running (started, never finished: killed), done, failed


@dataclass(frozen=True)
class Backup:
    id: str
    created: str
    files: tuple[dict[str, object], ...]
    kind: str = "apply"
    # None: a manifest from before commands and directories were recorded (only its files roll back).
    commands: tuple[Ran, ...] | None = None
    dirs: tuple[DirAction, ...] = ()  # created by the run
    removed_dirs: tuple[DirAction, ...] = ()  # removed by the run (a rollback)

    def folder(self, root: Root) -> PurePosixPath:
        return paths.BACKUPS_DIR / self.id


def _argv(value: object) -> Argv | None:
    if isinstance(value, list) and value and all(isinstance(a, str) and a and "\0" not in a for a in value):
        return tuple(value)
    return None


def _ran(where: str, i: int, record: object) -> Ran:
    """One command record; the manifest is the wizard's own, yet what it runs as root is checked first."""
    bad = WizardError(f"{where}: commands[{i}]: not a command record; move this backup away to roll back past it",
                      Exit.INVALID)
    if not isinstance(record, dict) or (argv := _argv(record.get("argv"))) is None:
        raise bad
    raw = record.get("undo")
    undo: tuple[Argv, ...] | None = None
    if raw is not None:
        steps = [_argv(a) for a in raw] if isinstance(raw, list) and raw else [None]
        if any(s is None for s in steps):
            raise bad
        undo = tuple(s for s in steps if s is not None)
    return Ran(argv, undo, str(record.get("undo_why", "")), str(record.get("state", "")))


def _dirs(where: str, key: str, raw: object) -> tuple[DirAction, ...]:
    if not isinstance(raw, list):
        raise WizardError(f"{where}: {key}: not a list", Exit.INVALID)
    out = []
    for i, d in enumerate(raw):
        path = d.get("path") if isinstance(d, dict) else None
        mode = d.get("mode") if isinstance(d, dict) else None
        if not (isinstance(path, str) and path.startswith("/") and ".." not in path.split("/")
                and isinstance(mode, int) and 0 <= mode <= 0o7777):
            raise WizardError(f"{where}: {key}[{i}]: not a directory record", Exit.INVALID)
        out.append(DirAction(PurePosixPath(path), mode))
    return tuple(out)


def _backup(where: str, data: object) -> Backup:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise WizardError(f"{where}: not a backup manifest", Exit.INVALID)
    records = data.get("commands")
    if records is not None and not isinstance(records, list):
        raise WizardError(f"{where}: commands: not a list", Exit.INVALID)
    return Backup(data["id"], str(data.get("created", "")), tuple(data.get("files", [])),
                  str(data.get("kind", "apply")),
                  None if records is None else tuple(_ran(where, i, r) for i, r in enumerate(records)),
                  _dirs(where, "dirs", data.get("dirs", [])),
                  _dirs(where, "removed_dirs", data.get("removed_dirs", [])))


def backups(root: Root) -> list[Backup]:
    """Every backup, oldest first (ids are UTC timestamps, so they sort by time)."""
    base = root(paths.BACKUPS_DIR)
    out = []
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        manifest = folder / "manifest.json"
        if manifest.is_file():
            where = str(paths.BACKUPS_DIR / folder.name / "manifest.json")
            try:
                data = json.loads(manifest.read_text())
            except (OSError, ValueError) as exc:
                raise WizardError(f"{where}: unreadable ({exc}); move this backup away to roll back past it",
                                  Exit.INVALID) from None
            out.append(_backup(where, data))
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
    commands = [c for run in reversed(undo) for c in _taken_back(run)]  # newest run first, each in reverse
    if root.is_live:
        commands += [Command(("swanctl", "--load-all", "--noprompt"), "load the restored configuration",
                             may_fail=True, undo_why="loads whatever the files hold"),
                     Command(("ipsec", "reload"), "for the legacy layout", may_fail=True,
                             undo_why="loads whatever the files hold")]
    recreate, remove = _directories(undo)
    notes = tuple(f"run {run.id} was recorded without its commands and directories (an earlier version of "
                  "Swan Wizard): only its files are restored" for run in undo if run.commands is None)
    return Plan(tuple(restored[p] for p in sorted(restored)), dirs=recreate, commands=tuple(commands), notes=notes,
                reverts=True, remove_dirs=remove)


def _taken_back(run: Backup) -> list[Command]:
    """The undos of ``run``'s commands, last command first. Each carries the command it takes back as its
    own undo, so rolling back this rollback runs that command again (after its files are restored)."""
    out: list[Command] = []
    for ran in reversed(run.commands or ()):
        if ran.undo is None:
            continue
        label = f"undo `{' '.join(ran.argv)}` of run {run.id}" + (" (it had failed)" if ran.state == "failed" else "")
        out += [Command(step, label, undo=(ran.argv,) if i == 0 else None,
                        undo_why=f"run `{' '.join(ran.argv)}` again" if i == 0 else "the first step's undo redoes it")
                for i, step in enumerate(ran.undo)]
    return out


def _directories(undo: list[Backup]) -> tuple[tuple[DirAction, ...], tuple[DirAction, ...]]:
    """(directories to make again, directories to remove when empty): like files, the first run after the
    target to create or remove a directory knows whether it existed right after the target."""
    first: dict[PurePosixPath, tuple[bool, DirAction]] = {}
    for run in undo:
        for d in run.dirs:
            first.setdefault(d.path, (False, d))
        for d in run.removed_dirs:
            first.setdefault(d.path, (True, d))
    recreate = tuple(d for existed, d in first.values() if existed)
    remove = tuple(d for existed, d in first.values() if not existed)
    return recreate, remove


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
