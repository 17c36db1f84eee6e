"""Carry out a plan: lock, back up what changes, write atomically, then run the service commands.

Every file is written to a temporary file in its own directory with its final mode, fsynced and
renamed over the old one, so a crash leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from wizard import paths, service
from wizard.diagnostics import Locked, WizardError
from wizard.paths import Root
from wizard.plan import Change, Command, FileChange, Plan, file_changes, pending

Report = Callable[[str], None]


@dataclass
class ApplyResult:
    changed: list[FileChange] = field(default_factory=list)
    backup_id: str | None = None
    commands_run: list[Command] = field(default_factory=list)

    @property
    def nothing_changed(self) -> bool:
        return not self.changed


@contextlib.contextmanager
def lock(root: Root, lock_file: PurePosixPath = paths.LOCK_FILE, doing: str = "is applying to") -> Iterator[None]:
    """An exclusive flock on ``lock_file`` under the root, holding our pid; Locked names the holder."""
    state = root(paths.WIZARD_STATE)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(root(lock_file), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise Locked(f"another swan-wizard run (pid {holder}) {doing} {root.path}; "
                             "wait for it to finish") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(root: Root, logical: PurePosixPath, modes: dict[PurePosixPath, int]) -> Path:
    """Create ``logical`` and its parents under root; directories the plan names get their mode."""
    real = root(logical)
    missing = []
    current = logical
    while not root(current).exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for d in reversed(missing):
        os.mkdir(root(d), modes.get(d, 0o755))
        os.chmod(root(d), modes.get(d, 0o755))  # mkdir's mode is filtered by the umask
    if logical in modes and (real.stat().st_mode & 0o7777) != modes[logical]:
        os.chmod(real, modes[logical])
    return real


def write_atomic(target: Path, content: bytes, mode: int, dirs_to_sync: set[Path] | None = None) -> None:
    """Write ``content`` to a temp file beside ``target`` with ``mode``, fsync it, rename it over ``target``.

    The rename is made durable by an fsync of the directory: at once, or, when the caller collects
    ``dirs_to_sync``, once per directory at the end of a batch (an apply writes many files per folder).
    """
    tmp = target.with_name(f".{target.name}.swan-wizard-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # the mode asked, whatever the umask
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, target)
    if dirs_to_sync is None:
        _fsync_dir(target.parent)
    else:
        dirs_to_sync.add(target.parent)


def new_backup_id(root: Root, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    base = root(paths.BACKUPS_DIR)
    candidate, n = stamp, 1
    while (base / candidate).exists():
        n += 1
        candidate = f"{stamp}-{n}"
    return candidate


def back_up(root: Root, changes: list[FileChange], backup_id: str, kind: str = "apply") -> Path:
    """Copy every file about to change into backups/<id>/files and record what existed before."""
    modes = {paths.WIZARD_STATE: 0o700, paths.BACKUPS_DIR: 0o700, paths.BACKUPS_DIR / backup_id: 0o700}
    folder = ensure_dir(root, paths.BACKUPS_DIR / backup_id, modes)
    entries = []
    for change in changes:
        logical = change.action.path
        entry: dict[str, object] = {"path": str(logical), "existed": change.old is not None,
                                    "change": change.change.value}
        if change.old is not None:
            copy = folder / "files" / str(logical).lstrip("/")
            copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(copy, change.old, change.old_mode or 0o600)
            entry["mode"] = change.old_mode
        entries.append(entry)
    manifest = {"id": backup_id, "kind": kind, "created": datetime.now(UTC).isoformat(), "root": str(root.path),
                "files": entries}
    write_atomic(folder / "manifest.json", json.dumps(manifest, indent=2).encode(), 0o600)
    return folder


def _journal(root: Root, backup_id: str, state: str, paths_: list[str]) -> None:
    journal = {"backup": backup_id, "state": state, "pid": os.getpid(), "files": paths_,
               "time": datetime.now(UTC).isoformat()}
    write_atomic(root(paths.JOURNAL_FILE), json.dumps(journal, indent=2).encode(), 0o600)


def apply(plan: Plan, root: Root, run_commands: bool = True, report: Report | None = None,
          kind: str = "apply") -> ApplyResult:
    say = report or (lambda _msg: None)
    result = ApplyResult()
    with lock(root):
        todo = pending(file_changes(plan, root))
        result.changed = todo
        dir_modes = {d.path: d.mode for d in plan.dirs}
        for d in plan.dirs:
            ensure_dir(root, d.path, dir_modes)
        if todo:
            result.backup_id = new_backup_id(root)
            back_up(root, todo, result.backup_id, kind)
            # The journal marks an apply in progress: an interrupted run is found at the next start.
            _journal(root, result.backup_id, "applying", [str(c.action.path) for c in todo])
            touched: set[Path] = set()
            for change in todo:
                action = change.action
                target = root(action.path)
                if change.change is Change.REMOVE:
                    target.unlink(missing_ok=True)
                    touched.add(target.parent)
                    say(f"removed {action.path}")
                    continue
                ensure_dir(root, action.path.parent, dir_modes)
                if change.change is Change.MODE:
                    os.chmod(target, action.mode)
                else:
                    assert action.content is not None
                    write_atomic(target, action.content, action.mode, touched)
                say(f"{change.change.value:>6} {action.path} ({action.mode:04o})")
            # Every rename is on disk before the journal that marks this run unfinished goes away.
            for folder in touched:
                if folder.is_dir():
                    _fsync_dir(folder)
            root(paths.JOURNAL_FILE).unlink(missing_ok=True)
        if run_commands and root.is_live and plan.commands and (todo or _needs_start(plan)):
            for command in plan.commands:
                say(f"$ {command}")
                try:
                    service.run(command)
                except service.CommandFailed as exc:
                    raise WizardError(str(exc)) from None
                result.commands_run.append(command)
    return result


def _needs_start(plan: Plan) -> bool:
    """A daemon that is not running is started even when no file changed."""
    return any(c.argv[0] == service.DETACH or c.argv[:2] == ("ipsec", "start") for c in plan.commands)
