"""Carry out a plan: lock, back up what changes, write atomically, then run the service commands.

Every file is written to a temporary file in its own directory with its final mode; once all are written,
one flush per filesystem makes them durable, and each is renamed over the old one, so a crash leaves either
the old or the new file, never half of one.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from wizard.fs import paths, stamps
from wizard.fs.changes import Change, Command, DirAction, FileChange, Plan, file_changes, pending
from wizard.fs.paths import Root
from wizard.fs.safefs import TOP, LinkRefused, Staged, Tree, default_dir_mode, is_private, temp_name, within, write_all
from wizard.problems import Locked, MaterialConflict, Problem, WizardError
from wizard.system import halves, service

Report = Callable[[str], None]


@dataclass
class ApplyResult:
    changed: list[FileChange] = field(default_factory=list)
    backup_id: str | None = None
    commands_run: list[Command] = field(default_factory=list)

    @property
    def nothing_changed(self) -> bool:
        return not self.changed


# What a second run does when the lock is held: wait this long (seconds, --wait), then exit 4 (Exit.LOCKED).
DEFAULT_WAIT = 0.0
_POLL = 0.2


@dataclass(frozen=True)
class Held:
    """Proof that this process holds the root's lock: passed down so nothing takes it a second time
    (flock does not nest across two opens within one process)."""

    root: Path
    fd: int


def wait_seconds(text: str) -> float:
    """The argparse type of --wait: 0 (exit 4 at once, the default) to a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError("--wait takes 0 to 86400 seconds")
    return value


def _holder(fd: int) -> tuple[str, str]:
    text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    pid, _, doing = text.partition(" ")
    return (pid or "?"), doing


