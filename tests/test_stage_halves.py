"""Many new files are staged half by a forked child (``apply._stage_all``): the same files, modes and owners as
staging them all here; a child that dies midway leaves nothing behind; a failure still raises and leaves no
temporary file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from wizard.fs import paths, safefs
from wizard.fs.paths import Root
from wizard.plan import apply as apply_module
from wizard.plan.apply import apply


def tree_of(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under ``root`` but the wizard's state (backups, stamps: times and inodes): content, mode, owner."""
    state = root / str(paths.WIZARD_STATE).lstrip("/")
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and state not in path.parents:
            st = path.stat()
            out[str(path.relative_to(root))] = (path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid)
    return out


def temp_files(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if safefs.TEMP_RE.match(p.name)]


@pytest.fixture(autouse=True)
def _always_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Share the staging with a child whatever the number of files."""
    monkeypatch.setattr(apply_module, "STAGE_PARALLEL_FROM", 1)


def test_files_staged_on_two_cores_are_the_files_one_core_stages(tmp_path: Path, make_answers, plan_for,
                                                                  forks: list[int],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = Root.of(tmp_path / "one"), Root.of(tmp_path / "two")
    plan = plan_for(make_answers(), two)
    result = apply(plan, two, run_commands=False)
    assert len(forks) == 1 and len(result.changed) > 30
    monkeypatch.setattr(apply_module, "STAGE_PARALLEL_FROM", 10**9)
    apply(plan, one, run_commands=False)
    assert len(forks) == 1
    assert tree_of(two.path) == tree_of(one.path)
    assert temp_files(two.path) == []


def test_a_child_that_dies_midway_leaves_nothing_and_this_process_stages_the_rest(
        tmp_path: Path, make_answers, plan_for, forks: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    real_stage = safefs.Tree.stage
    staged_by_child = 0

    def stage(self: safefs.Tree, *args: object, **kwargs: object) -> safefs.Staged:
        nonlocal staged_by_child
        if os.getpid() != parent:
            staged_by_child += 1
            if staged_by_child > 5:  # killed with five temporary files written
                os._exit(9)
        return real_stage(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(safefs.Tree, "stage", stage)
    one, two = Root.of(tmp_path / "one"), Root.of(tmp_path / "two")
    plan = plan_for(make_answers(), two)
    apply(plan, two, run_commands=False)
    assert len(forks) == 1
    assert temp_files(two.path) == []
    monkeypatch.setattr(apply_module, "STAGE_PARALLEL_FROM", 10**9)
    apply(plan, one, run_commands=False)
    assert tree_of(two.path) == tree_of(one.path)


def test_a_file_that_cannot_be_written_stops_the_run_before_any_rename(tmp_path: Path, make_answers, plan_for,
                                                                      forks: list[int],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up on one client's bundle (in whichever process stages it): the error is raised as when
    one process stages everything, no file is renamed into place and no temporary file stays."""
    real_stage = safefs.Tree.stage

    def stage(self: safefs.Tree, logical: object, *args: object, **kwargs: object) -> safefs.Staged:
        if str(logical).endswith("/bob.p12"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_stage(self, logical, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(safefs.Tree, "stage", stage)
    root = Root.of(tmp_path / "root")
    with pytest.raises(OSError) as raised:
        apply(plan_for(make_answers(), root), root, run_commands=False)
    assert raised.value.errno == errno.ENOSPC
    assert len(forks) == 1
    assert temp_files(root.path) == []
    assert not root(paths.CA_KEY).exists() and not root(paths.client_dir("alice@example.com")).joinpath(
        "alice@example.com.p12").exists()
