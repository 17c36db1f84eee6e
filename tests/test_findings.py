"""One keyed Finding for every check, and facts that can say "unknown" instead of passing for fine."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wizard.checks import netchecks
from wizard.checks.doctor import system as doctor_system
from wizard.findings import Finding, field_loc, field_path
from wizard.model import answers_file, field_check
from wizard.model.answers import Answers, Server
from wizard.render.firewall import resolve_backend
from wizard.system import netfacts
from wizard.system.netfacts import FirewallBackend, Interface, NetFacts, PortUser, Unknown

GOOD = NetFacts(
    interfaces=(Interface("eth0", ("203.0.113.10/24",), True), Interface("lo", ("127.0.0.1/8",), True)),
    default_interface="eth0", default_gateway="203.0.113.1",
    sysctls={"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.accept_redirects": "0",
             "net.ipv4.conf.all.send_redirects": "0"},
    xfrm=True, esp=True, libipsec=True, tun=True,
    firewalls=(FirewallBackend("nftables", True, True), FirewallBackend("iptables", True, False),
               FirewallBackend("firewalld", False, False), FirewallBackend("ufw", False, False)),
    resolved={"vpn.example.com": ("203.0.113.10",)},
)


def answers(extra: str = "") -> Answers:
    return answers_file.parse("version: 1\nserver: {address: vpn.example.com}\n" + extra)


# -- one dotted-path spelling ------------------------------------------------------------------------------

_KEY = st.text(st.characters(blacklist_characters=".[]", blacklist_categories=("Cs",)), min_size=1, max_size=12)


@given(st.lists(st.one_of(_KEY, st.integers(0, 10_000)), max_size=8).filter(lambda loc: not loc or
                                                                             isinstance(loc[0], str)))
def test_field_path_and_field_loc_are_inverses(loc: list[str | int]) -> None:
    assert field_loc(field_path(tuple(loc))) == tuple(loc)


def test_field_path_spelling() -> None:
    assert field_path(("variants", "transport", "peers", 1, "address")) == "variants.transport.peers[1].address"
    assert field_path(("clients", 0, "key")) == "clients[0].key"
    with pytest.raises(ValueError):
        field_loc("clients[x].key")


def test_a_finding_names_its_check_by_code_and_keeps_the_json_keys() -> None:
    finding = Finding("ports.udp-500-taken", "error", "", "UDP 500 is taken by pluto (pid 1)", "stop it")
    assert finding.check == "ports"
    assert finding.to_json() == {"code": "ports.udp-500-taken", "check": "ports", "severity": "error", "field": "",
                                 "summary": "UDP 500 is taken by pluto (pid 1)", "fix": "stop it", "evidence": []}


# -- validation: the cross checks are findings, named by field ----------------------------------------------


def test_cross_checks_reach_the_screens_under_their_field() -> None:
    base = Answers(server=Server(address="vpn.example.com"))
    bad = field_check.check(base, {"variants": {"ikev2-cert": {}, "l2tp": {
        "auth": "psk", "ip_range": "10.10.10.5-10.10.10.9", "local_ip": "10.10.10.1"}}})
    assert not bad.ok and {f.code for f in bad.findings} == {"answers.invalid"}
    # in the screens' words: the pool by its on-screen label
    assert "overlaps Address pool" in (bad.for_field("variants.l2tp.ip_range") or "")
    assert "inside Address pool" in (bad.for_field("variants.l2tp.local_ip") or "")


def test_a_client_key_ikev2_still_serves_is_a_warning_finding() -> None:
    a = answers("clients: [{name: alice, key: ed25519}]\nvariants: {ikev2-cert: {}, l2tp: {auth: cert, users: []}}\n"
                "host: {key: rsa-2048}\n")
    found = a.variants.cross_problems(a)
    assert [(f.code, f.severity, f.field) for f in found] == [("answers.ikev1-key", "warning", "clients[0].key")]
    assert found[0] in a.variants.cross_warnings(a)


# -- unknown facts are never "fine" ------------------------------------------------------------------------


def test_an_unknown_fact_has_no_truth_value() -> None:
    with pytest.raises(TypeError):
        bool(Unknown("refused"))


def test_a_refused_socket_list_is_unknown_not_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(kind: str) -> list[object]:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", refused)
    users = netfacts._port_users()
    assert isinstance(users, Unknown) and "refused" in users.reason


def test_ports_that_could_not_be_checked_are_a_warning_never_free() -> None:
    facts = replace(GOOD, port_users=Unknown("the list of UDP sockets was refused (run as root)"))
    found = netchecks.run_all(answers(), facts)
    ports = [f for f in found if f.check == "ports"]
    assert [(f.code, f.severity) for f in ports] == [("ports.udp-500-unknown", "warning"),
                                                     ("ports.udp-4500-unknown", "warning")]
    assert all("could not check" in f.message and "free" not in f.message for f in ports)
    assert "WARN ports: could not check who holds UDP 500" in "\n".join(netchecks.open_lines(answers(), found, []))


def test_the_doctor_says_unknown_ports_are_unknown() -> None:
    found = doctor_system._ports(replace(GOOD, port_users=Unknown("refused")), running=False)
    assert {(f.code, f.severity) for f in found} == {("system.ports", "warning")}
    assert not [f for f in found if "free" in f.message]


def test_the_doctor_picks_a_taken_port_by_code_not_by_its_words(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = replace(GOOD, port_users=(PortUser(4500, "0.0.0.0", 4242, "pluto"),))
    reworded = [Finding(netchecks.port_code(4500, "taken"), "error", "", "pluto holds the NAT-T port", "stop pluto"),
                Finding(netchecks.port_code(500, "free"), "ok", "", "nobody on 500")]
    monkeypatch.setattr(netchecks, "judge_ports", lambda facts: reworded)
    found = doctor_system._ports(facts, running=False)
    assert [(f.severity, f.message) for f in found] == [("info", "UDP 500 is free (charon is not running)"),
                                                        ("error", "pluto holds the NAT-T port")]
    assert found[1].evidence[0].text == "pluto (pid 4242)"


def test_a_firewall_command_that_timed_out_is_unknown_not_inactive(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(argv, 10)

    monkeypatch.setattr(netfacts.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(netfacts.subprocess, "run", slow)
    nft = netfacts.nftables_backend(netfacts._run(["nft", "list", "tables"]), True)
    assert isinstance(nft.active, Unknown) and "did not answer" in nft.active.reason
    ipt = netfacts.iptables_backend(netfacts._run(["iptables", "-V"]), netfacts._run(["iptables", "-S"]), True)
    assert ipt.present and isinstance(ipt.active, Unknown)

    facts = replace(GOOD, firewalls=(nft, ipt, FirewallBackend("firewalld", False, False),
                                     FirewallBackend("ufw", False, False)))
    found = netchecks.check_firewall(answers(), facts)
    unknown = [f for f in found if f.code == "firewall.unknown"]
    assert [f.severity for f in unknown] == ["warning", "warning"]
    assert "could not check whether nftables is active" in unknown[0].message
    assert "active: none; unknown: nftables, iptables" in found[0].message
    assert resolve_backend(answers(), facts) == "nftables"  # auto still decides, from what is installed


def test_an_unreadable_ufw_configuration_is_unknown(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    assert netfacts._read_fact(str(directory / "absent.conf")) == ""  # not there: ufw is not configured
    unreadable = netfacts._read_fact(str(directory))  # a directory: it exists but cannot be read
    assert isinstance(unreadable, Unknown)
    ufw = netfacts.ufw_backend(unreadable, True)
    assert isinstance(ufw.active, Unknown)
    assert netfacts.ufw_backend("ENABLED=yes\n", True).active is True


# -- the CA screen: a stored passphrase that cannot be read says why ------------------------------------------


def test_a_stored_passphrase_that_cannot_be_read_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from screens import ca
    from wizard.model.answers import SecretRef

    value, why = ca.stored_passphrase(SecretRef(env="SWAN_WIZARD_TEST_UNSET"), {})
    assert value is None and "environment variable SWAN_WIZARD_TEST_UNSET is not set" in why
    assert ca.stored_passphrase(SecretRef(env="P"), {"P": "pass phrase"}) == (b"pass phrase", "")
    assert ca.stored_passphrase(None, {}) == (None, "")

    def broken(self: object, secret: object, field: str) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ca.SecretSource, "resolve", broken)
    with pytest.raises(RuntimeError):  # a bug is not "no passphrase"
        ca.stored_passphrase(SecretRef(env="P"), {"P": "x"})


def test_the_doctor_says_an_unreadable_ip_forward_is_unknown_not_off(tmp_path: object) -> None:
    from pathlib import Path

    from wizard.checks.doctor.context import make_context
    from wizard.fs.paths import Root

    ctx = make_context(Root.of(Path(str(tmp_path))), answers(), daemon_check=False)
    facts = replace(GOOD, sysctls={})
    found = [f for f in doctor_system._forwarding(ctx, facts, answers()) if f.code == "system.forwarding"]
    assert [(f.severity, f.autofix) for f in found] == [("warning", None)]
    assert "could not check IP forwarding" in found[0].message


def test_an_unreadable_ip_forward_is_not_called_off() -> None:
    found = netchecks.check_sysctls(answers("networking: {forwarding: false}\n"), replace(GOOD, sysctls={}))
    assert [(f.code, f.severity) for f in found] == [("sysctl.unknown", "warning")]
    assert "could not read net.ipv4.ip_forward" in found[0].message