@contextlib.contextmanager
def lock(root: Root, doing: str = "is applying to", wait: float = DEFAULT_WAIT,
         report: Report | None = None) -> Iterator[Held]:
    """The one lock of a root, taken before planning and held to the last write.

    Every command that changes the root takes it: apply (CLI and UI), the client commands, rollback and
    uninstall. It is an exclusive flock on /var/lib/swan-wizard/apply.lock (released by the kernel when
    its holder dies), opened without following links. A second run waits up to ``wait`` seconds (saying
    once whom it waits for), then raises Locked (exit 4) naming the holder's pid.
    """
    root.forget_checks()
    with Tree(root.path, paths.WIZARD_STATE) as tree:
        state_fd = tree.ensure_dir(paths.WIZARD_STATE, {paths.WIZARD_STATE: 0o700})
        try:
            fd = os.open(paths.LOCK_FILE.name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=state_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LinkRefused(f"{paths.LOCK_FILE} under {root.path} is a symbolic link: swan-wizard does "
                                  "not follow links in the paths it manages; remove it") from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LinkRefused(f"{paths.LOCK_FILE} under {root.path} is not a regular file; remove it")
            deadline = time.monotonic() + max(wait, 0.0)
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                pid, held_doing = _holder(fd)
                if time.monotonic() >= deadline:
                    raise Locked(f"another swan-wizard run (pid {pid}) {held_doing or 'is changing'} {root.path}; "
                                 "wait for it to finish (or give --wait SECONDS)")
                if not told and report is not None:
                    report(f"waiting up to {wait:g} s for swan-wizard pid {pid}, which "
                           f"{held_doing or 'is changing'} {root.path}")
                    told = True
                time.sleep(_POLL)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {doing}\n".encode(), 0)
            _remove_dead_temp_files(tree)
            yield Held(root.path, fd)
        finally:
            os.close(fd)


# Where apply writes: a run killed mid-write leaves its temporary files here (and in an unfinished backup).
_TEMP_DIRS = sorted({p.parent for p in vars(paths).values() if isinstance(p, PurePosixPath) and p.is_absolute()}
                    | {paths.SWANCTL_DIR / d for d in ("conf.d", "x509", "x509ca", "x509crl", "private")})
_TEMP_TREES = [paths.WIZARD_ETC]


def _remove_dead_temp_files(tree: Tree) -> None:
    """Leftover ``.NAME.swan-wizard-PID.tmp`` files of runs that died (kill -9, power loss) go before
    anything is planned or backed up. Only backups without a manifest (unfinished) can hold any, and the
    trees of client folders only while a journal says an apply was writing: it is written before the first
    file there and removed after the last, so a run that finished leaves none, and ten thousand client
    folders are not walked on every command."""
    backups: list[PurePosixPath] = []
    fd = tree.dir(paths.BACKUPS_DIR)
    if fd is not None:
        with os.scandir(fd) as entries:
            names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        for name in names:
            folder_fd = tree.dir(paths.BACKUPS_DIR / name)
            if folder_fd is not None and not _has(folder_fd, "manifest.json"):
                backups.append(paths.BACKUPS_DIR / name)
    state_fd = tree.dir(paths.WIZARD_STATE)
    writing = backups or (state_fd is not None and _has(state_fd, paths.JOURNAL_FILE.name))
    tree.remove_dead_temp_files(_TEMP_DIRS, [*(_TEMP_TREES if writing else []), *backups])


def _has(dir_fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def write_under(root: Root, logical: PurePosixPath, content: bytes, mode: int,
                modes: dict[PurePosixPath, int] | None = None) -> Path:
    """One file under the root, written atomically without following a link (directories: ``modes``)."""
    with Tree(root.path, paths.WIZARD_STATE) as tree:
        tree.write(logical, content, mode, modes)
        tree.sync()
    return root(logical)


def remove_under(root: Root, logical: PurePosixPath) -> None:
    with Tree(root.path, paths.WIZARD_STATE) as tree:
        tree.unlink(logical)
        tree.sync()


def make_dirs(folder: Path, mode: int = 0o755) -> None:
    """``mkdir -p`` outside the root (an answers file, an export) with ``mode`` whatever the umask:
    a wizard started under umask 000 must not leave a world-writable directory above a secret."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, mode)
            os.chmod(directory, mode)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(target: Path, content: bytes, mode: int, dirs_to_sync: set[Path] | None = None) -> None:
    """Write ``content`` to a temp file beside ``target`` with ``mode``, fsync it, rename it over ``target``.

    For files outside the root (the answers file, an export); under the root, apply writes through
    ``safefs.Tree``. The rename is made durable by an fsync of the directory: at once, or, when the
    caller collects ``dirs_to_sync``, once per directory at the end of a batch.
    """
    tmp = target.with_name(temp_name(target.name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # the mode asked, whatever the umask
        write_all(fd, content)
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


def _backup_mode(change: FileChange) -> int:
    """The mode a rollback restores: private material never gets back group or other access, even
    when this run only fixes a key's 0644."""
    old = change.old_mode if change.old_mode is not None else 0o600
    private = is_private(change.action.mode) or (change.old is not None and b"PRIVATE KEY" in change.old)
    return old & ~0o077 if private else old


def back_up(root: Root, changes: list[FileChange], backup_id: str, kind: str = "apply",
            tree: Tree | None = None, created_dirs: tuple[DirAction, ...] = (),
            removed_dirs: tuple[DirAction, ...] = ()) -> Path:
    """Copy every file about to change into backups/<id>/files (each copy 0600) and record what existed,
    the directories this run will create or remove (with their modes), and (empty so far) its commands."""
    with contextlib.ExitStack() as stack:
        if tree is None:
            tree = stack.enter_context(Tree(root.path, paths.WIZARD_STATE))
        folder = paths.BACKUPS_DIR / backup_id
        modes = {paths.WIZARD_STATE: 0o700, paths.BACKUPS_DIR: 0o700, folder: 0o700}
        tree.ensure_dir(folder, modes)
        entries = []
        for change in changes:
            logical = change.action.path
            entry: dict[str, object] = {"path": str(logical), "existed": change.old is not None,
                                        "change": change.change.value}
            if change.old is not None:
                # A copy of a key is as secret as the key: every copy is 0600 in 0700 directories.
                tree.write(folder / "files" / str(logical).lstrip("/"), change.old, 0o600)
                entry["mode"] = _backup_mode(change)
            entries.append(entry)
        manifest = {"id": backup_id, "kind": kind, "created": datetime.now(UTC).isoformat(),
                    "root": str(root.path), "files": entries,
                    "dirs": [_dir_record(d) for d in created_dirs],
                    "removed_dirs": [_dir_record(d) for d in removed_dirs], "commands": []}
        tree.write(folder / "manifest.json", _state_json(manifest), 0o600)
        tree.sync()  # the copies are on disk before anything they preserve changes
    return root(folder)


def _state_json(value: object) -> bytes:
    """A manifest or journal: one value per line, from the C encoder (``indent`` takes the pure-Python one: a
    third of a second for a first apply of ten thousand clients, again at each command the run records)."""
    return json.dumps(value, separators=(",\n", ": ")).encode()


def _dir_record(d: DirAction) -> dict[str, object]:
    return {"path": str(d.path), "mode": d.mode}


def _manifest_path(backup_id: str) -> PurePosixPath:
    return paths.BACKUPS_DIR / backup_id / "manifest.json"


def _record_command(tree: Tree, backup_id: str, command: Command, state: str, index: int | None = None) -> int:
    """Put ``command`` with its undo into the run's manifest (durably), or set the state of record ``index``.

    Called before the command runs (state "running"), so a run killed midway still names what to take back;
    then again with "done" or "failed". Returns the record's index."""
    logical = _manifest_path(backup_id)
    found = tree.read(logical)
    if found is None:
        raise WizardError(f"{logical}: the manifest of this run disappeared; nothing more is run")
    manifest = json.loads(found.content)
    records = manifest.setdefault("commands", [])
    if index is None:
        records.append({"argv": list(command.argv), "why": command.why, "state": state,
                        "undo": [list(a) for a in command.undo] if command.undo is not None else None,
                        "undo_why": command.undo_why})
        index = len(records) - 1
    else:
        records[index]["state"] = state
    tree.write(logical, _state_json(manifest), 0o600)
    tree.sync()
    return index


def _dirs_to_create(tree: Tree, plan: Plan, todo: list[FileChange]) -> tuple[DirAction, ...]:
    """The directories under the root this run will create (missing now), each with the mode it gets.

    Swan Wizard's own state directory is left out: it holds the lock and the backups a rollback reads."""
    wanted = {d.path for d in plan.dirs} | {c.action.path.parent for c in todo if c.change is not Change.REMOVE}
    modes = {d.path: d.mode for d in plan.dirs}
    missing: set[PurePosixPath] = set()
    for folder in wanted:
        d = folder
        while d != TOP and d not in missing and not within(d, paths.WIZARD_STATE):
            # (under a missing parent: missing too, with no open tried: ten thousand new client folders)
            if d.parent not in missing and tree.dir(d) is not None:
                break  # it exists, so do its parents
            missing.add(d)
            d = d.parent
    return tuple(DirAction(d, modes.get(d, default_dir_mode(d, paths.WIZARD_STATE))) for d in sorted(missing))


def _journal(tree: Tree, backup_id: str, state: str, paths_: list[str]) -> None:
    journal = {"backup": backup_id, "state": state, "pid": os.getpid(), "files": paths_,
               "time": datetime.now(UTC).isoformat()}
    tree.write(paths.JOURNAL_FILE, _state_json(journal), 0o600)
    tree.sync()


def is_key_path(logical: PurePosixPath) -> bool:
    """The private keys the wizard makes: the CA's, the host's (either layout), clients' and peers'."""
    if logical == paths.CA_KEY:
        return True
    if logical.name == paths.HOST_KEY_NAME and logical.parent in (paths.SWANCTL_PRIVATE, paths.IPSEC_PRIVATE):
        return True
    return logical.name == "key.pem" and logical.parent.parent in (paths.CLIENTS_DIR, paths.PEERS_DIR)


def _guard_keys(todo: list[FileChange], replace_keys: bool) -> None:
    """An existing key is never replaced, whatever raced with this run; only an explicit choice (the
    wizard's "start over" or CA import, a rollback) may put another key in its place."""
    if replace_keys:
        return
    replaced = [str(c.action.path) for c in todo if c.change is Change.UPDATE and is_key_path(c.action.path)]
    if replaced:
        raise MaterialConflict(f"{', '.join(replaced)}: an existing key is never replaced, and this plan holds "
                               "another one (nothing was written). Run the command again to plan with it.")


def apply(plan: Plan, root: Root, run_commands: bool = True, report: Report | None = None,
          kind: str = "apply", held: Held | None = None, replace_keys: bool = False) -> ApplyResult:
    """Carry out ``plan`` under the root's lock: ``held`` when the caller took it before planning
    (as every command does), else taken here."""
    if held is not None and held.root != root.path:
        raise ValueError(f"the lock held is for {held.root}, not {root.path}")
    with contextlib.ExitStack() as stack:
        if held is None:
            stack.enter_context(lock(root))
        tree = stack.enter_context(Tree(root.path, paths.WIZARD_STATE))
        return _apply_locked(plan, root, tree, run_commands, report or (lambda _msg: None), kind, replace_keys)
    raise AssertionError("unreachable")


def _apply_locked(plan: Plan, root: Root, tree: Tree, run_commands: bool, say: Report, kind: str,
                  replace_keys: bool) -> ApplyResult:
    result = ApplyResult()
    todo = pending(file_changes(plan, root))
    _guard_keys(todo, replace_keys)
    result.changed = todo
    dir_modes = {d.path: d.mode for d in plan.dirs}
    if todo:
        result.backup_id = new_backup_id(root)
        # The directories this run creates are recorded before any is made: a rollback removes them.
        back_up(root, todo, result.backup_id, kind, tree, _dirs_to_create(tree, plan, todo), plan.remove_dirs)
    for d in plan.dirs:
        tree.ensure_dir(d.path, dir_modes)
    if todo:
        assert result.backup_id is not None
        # The journal marks an apply in progress: an interrupted run is found at the next start.
        _journal(tree, result.backup_id, "applying", [str(c.action.path) for c in todo])
        _write_changes(tree, todo, dir_modes, say)
        # Every rename is on disk before the journal that marks this run unfinished goes away.
        tree.sync()
        tree.unlink(paths.JOURNAL_FILE)
        tree.sync()
    if plan.stamps is not None:
        _record_stamps(tree, plan.stamps, time.time_ns())
    failures: list[Problem] = []
    if run_commands and root.is_live and plan.commands:
        owed = pending_commands(tree)
        if owed is not None and not plan.reverts:
            say(f"the commands of an earlier apply did not all succeed ({owed.get('failed') or 'interrupted'}); "
                "running them again")
        if todo or owed is not None or plan.reverts or _needs_start(plan):
            failures = _run_commands(plan, root, tree, say, result, kind)
    _remove_empty_dirs(tree, plan.remove_dirs, say)
    if failures:
        raise WizardError(failures)
    return result


# Below this many new files, staging them here costs less than forking a child to share the staging.
STAGE_PARALLEL_FROM = 2048


def _write_changes(tree: Tree, todo: list[FileChange], dir_modes: dict[PurePosixPath, int], say: Report) -> None:
    """Every new content first goes to a temporary file beside its target; one flush per filesystem makes
    them all durable; then, in the plan's order, each is renamed into place (and removals and mode changes
    are made). A run killed before the renames changed nothing but left temporary files (removed by the next
    run); one killed among them is finished by the next run, as the journal says."""
    staged: dict[int, Staged] = {}
    try:
        _stage_all(tree, todo, dir_modes, staged)
        tree.flush(list(staged.values()))
        for i, change in enumerate(todo):
            action = change.action
            if change.change is Change.REMOVE:
                tree.unlink(action.path)
                say(f"removed {action.path}")
                continue
            if change.change is Change.MODE:
                tree.ensure_dir(action.path.parent, dir_modes)
                tree.fix_mode(action.path, action.mode)
            else:
                tree.publish(staged.pop(i))
            say(f"{change.change.value:>6} {action.path} ({action.mode:04o})")
    finally:
        for left in staged.values():  # a failure on the way: nothing half-written stays behind
            with contextlib.suppress(OSError):
                tree.discard(left)


def _stage_all(tree: Tree, todo: list[FileChange], dir_modes: dict[PurePosixPath, int],
               staged: dict[int, Staged]) -> None:
    """Stage every new content into ``staged`` (by index in ``todo``). Many files (a first apply of thousands of
    clients writes eleven each) are shared with a forked child (``halves``): a private copy of ``tree`` in another
    process, so the two never share a descriptor. Whatever the child did not stage is staged here, after its
    temporary files are removed; what fails here raises as it always has."""
    writes = [(i, c) for i, c in enumerate(todo) if c.change in (Change.CREATE, Change.UPDATE)]

    def stage(item: tuple[int, FileChange]) -> Staged:
        action = item[1].action
        assert action.content is not None
        tree.ensure_dir(action.path.parent, dir_modes)
        return tree.stage(action.path, action.content, action.mode, dir_modes,
                          no_replace=item[1].change is Change.CREATE and is_private(action.mode))

    def attempt(item: tuple[int, FileChange]) -> Staged | None:
        try:
            return stage(item)
        except Exception:  # staged again below, where the error is raised
            return None

    if len(writes) >= STAGE_PARALLEL_FROM and halves.can_fork():
        split = halves.in_two(writes, attempt, lambda v: type(v) is Staged)
        staged.update((i, s) for (i, _), s in zip(writes, split.results, strict=True) if s is not None)
        for (_, change), s in zip(writes, split.results, strict=True):
            if s is None and split.child is not None:
                path = change.action.path  # the child may have left its temporary file
                tree.discard(Staged(path, temp_name(path.name, split.child), False, 0))
        writes = [(i, c) for i, c in writes if i not in staged]
    for item in writes:
        staged[item[0]] = stage(item)


def _record_stamps(tree: Tree, request: stamps.Request, written_until: int) -> None:
    """Record the stamps of the client folders this run wrote or checked (after the clock tick of the last
    write has passed), with those it left unopened as they were; an unchanged record is not written again."""
    names = request.to_take()
    taken: dict[str, str] = {}
    if names:
        folder = tree.dir(paths.CLIENTS_DIR)
        if folder is not None:
            stamps.settle(written_until)
            taken = stamps.take(folder, names)
    record = request.result(taken)
    if record != request.loaded:
        tree.write(stamps.STAMPS, stamps.render(record, request.loaded), 0o600)


def _remove_empty_dirs(tree: Tree, dirs: tuple[DirAction, ...], say: Report) -> None:
    """Remove each directory that is empty, deepest first; one holding anything (an admin's file) stays."""
    for d in sorted(dirs, key=lambda d: len(d.path.parts), reverse=True):
        if tree.dir(d.path) is None:
            continue
        if tree.rmdir(d.path):
            say(f"removed directory {d.path}")
        else:
            say(f"kept {d.path}: it is not empty")
    tree.sync()


def pending_commands(tree: Tree) -> dict[str, object] | None:
    """What an earlier apply owes: its files were written but its commands did not all succeed."""
    found = tree.read(paths.PENDING_COMMANDS)
    if found is None:
        return None
    try:
        data = json.loads(found.content)
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {}


def _run_commands(plan: Plan, root: Root, tree: Tree, say: Report, result: ApplyResult, kind: str) -> list[Problem]:
    """Run the plan's commands, each recorded with its undo in the run's manifest before it starts.

    Until the last one succeeds, a state file says they are owed, so that a failed or killed run is finished
    by the next apply even when no file changes any more. A rollback's commands (``plan.reverts``) all run:
    each failure is returned (one line each) instead of stopping the rest."""
    def owe(failed: str) -> None:
        record = {"commands": [str(c) for c in plan.commands], "failed": failed, "pid": os.getpid(),
                  "time": datetime.now(UTC).isoformat()}
        tree.write(paths.PENDING_COMMANDS, json.dumps(record, indent=2).encode(), 0o600)
        tree.sync()

    if result.backup_id is None and any(c.undo is not None for c in plan.commands):
        # No file changed, yet a command will change the system: a run of its own, so a rollback can take it back.
        result.backup_id = new_backup_id(root)
        back_up(root, [], result.backup_id, kind, tree)
    failures: list[Problem] = []
    if not plan.reverts:
        owe("")
    for command in plan.commands:
        say(f"$ {command}")
        index = _record_command(tree, result.backup_id, command, "running") if result.backup_id else None
        try:
            service.run(command)
        except service.CommandFailed as exc:
            if result.backup_id and index is not None:
                _record_command(tree, result.backup_id, command, "failed", index)
            if plan.reverts:
                failures.append(Problem(f"{command.why}: {exc}"))
                continue
            owe(str(command))
            raise WizardError(f"{exc} (the next apply runs the commands again)") from None
        if result.backup_id and index is not None:
            _record_command(tree, result.backup_id, command, "done", index)
        result.commands_run.append(command)
    tree.unlink(paths.PENDING_COMMANDS)
    tree.sync()
    return failures


def _needs_start(plan: Plan) -> bool:
    """A daemon that is not running is started even when no file changed."""
    return any(c.argv[0] == service.DETACH or c.argv[:2] == ("ipsec", "start") for c in plan.commands)
