"""Property: whatever links a root holds, nothing outside it is written, chmodded, removed or read.

Random small trees mix real directories, files and links (to a directory or file outside the root,
to a directory inside it, dangling); then a write, chmod, removal or read through ``safefs.Tree`` or
a ``Root`` lookup. Budget: SWAN_WIZARD_FUZZ_EXAMPLES (default 200) examples.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path, PurePosixPath

from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.fs.paths import Root
from wizard.fs.safefs import LinkRefused, Tree

EXAMPLES = int(os.environ.get("SWAN_WIZARD_FUZZ_EXAMPLES", "200"))
NAMES = ("a", "b", "c")
KINDS = ("dir", "file", "link-outside-dir", "link-outside-file", "link-inside", "link-dangling")

logicals = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map(lambda parts: PurePosixPath("/", *parts))
trees = st.dictionaries(logicals, st.sampled_from(KINDS), max_size=6)
operations = st.sampled_from(("write", "mkdir", "chmod", "unlink", "read", "lookup"))


def _snapshot(directory: Path) -> dict[str, tuple[int, int, bytes | None]]:
    out = {}
    for path in [directory, *directory.rglob("*")]:
        st_ = path.lstat()
        out[str(path)] = (st_.st_mode, st_.st_uid, path.read_bytes() if stat.S_ISREG(st_.st_mode) else None)
    return out


def _build(root: Path, outside: Path, layout: dict[PurePosixPath, str]) -> None:
    for logical, kind in sorted(layout.items(), key=lambda item: len(item[0].parts)):
        real = root.joinpath(*logical.parts[1:])
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
            if kind == "dir":
                real.mkdir(exist_ok=True)
            elif kind == "file":
                real.write_bytes(b"inside\n")
            elif kind == "link-outside-dir":
                real.symlink_to(outside)
            elif kind == "link-outside-file":
                real.symlink_to(outside / "victim")
            elif kind == "link-inside":
                real.symlink_to(root)
            else:
                real.symlink_to(outside / "nowhere")
        except OSError:
            continue  # a parent is a file or a link already: that layout cannot be built, skip the entry


def _has_link(root: Path, logical: PurePosixPath) -> bool:
    real = root
    for part in logical.parts[1:]:
        real = real / part
        try:
            if stat.S_ISLNK(real.lstat().st_mode):
                return True
        except OSError:
            return False
    return False


def _file_on_the_way(root: Path, logical: PurePosixPath) -> bool:
    real = root
    for part in logical.parts[1:-1]:
        real = real / part
        if real.is_file():
            return True
    return False


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(layout=trees, target=logicals, operation=operations)
def test_nothing_outside_the_root_is_touched(layout: dict[PurePosixPath, str], target: PurePosixPath,
                                            operation: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        root, outside = base / "root", base / "outside"
        root.mkdir()
        outside.mkdir()
        os.chmod(outside, 0o1777)
        (outside / "victim").write_bytes(b"outside\n")
        _build(root, outside, layout)
        before = _snapshot(outside)
        linked = _has_link(root, target)
        try:
            if operation == "lookup":
                Root.of(root)(target)
            else:
                with Tree(root) as tree:
                    if operation == "write":
                        tree.write(target, b"new\n", 0o600)
                    elif operation == "mkdir":
                        tree.ensure_dir(target, {target: 0o700})
                    elif operation == "chmod":
                        tree.fix_mode(target, 0o600)
                    elif operation == "unlink":
                        tree.unlink(target)
                    else:
                        found = tree.read(target)
                        assert found is None or found.content == b"inside\n" or found.content == b"new\n"
        except LinkRefused:
            # refused only because of a link on the way, or a file where a directory must be
            assert linked or _file_on_the_way(root, target / "x" if operation == "mkdir" else target)
        except (FileExistsError, IsADirectoryError, NotADirectoryError):
            pass  # a real file or directory in the way: an error, not a write elsewhere
        except Exception as exc:  # a WizardError (e.g. chmod of a missing file) is fine; nothing else is
            from wizard.problems import WizardError

            assert isinstance(exc, WizardError), repr(exc)
        else:
            if operation == "lookup":
                assert not linked
            if operation == "write":
                real = root.joinpath(*target.parts[1:])
                assert stat.S_ISREG(real.lstat().st_mode) and real.read_bytes() == b"new\n"
                assert not _has_link(root, target.parent)
        assert _snapshot(outside) == before
        leftovers = [p for p in root.rglob("*.tmp") if not p.is_symlink()]
        assert leftovers == []


def test_staged_files_are_flushed_once_per_filesystem_and_published_in_place(tmp_path: Path,
                                                                            monkeypatch) -> None:
    from wizard.fs import safefs

    calls: list[int] = []
    real = safefs._syncfs
    monkeypatch.setattr(safefs, "_syncfs", lambda fd: calls.append(fd) or real(fd))
    names = [PurePosixPath(f"/etc/swan-wizard/clients/c{i}/README.txt") for i in range(20)]
    with Tree(tmp_path) as tree:
        staged = [tree.stage(n, f"{n}\n".encode(), 0o600) for n in names]
        assert not any((tmp_path / str(n).lstrip("/")).exists() for n in names)  # nothing in place yet
        tree.flush(staged)
        assert len(calls) == 1  # one filesystem here
        for s in staged:
            tree.publish(s)
    for n in names:
        real_file = tmp_path / str(n).lstrip("/")
        assert real_file.read_text() == f"{n}\n" and stat.S_IMODE(real_file.stat().st_mode) == 0o600
    assert not list(tmp_path.rglob("*.tmp"))


def test_without_syncfs_each_staged_file_is_fsynced(tmp_path: Path, monkeypatch) -> None:
    from wizard.fs import safefs

    monkeypatch.setattr(safefs, "_libc", lambda: None)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(safefs.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    with Tree(tmp_path) as tree:
        staged = [tree.stage(PurePosixPath(f"/etc/f{i}"), b"x", 0o644) for i in range(3)]
        tree.flush(staged)
        assert len(synced) == 3
        tree.discard(staged[0])
        for s in staged[1:]:
            tree.publish(s)
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["f1", "f2"]


def test_a_zombie_is_not_a_live_run() -> None:
    """A killed run's forked child is a zombie until init reaps it: its temporary files are a dead run's."""
    import time

    from wizard.fs.safefs import pid_alive

    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pid_alive(pid)
        os.kill(pid, 0)  # still there, unreaped: the signal alone would call it alive
    finally:
        os.waitpid(pid, 0)
    assert pid_alive(os.getpid()) and pid_alive(1)
