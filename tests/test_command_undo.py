"""Each command the plan runs states how a rollback takes it back, judged from the facts at plan time."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from wizard.fs import paths
from wizard.fs.changes import Command
from wizard.model.answers import Answers, updated
from wizard.render import firewall
from wizard.render.strongswan_d import sysctl_conf
from wizard.system import service
from wizard.system.service import DETACH, STOP, ServiceFacts, commands

SYSTEMD = ServiceFacts(systemd=True, charon_running=False, starter_running=False, charon_path="/usr/lib/ipsec/charon")
BARE = replace(SYSTEMD, systemd=False)
L2TP = """
version: 1
server: {address: vpn.example.com}
variants: {ikev2-cert: {}, l2tp: {users: [{name: erin}]}}
networking: {firewall: %s, wan_interface: eth0}
"""


def undo_of(cmds: tuple[Command, ...], *argv: str) -> tuple[tuple[str, ...], ...] | None:
    (found,) = [c for c in cmds if c.argv == argv]
    return found.undo


def answers_with(make_answers, backend: str) -> Answers:  # type: ignore[no-untyped-def]
    return make_answers(L2TP % backend)


@pytest.mark.parametrize("backend", [*firewall.BACKENDS, "none"])
@pytest.mark.parametrize("layout", ["swanctl", "ipsec"])
@pytest.mark.parametrize("facts", [SYSTEMD, BARE, replace(BARE, charon_running=True, starter_running=True,
                                                          xl2tpd_running=True)], ids=["systemd", "bare", "running"])
def test_every_command_states_its_undo(make_answers, backend: str, layout: str, facts: ServiceFacts) -> None:
    answers = updated(answers_with(make_answers, backend), layout=layout)
    existing = {paths.UFW_BEFORE_RULES: "*filter\nCOMMIT\n", paths.NFTABLES_CONF: None, paths.FIREWALL_STATE: None}
    fw = firewall.plan(answers, None, existing, facts.systemd)
    removal = firewall.removal({**fw.state, "rich_rules": ['rule family="ipv4" masquerade']}, existing)
    for settings_changed in (True, False):
        cmds = commands(layout, facts, forwarding=True, l2tp=True, firewall=fw.commands,
                        settings_changed=settings_changed) + removal.commands
        unstated = [str(c) for c in cmds if not c.states_undo]
        assert not unstated, unstated


def test_the_planner_states_every_undo(tmp_path: Path, make_answers, source) -> None:
    from wizard.fs.paths import Root
    from wizard.plan.planner import build_plan

    plan = build_plan(make_answers(), Root.of(tmp_path), source, facts=SYSTEMD)
    assert plan.commands and all(c.states_undo for c in plan.commands)


def test_a_unit_is_disabled_again_only_if_it_was_not_enabled_before() -> None:
    fresh = commands("swanctl", SYSTEMD, forwarding=False)
    assert undo_of(fresh, "systemctl", "enable", "strongswan.service") == (("systemctl", "disable",
                                                                           "strongswan.service"),)
    assert undo_of(fresh, "systemctl", "restart", "strongswan.service") == (("systemctl", "stop",
                                                                            "strongswan.service"),)
    assert undo_of(fresh, "systemctl", "disable", "--now", "strongswan-starter.service") is None
    assert undo_of(fresh, "systemctl", "reset-failed", "strongswan-starter.service") is None
    was = replace(SYSTEMD, enabled=frozenset({"strongswan.service", "strongswan-starter.service"}),
                  active=frozenset({"strongswan.service", "strongswan-starter.service"}))
    seen = commands("swanctl", was, forwarding=False, settings_changed=False)
    assert undo_of(seen, "systemctl", "enable", "strongswan.service") is None
    assert undo_of(seen, "systemctl", "reload-or-restart", "strongswan.service") == (
        ("systemctl", "restart", "strongswan.service"),)
    assert undo_of(seen, "systemctl", "disable", "--now", "strongswan-starter.service") == (
        ("systemctl", "enable", "strongswan-starter.service"), ("systemctl", "start", "strongswan-starter.service"))


def test_without_systemd_charon_is_stopped_again_only_if_it_was_not_running() -> None:
    fresh = commands("swanctl", BARE, forwarding=False)
    assert undo_of(fresh, DETACH, BARE.charon_path) == ((STOP, "charon", "charon-systemd"),)
    running = commands("swanctl", replace(BARE, charon_running=True), forwarding=False, settings_changed=True)
    assert undo_of(running, STOP, "charon", "charon-systemd") is None
    assert undo_of(running, DETACH, BARE.charon_path) == ((STOP, "charon", "charon-systemd"),
                                                          (DETACH, BARE.charon_path))
    assert undo_of(commands("ipsec", BARE, forwarding=False), "ipsec", "start") == (("ipsec", "stop"),)


def test_sysctl_undo_writes_back_the_values_found(tmp_path: Path) -> None:
    proc = tmp_path / "net" / "ipv4"
    (proc / "conf" / "all").mkdir(parents=True)
    (proc / "ip_forward").write_text("0\n")
    (proc / "conf" / "all" / "send_redirects").write_text("1\n")
    found = service.current_sysctls(tmp_path)
    assert found == {"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.send_redirects": "1"}
    cmds = commands("swanctl", replace(SYSTEMD, sysctls=found), forwarding=True)
    assert undo_of(cmds, "sysctl", "-p", str(paths.SYSCTL_CONF)) == (
        ("sysctl", "-w", "net.ipv4.ip_forward=0", "net.ipv4.conf.all.send_redirects=1"),)
    assert undo_of(commands("swanctl", SYSTEMD, forwarding=True), "sysctl", "-p", str(paths.SYSCTL_CONF)) is None


def test_the_sysctls_read_before_apply_are_those_the_file_sets(make_answers) -> None:
    text = sysctl_conf(make_answers()) or ""
    assert tuple(re.findall(r"^([a-z0-9_.]+) = ", text, re.M)) == service.FORWARDING_SYSCTLS


def _fw(make_answers, backend: str, previous: dict[str, object] | None) -> tuple[Command, ...]:  # type: ignore[no-untyped-def]
    existing = {paths.UFW_BEFORE_RULES: "*filter\nCOMMIT\n", paths.NFTABLES_CONF: None,
                paths.FIREWALL_STATE: json.dumps(previous) if previous is not None else None}
    return firewall.plan(answers_with(make_answers, backend), None, existing, True).commands


def test_firewall_undos_take_back_only_what_no_earlier_run_added(make_answers) -> None:
    nft = ("nft", "-f", str(paths.NFT_RULES))
    assert undo_of(_fw(make_answers, "nftables", None), *nft) == (("nft", "delete", "table", "inet", "swan_wizard"),)
    assert undo_of(_fw(make_answers, "nftables", {"backend": "nftables"}), *nft) == (nft,)
    assert undo_of(_fw(make_answers, "nftables", {"backend": "nftables"}), "nft", "-c", "-f",
                   str(paths.NFT_RULES)) is None

    script = ("sh", str(paths.IPTABLES_SCRIPT))
    first = undo_of(_fw(make_answers, "iptables", None), *script) or ()
    assert first and all(step[:2] == ("iptables", "-t") and "-D" in step for step in first)
    state = firewall.plan(answers_with(make_answers, "iptables"), None, {}, True).state
    assert undo_of(_fw(make_answers, "iptables", state), *script) is None
    one_less = {**state, "rules": state["rules"][1:]}  # type: ignore[index]
    assert len(undo_of(_fw(make_answers, "iptables", one_less), *script) or ()) == 1

    add = ("firewall-cmd", "--permanent", "--add-service=swan-wizard")
    assert undo_of(_fw(make_answers, "firewalld", None), *add) == (
        ("firewall-cmd", "--permanent", "--remove-service=swan-wizard"),)
    assert undo_of(_fw(make_answers, "firewalld", {"backend": "firewalld"}), *add) is None

    allow = ("ufw", "allow", "500,4500/udp")
    assert undo_of(_fw(make_answers, "ufw", None), *allow) == (("ufw", "delete", "allow", "500,4500/udp"),)
    assert undo_of(_fw(make_answers, "ufw", {"backend": "ufw"}), *allow) is None
    # Another backend's state says nothing about this one: its rules were not there.
    assert undo_of(_fw(make_answers, "ufw", {"backend": "nftables"}), *allow) is not None
