"""A plan reads each unchanged file once: ``Root.read_bytes`` remembers what it found, and the comparison
of the plan with the disk trusts a file's stamp only while it still describes that content."""

from __future__ import annotations

import os
import time
from pathlib import Path, PurePosixPath

import pytest

from wizard.fs import paths
from wizard.fs.changes import Change, FileAction, Plan, file_changes
from wizard.fs.paths import Root
from wizard.fs.safefs import LinkRefused

LOGICAL = PurePosixPath("/etc/swan-wizard/clients/alice/README.txt")


def _old_file(root: Root, content: bytes, mode: int = 0o600) -> Path:
    real = root.path / LOGICAL.relative_to("/")
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_bytes(content)
    real.chmod(mode)
    past = time.time() - 60
    os.utime(real, (past, past))
    return real


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Root:
    monkeypatch.setattr(paths, "_RACY_NS", 0)
    return Root(tmp_path)


def _change(root: Root, content: bytes, mode: int = 0o600) -> Change:
    (change,) = file_changes(Plan((FileAction(LOGICAL, content, mode),)), root)
    return change.change


def test_an_unchanged_file_is_not_read_again(root: Root, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_file(root, b"hello\n")
    data = root.read_bytes(LOGICAL)
    assert data == b"hello\n"
    reads: list[PurePosixPath] = []
    from wizard.fs import safefs

    real_read = safefs.Tree.read
    monkeypatch.setattr(safefs.Tree, "read", lambda self, logical: reads.append(logical) or real_read(self, logical))
    assert _change(root, data) is Change.UNCHANGED
    assert reads == []


@pytest.mark.parametrize("edit", ["same-size", "longer", "replaced", "mode"])
def test_a_file_changed_after_the_read_is_read_and_compared(root: Root, edit: str) -> None:
    real = _old_file(root, b"hello\n")
    data = root.read_bytes(LOGICAL)
    assert data is not None
    if edit == "same-size":
        time.sleep(0.01)
        with real.open("r+b") as f:  # same inode, same size: only the timestamps tell
            f.write(b"HELLO\n")
    elif edit == "longer":
        real.write_bytes(b"hello, world\n")
    elif edit == "replaced":
        other = real.with_name("new")
        other.write_bytes(b"jello\n")
        os.replace(other, real)
    else:
        real.chmod(0o644)
    expected = Change.MODE if edit == "mode" else Change.UPDATE
    assert _change(root, data) is expected


def test_a_file_changed_just_before_the_read_is_not_trusted(tmp_path: Path) -> None:
    # Within the racy window a later write may land in the same timestamp tick: no stamp is remembered.
    root = Root(tmp_path)
    real = _old_file(root, b"hello\n")
    real.write_bytes(b"hullo\n")
    assert root.read_bytes(LOGICAL) == b"hullo\n"
    assert root.unchanged(LOGICAL, b"hullo\n") is None


def test_other_content_than_read_is_compared(root: Root) -> None:
    _old_file(root, b"hello\n")
    root.read_bytes(LOGICAL)
    assert root.unchanged(LOGICAL, b"other\n") is None
    assert _change(root, b"other\n") is Change.UPDATE


def test_forget_checks_forgets_what_was_read(root: Root) -> None:
    _old_file(root, b"hello\n")
    root.read_bytes(LOGICAL)
    assert root.unchanged(LOGICAL, b"hello\n") is not None
    root.forget_checks()
    assert root.unchanged(LOGICAL, b"hello\n") is None


def test_read_bytes_refuses_links_and_skips_what_is_not_a_file(root: Root) -> None:
    real = _old_file(root, b"hello\n")
    assert root.read_bytes(LOGICAL.parent / "missing") is None
    assert root.read_bytes(LOGICAL.parent) is None  # a directory
    os.mkfifo(real.with_name("fifo"))
    assert root.read_bytes(LOGICAL.parent / "fifo") is None  # never blocks
    assert root.read_bytes(LOGICAL, limit=3) is None
    (real.parent / "link").symlink_to(real)
    with pytest.raises(LinkRefused):
        root.read_bytes(LOGICAL.parent / "link")
