"""How a plan reads to a person: one header line per file, a unified diff (certificates as their fields),
secrets never shown. The dry run, ``client`` commands and the review screen print the same lines."""

from __future__ import annotations

import difflib
import os

from wizard.fs.changes import Change, FileChange, Plan, pending, wrong_owner
from wizard.pki.certinfo import pem_summary


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
        if wrong_owner(action, change.old_owner):
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
        for c in plan.commands:
            out += [f"  $ {c}    # {c.why}", f"      rollback: {c.describe_undo()}"]
    if plan.remove_dirs:
        out.append("Directories to remove when empty:")
        out += [f"  rmdir  {d.path}" for d in sorted(plan.remove_dirs, key=lambda d: d.path)]
    return "\n".join(out) + "\n"
