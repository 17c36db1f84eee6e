"""The plan: every file to write or remove (content and mode) and every command to run, as data.

Computing a plan has no side effects on the target; ``wizard.plan.apply`` carries it out and
``wizard.plan.preview`` shows it: dry runs, the review screen and headless replay show the same plan.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath

from wizard.fs import stamps
from wizard.fs.paths import Root
from wizard.fs.safefs import Found, Tree, is_private


@dataclass(frozen=True)
class FileAction:
    path: PurePosixPath
    content: bytes | None  # None: remove the file
    mode: int = 0o644
    secret: bool = False  # content never shown in a diff or a log
    why: str = ""


@dataclass(frozen=True)
class DirAction:
    path: PurePosixPath
    mode: int


Argv = tuple[str, ...]


@dataclass(frozen=True)
class Command:
    """One command of the plan, with what takes it back.

    ``undo``: the commands a rollback runs, in this order, once the files are restored (the inverse is judged
    from the facts when the plan was made, e.g. a unit is disabled again only if it was not enabled before);
    None when there is nothing to take back. ``undo_why`` says why, either way. Apply records the undo in the
    run's backup manifest before the command runs, so a run killed midway still leaves what to take back.
    """

    argv: Argv
    why: str
    may_fail: bool = False  # e.g. deleting a table that is already gone
    undo: tuple[Argv, ...] | None = None
    undo_why: str = ""

    def __post_init__(self) -> None:
        if self.undo is not None and (not self.undo or not all(self.undo)):
            raise ValueError(f"{self}: an undo is one or more non-empty commands, or None")

    def __str__(self) -> str:
        return " ".join(self.argv)

    @property
    def states_undo(self) -> bool:
        """Whether the undo was decided (an undo, or a reason there is none)."""
        return self.undo is not None or bool(self.undo_why)

    def describe_undo(self) -> str:
        """The undo as the plan shows it: ``$ a; $ b  (why)`` or ``nothing to undo (why)``."""
        why = f"  ({self.undo_why})" if self.undo_why else ""
        if self.undo is None:
            return "nothing to undo" + why
        return "; ".join(f"$ {' '.join(argv)}" for argv in self.undo) + why


@dataclass(frozen=True)
class Plan:
    files: tuple[FileAction, ...]
    dirs: tuple[DirAction, ...] = ()
    commands: tuple[Command, ...] = ()
    notes: tuple[str, ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()
    # Anything a front end may show once after apply (e.g. where a generated password was stored).
    handouts: tuple[str, ...] = field(default=())
    # A rollback: its commands take back earlier runs' commands. They run even when no file changes, and a
    # failed one does not stop the rest (each failure is reported). Then directories in ``remove_dirs``
    # (those earlier runs created, with the mode they were made with) are removed when empty.
    reverts: bool = False
    remove_dirs: tuple[DirAction, ...] = ()
    # The stamps of the client folders to record once the files are written (see fs.stamps).
    stamps: stamps.Request | None = None


class Change(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    MODE = "mode"  # same content, other permissions
    REMOVE = "remove"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class FileChange:
    action: FileAction
    change: Change
    old: bytes | None
    old_mode: int | None
    old_owner: int | None = None  # uid of the file on disk


def wrong_owner(action: FileAction, uid: int | None) -> bool:
    """Private material belongs to the user the wizard runs as (root): another owner can read it."""
    return uid is not None and is_private(action.mode) and uid != os.geteuid()


def _unchanged_since_read(root: Root, action: FileAction) -> Found | None:
    """The file as found, without reading it, when the plan took ``action``'s content from that very file
    and its stamp says it has not changed since (with thousands of clients, a second read of every
    unchanged file was a large part of a no-op run). None: read it."""
    st = root.unchanged(action.path, action.content) if action.content is not None else None
    return Found(action.content, stat.S_IMODE(st.st_mode), st.st_uid) if st and action.content is not None else None


def file_changes(plan: Plan, root: Root) -> list[FileChange]:
    """What applying ``plan`` would do to each file now; files are read without following any link."""
    out = []
    missing: set[PurePosixPath] = set()  # directories found missing: a first apply's ten thousand client folders
    with Tree(root.path) as tree:
        for action in plan.files:
            parent = action.path.parent
            found = None if parent in missing else _unchanged_since_read(root, action) or tree.read(action.path)
            if found is None and parent not in missing and tree.dir(parent) is None:
                missing.add(parent)
            old, old_mode, owner = (found.content, found.mode, found.uid) if found else (None, None, None)
            if action.content is None:
                change = Change.REMOVE if found else Change.UNCHANGED
            elif found is None:
                change = Change.CREATE
            elif old != action.content:
                change = Change.UPDATE
            elif old_mode != action.mode or wrong_owner(action, owner):
                change = Change.MODE
            else:
                change = Change.UNCHANGED
            out.append(FileChange(action, change, old, old_mode, owner))
    return out


def pending(changes: Iterable[FileChange]) -> list[FileChange]:
    return [c for c in changes if c.change is not Change.UNCHANGED]
