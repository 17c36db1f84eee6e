"""Every network check, fed fabricated facts: each failure it reports, and the all-clear."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wizard.checks import netchecks
from wizard.model import answers_file
from wizard.system.netfacts import FirewallBackend, Interface, NetFacts, PortUser, Unknown, parse_proc_route

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


def answers(extra: str = ""):  # type: ignore[no-untyped-def]
    return answers_file.parse("version: 1\nserver: {address: vpn.example.com}\n" + extra)


def severities(findings, check: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.severity for f in findings if f.check == check}


def test_all_clear_on_a_good_host() -> None:
    findings = netchecks.run_all(answers(), GOOD)
    assert not [f for f in findings if f.severity in ("error", "warning")], findings


def test_unknown_wan_interface() -> None:
    findings = netchecks.check_interfaces(answers("networking: {wan_interface: wan9}\n"), GOOD)
    assert findings[0].severity == "error" and "wan9" in findings[0].message and "eth0" in findings[0].message


def test_no_default_route() -> None:
    findings = netchecks.check_interfaces(answers(), replace(GOOD, default_interface=None))
    assert findings[0].severity == "warning"


def test_server_behind_nat_names_ports_to_forward() -> None:
    facts = replace(GOOD, interfaces=(Interface("eth0", ("192.168.1.20/24",), True),),
                    resolved={"vpn.example.com": ("203.0.113.10",)})
    finding = netchecks.check_server_address(answers(), facts)[0]
    assert finding.severity == "warning"
    assert "UDP 500" in finding.fix and "UDP 4500" in finding.fix and "192.168.1.20" in finding.fix


def test_server_name_that_does_not_resolve() -> None:
    finding = netchecks.check_server_address(answers(), replace(GOOD, resolved={}))[0]
    assert finding.severity == "warning" and "does not resolve" in finding.message


def test_port_taken_by_another_ike_daemon() -> None:
    facts = replace(GOOD, port_users=(PortUser(500, "0.0.0.0", 4242, "pluto"),))
    findings = netchecks.check_ports(answers(), facts)
    assert findings[0].severity == "error" and "pluto (pid 4242)" in findings[0].message
    ours = replace(GOOD, port_users=(PortUser(500, "0.0.0.0", 1, "charon"), PortUser(4500, "0.0.0.0", 1, "charon")))
    assert severities(netchecks.check_ports(answers(), ours), "ports") == {"ok"}


def test_sysctls_now_versus_plan() -> None:
    facts = replace(GOOD, sysctls={"net.ipv4.ip_forward": "0"})
    findings = netchecks.check_sysctls(answers(), facts)
    assert any("ip_forward is 0 now; the plan sets 1" in f.message for f in findings)
    off = netchecks.check_sysctls(answers("networking: {forwarding: false}\n"), facts)
    assert off[0].severity == "warning"


@pytest.mark.parametrize("facts,extra,severity,words", [
    (replace(GOOD, esp=False), "", "info", "kernel-libipsec"),
    (replace(GOOD, esp=False), "networking: {esp: kernel}\n", "error", "no ESP"),
    (replace(GOOD, esp=False, libipsec=False), "", "error", "kernel-libipsec plugin is missing"),
    (replace(GOOD, esp=False, tun=False), "", "error", "/dev/net/tun"),
    (GOOD, "", "ok", "XFRM and ESP"),
])
def test_kernel_support(facts: NetFacts, extra: str, severity: str, words: str) -> None:
    finding = netchecks.check_kernel(answers(extra), facts)[0]
    assert finding.severity == severity and words in finding.message


# -- a split tunnel under userspace ESP: kernel-libipsec before 5.9.12 routes only from a local address -----

SPLIT = "variants: {ikev2-cert: {local_ts: [10.99.0.0/16]}, ikev2-eap: {local_ts: [10.99.0.0/16, 0.0.0.0/0]}}\n"
USERSPACE = replace(GOOD, esp=False, strongswan="5.9.8")


def test_a_split_network_without_a_local_address_fails_under_userspace_esp_before_5_9_12() -> None:
    findings = netchecks.check_split_tunnel(answers(SPLIT), USERSPACE)
    # one line per network, naming every field that asks for it; the full tunnel needs nothing
    assert [(f.code, f.severity, f.field) for f in findings] == [
        ("split-tunnel.no-local-address", "error", "variants.ikev2-cert.local_ts[0]")]
    assert "10.99.0.0/16 (variants.ikev2-cert.local_ts[0], variants.ikev2-eap.local_ts[0])" in findings[0].message
    assert "5.9.8" in findings[0].message and "TS_UNACCEPTABLE" in findings[0].message
    assert "inside 10.99.0.0/16" in findings[0].fix and "dev lo" in findings[0].fix
    # apply refuses it (exit 2) until the answers change or accept it by name
    refused = netchecks.refusal(answers(SPLIT), netchecks.run_all(answers(SPLIT), USERSPACE))
    assert [line.split(":")[1].strip() for line in refused] == ["check split-tunnel FAILs"]
    accepted = answers(SPLIT + "networking: {accept_failed_checks: [split-tunnel]}\n")
    assert netchecks.refusal(accepted, netchecks.run_all(accepted, USERSPACE)) == []


@pytest.mark.parametrize("facts,extra,severity,code", [
    # an address inside the network, on any interface (lo too: charon looks at every interface)
    (replace(USERSPACE, interfaces=(*GOOD.interfaces, Interface("lo", ("10.99.0.1/32",), True))), "",
     "ok", "split-tunnel.local-address"),
    (replace(USERSPACE, interfaces=(*GOOD.interfaces, Interface("lan0", ("10.99.3.1/24",), False))), "",
     "ok", "split-tunnel.local-address"),
    (replace(USERSPACE, strongswan="5.9.12"), "", "ok", "split-tunnel.any-source"),
    (replace(USERSPACE, strongswan="6.0.1"), "", "ok", "split-tunnel.any-source"),
    (replace(USERSPACE, strongswan=Unknown("no charon")), "", "warning", "split-tunnel.unknown"),
])
def test_what_lets_kernel_libipsec_route_a_split_network(facts: NetFacts, extra: str, severity: str,
                                                          code: str) -> None:
    findings = netchecks.check_split_tunnel(answers(SPLIT + extra), facts)
    assert [(f.code, f.severity) for f in findings] == [(code, severity)]


def test_kernel_esp_and_full_tunnels_need_no_local_address() -> None:
    assert netchecks.check_split_tunnel(answers(SPLIT), replace(GOOD, strongswan="5.9.8")) == []
    assert netchecks.check_split_tunnel(answers(SPLIT + "networking: {esp: kernel}\n"), USERSPACE) == []
    assert netchecks.check_split_tunnel(answers("variants: {ikev2-cert: {local_ts: [0.0.0.0/0, '::/0']}}\n"),
                                        USERSPACE) == []


def test_pool_overlapping_a_local_network_and_loopback_dns() -> None:
    findings = netchecks.check_pool(answers("pool: {addresses: 203.0.113.128/25, dns: [127.0.0.53]}\n"), GOOD)
    errors = [f.message for f in findings if f.severity == "error"]
    assert any("overlaps 203.0.113.0/24 on eth0" in e for e in errors)
    assert any("loopback" in e for e in errors)


def test_l2tp_range_is_checked_too() -> None:
    facts = replace(GOOD, interfaces=(*GOOD.interfaces, Interface("lan0", ("192.168.42.1/24",), True)))
    findings = netchecks.check_pool(answers("variants: {l2tp: {users: [{name: a}]}}\n"), facts)
    assert any(f.severity == "error" and "lan0" in f.message for f in findings)


def test_firewall_backend_missing_and_front_end_active() -> None:
    missing = netchecks.check_firewall(answers("networking: {firewall: firewalld}\n"), GOOD)
    assert "error" in {f.severity for f in missing}
    ufw_on = replace(GOOD, firewalls=(FirewallBackend("nftables", True, True), FirewallBackend("ufw", True, True)))
    findings = netchecks.check_firewall(answers("networking: {firewall: nftables}\n"), ufw_on)
    assert any(f.severity == "warning" and "ufw is active" in f.message for f in findings)
    no_wan = netchecks.check_firewall(answers(), replace(GOOD, default_interface=None))
    assert any("WAN interface is unknown" in f.message for f in no_wan)


def test_ipv6_leak_is_said() -> None:
    finding = netchecks.check_ipv6(answers(), replace(GOOD, ipv6_default_route=True))[0]
    assert finding.severity == "warning" and "outside the tunnel" in finding.message
    routed = netchecks.check_ipv6(answers("variants: {ikev2-cert: {local_ts: [0.0.0.0/0, '::/0']}}\n"),
                                  replace(GOOD, ipv6_default_route=True))[0]
    assert routed.severity == "info"


def test_default_route_parsing_picks_the_lowest_metric() -> None:
    text = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
            "eth1\t00000000\t0100A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
            "eth0\t00000000\t017100CB\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
            "eth0\t007100CB\t00000000\t0001\t0\t0\t0\tFFFFFF00\t0\t0\t0\n")
    assert parse_proc_route(text) == ("eth0", "203.0.113.1")


# -- a FAIL stops the apply unless the answers accept it by name -------------------------------------------

CLASH = "pool: {addresses: 203.0.113.0/24, dns: [203.0.113.1]}\nvariants: {ikev2-cert: {}}\n"


def test_a_fail_is_refused_until_the_answers_accept_that_check() -> None:
    refused = netchecks.refusal(answers(CLASH), netchecks.run_all(answers(CLASH), GOOD))
    assert refused == ["networking: check pool FAILs: client network 203.0.113.0/24 overlaps 203.0.113.0/24 on "
                       "eth0; fix: choose a pool that no local network uses, e.g. 10.10.10.0/24; or accept it with "
                       "networking.accept_failed_checks: [pool]"]
    accepted = answers(CLASH + "networking: {accept_failed_checks: [pool]}\n")
    findings = netchecks.run_all(accepted, GOOD)
    assert netchecks.refusal(accepted, findings) == []
    # accepted, it is still the first open problem, and says it was accepted
    assert netchecks.open_lines(accepted, findings, [("host.key", "w")])[0].endswith(
        "(accepted by the admin, recorded in the answers)")
    # accepting another check does not cover this one
    other = answers(CLASH + "networking: {accept_failed_checks: [ports]}\n")
    assert len(netchecks.refusal(other, netchecks.run_all(other, GOOD))) == 1


def test_only_known_checks_can_be_accepted() -> None:
    with pytest.raises(Exception, match="accept_failed_checks"):
        answers("networking: {accept_failed_checks: [everything]}\n")


def test_nat_names_the_wan_interface_the_rules_use_or_fails_without_one() -> None:
    findings = netchecks.check_firewall(answers(), GOOD)
    assert "NAT: clients are masqueraded out of eth0 (WAN interface)" in [f.message for f in findings]
    no_route = replace(GOOD, default_interface=None)
    assert [f.fix for f in netchecks.check_firewall(answers(), no_route) if f.severity == "error"] == [
        "type the WAN interface"]


def test_a_user_without_the_certificate_a_cert_login_needs_is_a_warning() -> None:
    a = answers_file.parse("version: 1\nserver: {address: vpn.example.com}\nclients: [{name: carol}]\n"
                           "variants: {ikev1-xauth: {auth: cert, users: [{name: dave}, {name: carol}]}}\n")
    from wizard.model.answers import answers_warnings, users_without_certificate

    assert users_without_certificate(a) == [("ikev1-xauth", "dave")]
    assert [f.message for f in answers_warnings(a) if "dave" in f.message] == [
        "user dave has no client certificate, which ikev1-xauth with auth: cert needs: nobody can log in as "
        "dave; issue one named dave"]


def test_an_l2tp_range_is_one_line_not_one_per_cidr_block() -> None:
    findings = netchecks.check_pool(answers("variants: {l2tp: {users: [{name: a}]}}\n"), GOOD)
    lines = [f.message for f in findings if f.check == "pool"]
    assert lines == ["client network 10.10.10.0/24 overlaps no local network",
                     "client network 192.168.42.10-192.168.42.250 overlaps no local network"], lines


def test_an_l2tp_range_overlapping_a_local_network_is_one_error_naming_the_range() -> None:
    facts = replace(GOOD, interfaces=(*GOOD.interfaces, Interface("lan0", ("192.168.42.1/24",), True)))
    findings = netchecks.check_pool(answers("variants: {l2tp: {users: [{name: a}]}}\n"), facts)
    errors = [f.message for f in findings if f.severity == "error"]
    assert errors == ["client network 192.168.42.10-192.168.42.250 overlaps 192.168.42.0/24 on lan0"], errors


def lan_host(*addresses: str) -> NetFacts:
    return replace(GOOD, interfaces=(Interface("eth0", addresses, True), Interface("lo", ("127.0.0.1/8",), True)),
                   resolved={"vpn.example.com": ("192.168.1.20",)})


@pytest.mark.parametrize("address", ["192.168.1.20", "vpn.example.com"])
def test_a_private_server_address_on_a_host_without_a_public_one_says_what_to_do(address: str) -> None:
    facts = lan_host("192.168.1.20/24")
    found = [f for f in netchecks.check_server_address(answers().model_copy(update={"server": answers(
        ).server.model_copy(update={"address": address})}), facts) if f.code == "server-address.private"]
    assert len(found) == 1 and found[0].severity == "warning" and found[0].field == "server.address"
    assert "is a private address and this host has no public one" in found[0].message
    assert "forward UDP 500 and UDP 4500 to 192.168.1.20" in found[0].fix
    assert "'Address clients dial'" in found[0].fix


@pytest.mark.parametrize("addresses", [("100.64.0.5/10",), ("203.0.113.10/24",)])
def test_cgnat_is_private_too_and_a_public_address_here_needs_no_advice(addresses: tuple[str, ...]) -> None:
    facts = replace(lan_host(*addresses), resolved={})
    ip = addresses[0].split("/")[0]
    server = answers().server.model_copy(update={"address": ip})
    codes = [f.code for f in netchecks.check_server_address(answers().model_copy(update={"server": server}), facts)]
    assert ("server-address.private" in codes) == ip.startswith("100.64.")
    # a host with a public address as well as the private one is reachable: nothing to point out
    both = lan_host("192.168.1.20/24", "9.9.9.10/24")
    assert "server-address.private" not in [f.code for f in netchecks.check_server_address(answers(), both)]
