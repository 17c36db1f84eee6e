"""The plan: every file to write or remove (content and mode) and every command to run, as data.

Computing a plan has no side effects on the target; ``wizard.apply`` carries it out. Dry runs, the
review screen and headless replay all show the same plan.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath

from wizard.paths import Root
from wizard.safefs import Tree, is_private


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


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    why: str
    may_fail: bool = False  # e.g. deleting a table that is already gone

    def __str__(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True)
class Plan:
    files: tuple[FileAction, ...]
    dirs: tuple[DirAction, ...] = ()
    commands: tuple[Command, ...] = ()
    notes: tuple[str, ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()
    # Anything a front end may show once after apply (e.g. where a generated password was stored).
    handouts: tuple[str, ...] = field(default=())


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


def _wrong_owner(action: FileAction, uid: int | None) -> bool:
    """Private material belongs to the user the wizard runs as (root): another owner can read it."""
    return uid is not None and is_private(action.mode) and uid != os.geteuid()


def file_changes(plan: Plan, root: Root) -> list[FileChange]:
    """What applying ``plan`` would do to each file now; files are read without following any link."""
    out = []
    with Tree(root.path) as tree:
        for action in plan.files:
            found = tree.read(action.path)
            old, old_mode, owner = (found.content, found.mode, found.uid) if found else (None, None, None)
            if action.content is None:
                change = Change.REMOVE if found else Change.UNCHANGED
            elif found is None:
                change = Change.CREATE
            elif old != action.content:
                change = Change.UPDATE
            elif old_mode != action.mode or _wrong_owner(action, owner):
                change = Change.MODE
            else:
                change = Change.UNCHANGED
            out.append(FileChange(action, change, old, old_mode, owner))
    return out


def pending(changes: Iterable[FileChange]) -> list[FileChange]:
    return [c for c in changes if c.change is not Change.UNCHANGED]


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in data


def _diffable(data: bytes | None) -> list[str]:
    """Lines to diff: a certificate's fields rather than its base64, so the diff says what changed."""
    if data is None:
        return []
    from wizard.certinfo import pem_summary  # lazy: only plans that show certificates need cryptography

    lines = pem_summary(data)
    return [line + "\n" for line in lines] if lines is not None else data.decode().splitlines(keepends=True)


def describe_change(change: FileChange) -> list[str]:
    """Plan lines for one file: a header with mode, then a unified diff unless the content is secret."""
    action = change.action
    mode = f"{action.mode:04o}"
    if change.change is Change.REMOVE:
        return [f"remove  {action.path}" + (f"  ({action.why})" if action.why else "")]
    head = {Change.CREATE: "create", Change.UPDATE: "update", Change.MODE: "chmod ",
            Change.UNCHANGED: "keep  "}[change.change]
    line = f"{head}  {action.path}  mode {mode}"
    if change.change is Change.MODE and change.old_mode is not None:
        line += f" (was {change.old_mode:04o})" if change.old_mode != action.mode else ""
        if _wrong_owner(action, change.old_owner):
            line += f" (owner uid {change.old_owner}, becomes {os.geteuid()})"
    if action.why:
        line += f"  ({action.why})"
    lines = [line]
    if change.change not in (Change.CREATE, Change.UPDATE):
        return lines
    assert action.content is not None
    if action.secret:
        lines.append(f"    (secret content not shown, {len(action.content)} bytes)")
    elif not _is_text(action.content) or (change.old is not None and not _is_text(change.old)):
        lines.append(f"    (binary content, {len(action.content)} bytes)")
    else:
        old_text, new_text = _diffable(change.old), _diffable(action.content)
        diff = difflib.unified_diff(old_text, new_text,
                                    "/dev/null" if change.old is None else f"a{action.path}",
                                    f"b{action.path}")
        lines += ["    " + d.rstrip("\n") for d in diff]
    return lines


def describe(plan: Plan, changes: list[FileChange], live: bool) -> str:
    todo = pending(changes)
    out: list[str] = []
    for field_name, message in plan.warnings:
        out.append(f"warning: {field_name}: {message}")
    out += [f"note: {n}" for n in plan.notes]
    if not todo:
        out.append(f"Nothing to change: all {len(changes)} files already match the answers.")
    else:
        out.append(f"Files ({len(todo)} to change, {len(changes) - len(todo)} unchanged):")
        for change in todo:
            out += describe_change(change)
    if plan.commands:
        out.append("Commands" + ("" if live else " (not run: --root is not the live system)") + ":")
        out += [f"  $ {c}    # {c.why}" for c in plan.commands]
    return "\n".join(out) + "\n"
