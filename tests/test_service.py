"""Service commands: a plugin change restarts charon, one strongSwan flavour runs, doctor sees two charons,
and selftest does not pass when it could not run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from conftest import FAST_ANSWERS

from wizard.checks import selftest
from wizard.checks.doctor.system import Daemon, duplicate_daemons
from wizard.fs import paths
from wizard.fs.changes import Command
from wizard.fs.paths import Root
from wizard.model.answers import Answers
from wizard.model.secrets import SecretSource
from wizard.plan.apply import apply
from wizard.plan.planner import build_plan
from wizard.system import charon, service
from wizard.system.service import DETACH, STOP, ServiceFacts, commands

SYSTEMD = ServiceFacts(systemd=True, charon_running=True, starter_running=False, charon_path="/usr/lib/ipsec/charon")
BARE_RUNNING = ServiceFacts(systemd=False, charon_running=True, starter_running=True,
                            charon_path="/usr/lib/ipsec/charon")


def argvs(cmds: tuple[Command, ...]) -> list[tuple[str, ...]]:
    return [c.argv for c in cmds]


def test_plugin_settings_change_restarts_strongswan_under_systemd() -> None:
    changed = argvs(commands("swanctl", SYSTEMD, forwarding=False, settings_changed=True))
    same = argvs(commands("swanctl", SYSTEMD, forwarding=False, settings_changed=False))
    assert ("systemctl", "restart", "strongswan.service") in changed
    assert ("systemctl", "reload-or-restart", "strongswan.service") not in changed
    assert ("systemctl", "reload-or-restart", "strongswan.service") in same


def test_one_flavour_runs_and_the_other_leaves_no_failed_unit() -> None:
    for layout, ours, other in (("swanctl", "strongswan.service", "strongswan-starter.service"),
                                ("ipsec", "strongswan-starter.service", "strongswan.service")):
        cmds = commands(layout, SYSTEMD, forwarding=False)
        order = argvs(cmds)
        disable = order.index(("systemctl", "disable", "--now", other))
        reset = order.index(("systemctl", "reset-failed", other))
        start = next(i for i, a in enumerate(order) if a[:2] == ("systemctl", "restart") and a[2] == ours)
        assert disable < reset < start, order
        assert ("systemctl", "enable", ours) in order
        # A system without the other flavour's package has no such unit: not a failure.
        assert all(c.may_fail for c in cmds if other in c.argv)


def test_plugin_settings_change_restarts_a_daemon_started_without_systemd() -> None:
    changed = argvs(commands("swanctl", BARE_RUNNING, forwarding=False, settings_changed=True))
    assert changed[0][0] == STOP and changed[1] == (DETACH, "/usr/lib/ipsec/charon"), changed
    same = argvs(commands("swanctl", BARE_RUNNING, forwarding=False, settings_changed=False))
    assert not any(a[0] in (STOP, DETACH) for a in same)
    assert ("ipsec", "restart") in argvs(commands("ipsec", BARE_RUNNING, forwarding=False, settings_changed=True))
    assert ("ipsec", "reload") in argvs(commands("ipsec", BARE_RUNNING, forwarding=False, settings_changed=False))


def _restart_kind(plan_cmds: tuple[Command, ...]) -> str:
    return next(c.argv[1] for c in plan_cmds if c.argv[:1] == ("systemctl",) and c.argv[-1] == "strongswan.service"
                and c.argv[1] in ("restart", "reload-or-restart"))


def test_planner_restarts_exactly_when_the_settings_file_changes(
        make_answers: Callable[..., Answers], source: SecretSource, tmp_path: Path) -> None:
    root = Root.of(tmp_path / "root")
    answers = make_answers()
    first = build_plan(answers, root, source, facts=SYSTEMD)
    assert _restart_kind(first.commands) == "restart"  # no settings file yet
    apply(first, root, run_commands=False)
    again = build_plan(answers, root, source, facts=SYSTEMD)
    assert _restart_kind(again.commands) == "reload-or-restart"
    userspace = make_answers(FAST_ANSWERS + "networking: {esp: userspace}\n")
    plugin_change = build_plan(userspace, root, source, facts=SYSTEMD)
    new_settings = next(f.content for f in plugin_change.files if f.path == paths.STRONGSWAN_SETTINGS)
    assert new_settings != root(paths.STRONGSWAN_SETTINGS).read_bytes()
    assert _restart_kind(plugin_change.commands) == "restart"


def test_stop_waits_for_the_named_daemon_to_exit(tmp_path: Path) -> None:
    name = f"swt{uuid.uuid4().hex[:8]}"  # a process name nobody else on this machine has
    program = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    proc = subprocess.Popen([str(program), "300"])
    try:
        psutil.Process(proc.pid)  # it runs
        out = service.run(Command((STOP, name), "test"), timeout=10)
        assert "stopped 1" in out
        assert proc.wait(timeout=1) is not None
    finally:
        proc.kill()


def test_doctor_reports_two_charons_and_a_stray_starter() -> None:
    two = duplicate_daemons([Daemon(10, "charon-systemd"), Daemon(20, "starter"), Daemon(21, "charon")], "swanctl")
    assert [f.code for f in two] == ["system.two-charons"] and two[0].severity == "error"
    assert "2 charon daemons" in two[0].message and "pid 21" in two[0].evidence[0].text
    assert duplicate_daemons([Daemon(10, "charon-systemd")], "swanctl") == []
    assert duplicate_daemons([Daemon(20, "starter"), Daemon(21, "charon")], "ipsec") == []
    assert [f.code for f in duplicate_daemons([Daemon(20, "starter"), Daemon(10, "charon-systemd")], "swanctl")] \
        == ["system.two-charons"]


def test_selftest_that_could_not_run_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from wizard import cli

    answers = tmp_path / "answers.yaml"
    answers.write_text("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\n"
                       "host: {key: ecdsa-p256}\nclients: [{name: a@example.com, key: ecdsa-p256}]\n")
    root = tmp_path / "root"
    assert cli.main(["apply", str(answers), "--root", str(root)]) == 0
    monkeypatch.setattr(charon, "CHARON_CANDIDATES", ("/nonexistent/charon",))
    assert cli.main(["selftest", str(answers), "--root", str(root)]) != 0
    assert selftest.unmet_needs(None).endswith("charon")


def test_daemons_in_other_network_namespaces_are_not_this_machines(tmp_path: Path) -> None:
    """A lab's charons in namespaces of their own are neither stopped nor counted as a second charon."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("needs root and unshare (CI=true: refusing to skip)")
        pytest.skip("needs root and unshare")
    name = f"swt{uuid.uuid4().hex[:8]}"
    program = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    here = subprocess.Popen([str(program), "300"])
    elsewhere = subprocess.Popen(["unshare", "--net", str(program), "300"])
    try:
        deadline = time.monotonic() + 5
        while len([p for p in psutil.process_iter(["name"]) if p.info["name"] == name]) < 2:
            assert time.monotonic() < deadline, "the namespaced copy did not start"
            time.sleep(0.05)
        assert [p.pid for p in service.processes_here({name})] == [here.pid]
        service.run(Command((STOP, name), "test"), timeout=10)
        assert here.wait(timeout=1) is not None and elsewhere.poll() is None
    finally:
        here.kill()
        elsewhere.kill()
