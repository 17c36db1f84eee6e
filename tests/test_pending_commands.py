"""Service commands that did not all succeed stay owed: the next apply runs them, even with no file to change."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from wizard.fs import paths
from wizard.fs.changes import Command
from wizard.fs.paths import Root
from wizard.plan.apply import apply
from wizard.problems import WizardError
from wizard.system import service


class LiveRoot(Root):
    """A test tree that the engine treats as the live system, so that apply runs the plan's commands."""

    @property
    def is_live(self) -> bool:
        return True


COMMANDS = (Command(("sysctl", "--system"), "forwarding"), Command(("swanctl", "--load-all"), "connections"))


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the commands apply runs; the first run of ``sysctl`` fails as on a system without procps."""
    calls: list[str] = []
    failures = {"sysctl": 1}

    def fake_run(command: Command, timeout: float = 60.0) -> str:
        calls.append(str(command))
        if failures.get(command.argv[0], 0):
            failures[command.argv[0]] -= 1
            raise service.CommandFailed(f"{command.argv[0]}: not installed")
        return ""

    monkeypatch.setattr(service, "run", fake_run)
    return calls


def test_a_failed_command_is_run_again_by_the_next_apply_with_nothing_to_change(
        tmp_path: Path, make_answers, plan_for, ran: list[str]) -> None:
    root = LiveRoot(tmp_path.resolve())
    plan = replace(plan_for(make_answers(), root), commands=COMMANDS)
    with pytest.raises(WizardError, match="runs the commands again"):
        apply(plan, root)
    owed = json.loads(root(paths.PENDING_COMMANDS).read_text())
    assert owed["failed"] == "sysctl --system" and owed["commands"] == [str(c) for c in COMMANDS]
    assert ran == ["sysctl --system"]

    said: list[str] = []
    second = apply(replace(plan_for(make_answers(), root), commands=COMMANDS), root, report=said.append)
    assert second.nothing_changed  # every file was written by the first run
    assert [str(c) for c in second.commands_run] == [str(c) for c in COMMANDS]
    assert any("did not all succeed (sysctl --system)" in line for line in said)
    assert not root(paths.PENDING_COMMANDS).exists()

    # Nothing owed, nothing changed: a third apply runs nothing.
    third = apply(replace(plan_for(make_answers(), root), commands=COMMANDS), root)
    assert third.commands_run == []


def test_commands_are_owed_while_they_run(tmp_path: Path, make_answers, plan_for,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed between writing its files and finishing its commands leaves them owed."""
    root = LiveRoot(tmp_path.resolve())
    seen: list[bool] = []

    def fake_run(command: Command, timeout: float = 60.0) -> str:
        seen.append(root(paths.PENDING_COMMANDS).is_file())
        return ""

    monkeypatch.setattr(service, "run", fake_run)
    apply(replace(plan_for(make_answers(), root), commands=COMMANDS), root)
    assert seen == [True, True]
    assert not root(paths.PENDING_COMMANDS).exists()


ENABLE = ("systemctl", "enable", "strongswan.service")


def _undoable() -> tuple[Command, ...]:
    return (Command(("sysctl", "-p", "/etc/sysctl.d/60-swan-wizard.conf"), "forwarding",
                    undo=(("sysctl", "-w", "net.ipv4.ip_forward=0"),), undo_why="the value before"),
            Command(ENABLE, "at boot", undo=(("systemctl", "disable", "strongswan.service"),),
                    undo_why="was not enabled"))


def _records(root: Root) -> list[dict[str, object]]:
    newest = sorted(root(paths.BACKUPS_DIR).iterdir())[-1]
    return json.loads((newest / "manifest.json").read_text())["commands"]


def test_each_undo_is_in_the_manifest_before_its_command_runs(tmp_path: Path, make_answers, plan_for,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = LiveRoot(tmp_path.resolve())
    seen: list[list[tuple[list[str], object, object]]] = []

    def fake_run(command: Command, timeout: float = 60.0) -> str:
        seen.append([(r["argv"], r["undo"], r["state"]) for r in _records(root)])  # type: ignore[misc]
        return ""

    monkeypatch.setattr(service, "run", fake_run)
    apply(replace(plan_for(make_answers(), root), commands=_undoable()), root)
    sysctl = (["sysctl", "-p", "/etc/sysctl.d/60-swan-wizard.conf"], [["sysctl", "-w", "net.ipv4.ip_forward=0"]])
    enable = (list(ENABLE), [["systemctl", "disable", "strongswan.service"]])
    assert seen == [[(*sysctl, "running")], [(*sysctl, "done"), (*enable, "running")]]
    assert [r["state"] for r in _records(root)] == ["done", "done"]


def test_a_run_killed_during_a_command_leaves_its_undo_for_rollback(tmp_path: Path, make_answers, plan_for,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from wizard.plan.rollback import rollback_plan

    root = LiveRoot(tmp_path.resolve())

    def killed(command: Command, timeout: float = 60.0) -> str:
        if command.argv == ENABLE:
            raise KeyboardInterrupt  # the session dropped while systemctl ran
        return ""

    monkeypatch.setattr(service, "run", killed)
    with pytest.raises(KeyboardInterrupt):
        apply(replace(plan_for(make_answers(), root), commands=_undoable()), root)
    assert [r["state"] for r in _records(root)] == ["done", "running"]
    plan, _ = rollback_plan(root, None)
    assert [str(c) for c in plan.commands][:2] == ["systemctl disable strongswan.service",
                                                   "sysctl -w net.ipv4.ip_forward=0"]


def test_commands_that_change_the_system_with_no_file_to_change_get_a_backup_of_their_own(
        tmp_path: Path, make_answers, plan_for, ran: list[str]) -> None:
    from wizard.plan.rollback import backups

    root = LiveRoot(tmp_path.resolve())
    with pytest.raises(WizardError):
        apply(replace(plan_for(make_answers(), root), commands=COMMANDS), root)  # sysctl fails once: owed
    ran.clear()
    second = apply(replace(plan_for(make_answers(), root), commands=_undoable()), root)
    assert second.nothing_changed and second.backup_id is not None
    run = backups(root)[-1]
    assert run.id == second.backup_id and run.files == () and [r.argv for r in run.commands or ()] == [
        ("sysctl", "-p", "/etc/sysctl.d/60-swan-wizard.conf"), ENABLE]
