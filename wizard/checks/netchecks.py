"""Network checks: pure functions over NetFacts and the answers, each saying what is wrong and the fix.

Every finding's code starts with the check's name (what ``networking.accept_failed_checks`` names), so
callers (the doctor, the screens) pick findings by code. A fact netfacts could not read (Unknown) gives
a warning that says so, never "free" or "inactive".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Literal

from wizard.findings import Finding
from wizard.model.answers import Answers, is_ip
from wizard.model.wording import label, on_screen
from wizard.render.firewall import client_networks, client_ranges, resolve_backend, resolve_wan
from wizard.system.netfacts import IKE_PORTS, NetFacts, Unknown

IKE_DAEMONS = {"charon", "charon-systemd", "starter"}
PLANNED_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.accept_redirects": "0",
                   "net.ipv4.conf.all.send_redirects": "0"}


def check_interfaces(answers: Answers, facts: NetFacts) -> list[Finding]:
    names = {i.name for i in facts.interfaces}
    wan = answers.networking.wan_interface
    if wan != "auto" and wan not in names:
        return [Finding("interfaces.wan-missing", "error", "networking.wan_interface",
                        f"WAN interface '{wan}' does not exist here (interfaces: {', '.join(sorted(names))})",
                        "name one of them, or use auto")]
    if facts.default_interface is None:
        return [Finding("interfaces.no-default-route", "warning", "networking.wan_interface",
                        "no IPv4 default route: the WAN interface is unknown",
                        "type the WAN interface, or add a default route")]
    addrs = next((i.addresses for i in facts.interfaces if i.name == facts.default_interface), ())
    return [Finding("interfaces.wan", "ok", "networking.wan_interface",
                    f"WAN side: {facts.default_interface} ({', '.join(addrs) or 'no address'})"
                    f" via {facts.default_gateway}")]


def _local_ips(facts: NetFacts) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {a.ip for a in facts.addresses()}


def check_server_address(answers: Answers, facts: NetFacts) -> list[Finding]:
    address = answers.server.address
    targets = [address] if is_ip(address) else list(facts.resolved.get(address, ()))
    if not targets:
        return [Finding("server-address.unresolved", "warning", "server.address",
                        f"{address} does not resolve (from this host)",
                        "publish a DNS A record for it, or give the public IP address as server.address")]
    local = _local_ips(facts)
    if any(ipaddress.ip_address(t) in local for t in targets):
        return [Finding("server-address.local", "ok", "server.address", f"{address} is an address of this host"),
                *behind_nat(address, targets, facts)]
    wan_ip = next((a.ip for i in facts.interfaces if i.name == facts.default_interface
                   for a in (ipaddress.ip_interface(x) for x in i.addresses) if a.version == 4), None)
    where = f" to {wan_ip}" if wan_ip else ""
    return [Finding("server-address.elsewhere", "warning", "server.address",
                    f"{address} ({', '.join(targets)}) is not an address of this host: it is behind NAT "
                    "or the name points elsewhere",
                    f"on the router, forward UDP 500 and UDP 4500{where} (ESP is carried inside UDP 4500 then)")]


# Addresses no internet router forwards: RFC 1918 and the carrier-grade NAT range (RFC 6598).
NAT_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))


def is_nat_address(text: str) -> bool:
    ip = ipaddress.ip_address(text)
    return any(ip.version == n.version and ip in n for n in NAT_RANGES)


def behind_nat(address: str, targets: list[str], facts: NetFacts) -> list[Finding]:
    """A server address clients on the internet cannot dial: a private one, on a host with no public
    address of its own, so a NAT router stands between it and them."""
    private = [t for t in targets if is_nat_address(t)]
    public_here = [a.ip for a in facts.addresses() if a.ip.is_global]
    if not private or public_here:
        return []
    where = f"{address} ({', '.join(private)})" if private != [address] else address
    return [Finding("server-address.private", "warning", "server.address",
                    f"{where} is a private address and this host has no public one: it sits behind NAT, "
                    "and clients on the internet cannot dial it",
                    f"on the NAT router, forward UDP 500 and UDP 4500 to {private[0]}; then give the router's "
                    "public address, or a DNS name for it, as 'Address clients dial' on the Host step")]


PortState = Literal["taken", "ike", "free", "unknown"]


def port_code(port: int, state: PortState) -> str:
    """The code of what check_ports says about one IKE port: taken (by another daemon), ike (served by
    strongSwan), free, or unknown (the socket list could not be read)."""
    return f"ports.udp-{port}-{state}"


def judge_ports(facts: NetFacts) -> list[Finding]:
    """Who holds UDP 500 and 4500: a judgement of the facts alone (the doctor asks it without answers)."""
    out = []
    for port in IKE_PORTS:
        if isinstance(facts.port_users, Unknown):
            out.append(Finding(port_code(port, "unknown"), "warning", "",
                               f"could not check who holds UDP {port}: {facts.port_users.reason}",
                               "run the check as root"))
            continue
        users = [u for u in facts.port_users if u.port == port]
        others = [u for u in users if (u.process or "") not in IKE_DAEMONS]
        if others:
            who = ", ".join(f"{u.process or '?'} (pid {u.pid})" for u in others)
            out.append(Finding(port_code(port, "taken"), "error", "", f"UDP {port} is taken by {who}",
                               "stop that IKE daemon (e.g. libreswan's pluto, racoon) before starting strongSwan"))
        elif users:
            out.append(Finding(port_code(port, "ike"), "ok", "",
                               f"UDP {port} is served by strongSwan ({users[0].process})"))
        else:
            out.append(Finding(port_code(port, "free"), "ok", "", f"UDP {port} is free"))
    return out


def check_ports(answers: Answers, facts: NetFacts) -> list[Finding]:
    return judge_ports(facts)


def check_sysctls(answers: Answers, facts: NetFacts) -> list[Finding]:
    if not answers.networking.forwarding:
        now = facts.sysctls.get("net.ipv4.ip_forward")
        if now is None:
            return [Finding("sysctl.unknown", "warning", "networking.forwarding",
                            "could not read net.ipv4.ip_forward: whether clients reach beyond this host is unknown",
                            "set networking.forwarding: true")]
        if now != "1":
            return [Finding("sysctl.forwarding-off", "warning", "networking.forwarding",
                            "IP forwarding is off and networking.forwarding is false: clients reach this host only",
                            "set networking.forwarding: true")]
        return [Finding("sysctl.forwarding-on", "ok", "networking.forwarding",
                        "IP forwarding is on (set outside Swan Wizard)")]
    out = []
    for key, want in PLANNED_SYSCTLS.items():
        now = facts.sysctls.get(key)
        if now == want:
            out.append(Finding("sysctl.set", "ok", "networking.forwarding", f"{key} = {now}"))
        else:
            out.append(Finding("sysctl.planned", "info", "networking.forwarding",
                               f"{key} is {now if now is not None else 'unknown'} now; the plan sets {want}",
                               "applied by the plan (sysctl -p)"))
    return out


def esp_backend(answers: Answers, facts: NetFacts | None) -> Literal["kernel", "userspace"]:
    choice = answers.networking.esp
    if choice != "auto":
        return choice
    if facts is None:
        return "kernel"
    return "kernel" if facts.esp else "userspace"


def check_kernel(answers: Answers, facts: NetFacts) -> list[Finding]:
    backend = esp_backend(answers, facts)
    if facts.xfrm and facts.esp:
        return [Finding("kernel.esp", "ok", "networking.esp",
                        f"the kernel has XFRM and ESP; the plan uses {backend} ESP")]
    if backend == "kernel":
        return [Finding("kernel.no-esp", "error", "networking.esp",
                        "the kernel has no ESP (esp4) but networking.esp is kernel",
                        "load esp4 (modprobe esp4), or set networking.esp: userspace")]
    if not facts.libipsec:
        return [Finding("kernel.no-libipsec", "error", "networking.esp",
                        "the kernel has no ESP and charon's kernel-libipsec plugin is missing",
                        "install libcharon-extra-plugins (Debian) or use a kernel with esp4")]
    if not facts.tun:
        return [Finding("kernel.no-tun", "error", "networking.esp",
                        "kernel-libipsec needs /dev/net/tun, which is missing", "load the tun module")]
    return [Finding("kernel.libipsec", "info", "networking.esp",
                    "the kernel has no ESP: the plan uses charon's kernel-libipsec plugin "
                    "(ESP in userspace over a TUN device; slower, tunnel mode only)")]


# strongSwan 5.9.12 (commit 190d8cbe, issue #1766) made kernel-libipsec route a tunnel without a local source
# address; before, install_route() needs an address of this host inside the local traffic selector.
LIBIPSEC_ROUTES_ANY_SOURCE = (5, 9, 12)
ROAD_WARRIORS = (("ikev2-cert", "ikev2_cert"), ("ikev2-eap", "ikev2_eap"), ("ikev1-xauth", "ikev1_xauth"))


def version_tuple(version: str) -> tuple[int, ...] | None:
    """(5, 9, 8) from "5.9.8" or "5.9.8rc1"; None when it is no version."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return tuple(int(p) for p in match.groups()) if match else None


def split_networks(answers: Answers) -> dict[str, list[str]]:
    """Each tunnel network that does not hold the loopback address (charon routes those from any address),
    with the answers fields that name it."""
    out: dict[str, list[str]] = {}
    for key, attr in ROAD_WARRIORS:
        variant = getattr(answers.variants, attr)
        for i, ts in enumerate(variant.local_ts if variant is not None else ()):
            net = ipaddress.ip_network(ts)
            if ipaddress.ip_address("127.0.0.1" if net.version == 4 else "::1") not in net:
                out.setdefault(str(net), []).append(f"variants.{key}.local_ts[{i}]")
    return out


def judge_split_tunnel(networks: dict[str, list[str]], facts: NetFacts) -> list[Finding]:
    """Whether kernel-libipsec (userspace ESP) can route each split network: it needs a local address inside
    it (any interface, down or lo included: charon looks at them all) unless strongSwan is 5.9.12 or later."""
    out = []
    local = facts.addresses()
    version = facts.strongswan
    fixed = not isinstance(version, Unknown) and (version_tuple(version) or (0,)) >= LIBIPSEC_ROUTES_ANY_SOURCE
    for text, fields in networks.items():
        net = ipaddress.ip_network(text)
        held = next((a.ip for a in local if a.ip in net), None)
        where = f"{text} ({', '.join(fields)})"
        if held is not None:
            out.append(Finding("split-tunnel.local-address", "ok", fields[0],
                               f"{where}: this host has {held} inside it, the tunnel's route comes from there"))
        elif fixed:
            out.append(Finding("split-tunnel.any-source", "ok", fields[0],
                               f"{where} holds no address of this host; strongSwan {version} routes it without one"))
        elif isinstance(version, Unknown):
            out.append(Finding("split-tunnel.unknown", "warning", fields[0],
                               f"could not check whether userspace ESP can route {where}: {version.reason}; "
                               "before strongSwan 5.9.12 it needs an address of this host inside it",
                               f"give this host an unused address inside {text}, or install strongSwan 5.9.12+"))
        else:
            out.append(Finding(
                "split-tunnel.no-local-address", "error", fields[0],
                f"{where} holds no address of this host: with userspace ESP, strongSwan {version}'s kernel-libipsec "
                "cannot route the tunnel (charon logs 'error installing route with policy') and every client is "
                "told TS_UNACCEPTABLE",
                f"give this host an unused address inside {text} (e.g. `ip address add ADDRESS/32 dev lo`, and the "
                "same in its permanent network configuration), or load esp4 and set networking.esp: kernel, or "
                "install strongSwan 5.9.12 or later"))
    return out


def check_split_tunnel(answers: Answers, facts: NetFacts) -> list[Finding]:
    if esp_backend(answers, facts) != "userspace":
        return []  # the kernel's XFRM policies need no route: kernel-netlink skips it when there is no address
    return judge_split_tunnel(split_networks(answers), facts)


def pool_overlaps(label: str, blocks: list[str], field: str, facts: NetFacts) -> list[Finding]:
    """Whether one client address range (``blocks`` cover it) overlaps a network of this host:
    ``pool.overlap`` errors, one per clash, or one ``pool.clear``."""
    nets = [ipaddress.ip_network(b) for b in blocks]
    clash = [(i.name, ipaddress.ip_interface(a).network) for i in facts.interfaces for a in i.addresses
             if i.name != "lo"]
    clash = [(n, ln) for n, ln in clash if any(ln.version == net.version and ln.overlaps(net) for net in nets)]
    if clash:
        return [Finding("pool.overlap", "error", field, f"client network {label} overlaps {ln} on {n}",
                        "choose a pool that no local network uses, e.g. 10.10.10.0/24") for n, ln in clash]
    return [Finding("pool.clear", "ok", field, f"client network {label} overlaps no local network")]


def check_pool(answers: Answers, facts: NetFacts) -> list[Finding]:
    out = []
    # One line per range the admin configured, not per CIDR block of it (an L2TP range takes up to ~14).
    for where, blocks in client_ranges(answers):
        field = "pool.addresses" if where == answers.pool.addresses else "variants.l2tp.ip_range"
        out += pool_overlaps(where, blocks, field, facts)
    for i, dns in enumerate(answers.pool.dns):
        ip = ipaddress.ip_address(dns)
        if ip.is_loopback:
            out.append(Finding("pool.dns-loopback", "error", f"pool.dns[{i}]",
                               f"DNS server {dns} is a loopback address: clients cannot use it",
                               "give an address clients can reach (e.g. the server's address inside the pool)"))
    return out


def check_firewall(answers: Answers, facts: NetFacts) -> list[Finding]:
    backend = resolve_backend(answers, facts)
    active = [f.name for f in facts.firewalls if f.active is True]
    unknown = [f for f in facts.firewalls if isinstance(f.active, Unknown)]
    present = [f.name for f in facts.firewalls if f.present]
    out = [Finding("firewall.backend", "info", "networking.firewall",
                   f"firewalls present: {', '.join(present) or 'none'}; active: {', '.join(active) or 'none'}"
                   + (f"; unknown: {', '.join(f.name for f in unknown)}" if unknown else "")
                   + f"; the plan uses {backend}")]
    out += [Finding("firewall.unknown", "warning", "networking.firewall",
                    f"could not check whether {f.name} is active: {f.active.reason}",
                    "check it by hand, then name the firewall in networking.firewall")
            for f in unknown if isinstance(f.active, Unknown)]
    if backend != "none" and backend not in present:
        out.append(Finding("firewall.missing", "error", "networking.firewall",
                           f"networking.firewall is {backend} but it is not installed",
                           f"install {backend}, or choose another (auto picks the active one)"))
    for front in ("firewalld", "ufw"):
        if front in active and backend in ("nftables", "iptables"):
            out.append(Finding("firewall.front-end", "warning", "networking.firewall",
                               f"{front} is active and manages the firewall, but the plan "
                               f"writes {backend} rules it may overwrite on reload",
                               f"set networking.firewall: {front}"))
    if answers.networking.nat and backend != "none" and client_networks(answers):
        # The same resolution the firewall plan makes: what this says is what the rules will hold.
        wan = resolve_wan(answers, facts)
        if wan is None:
            out.append(Finding("firewall.nat-no-wan", "error", "networking.wan_interface",
                               "NAT is on but the WAN interface is unknown: clients would connect with no internet",
                               "type the WAN interface"))
        else:
            out.append(Finding("firewall.nat", "ok", "networking.nat",
                               f"NAT: clients are masqueraded out of {wan} (WAN interface)"))
    return out


def check_ipv6(answers: Answers, facts: NetFacts) -> list[Finding]:
    v6_in_tunnel = any(":" in ts for v in (answers.variants.ikev2_cert, answers.variants.ikev2_eap) if v
                       for ts in v.local_ts)
    if v6_in_tunnel:
        return [Finding("ipv6.tunnelled", "info", "", "IPv6 traffic selectors are part of the tunnel")]
    if facts.ipv6_default_route:
        return [Finding("ipv6.outside", "warning", "",
                        "this host has IPv6 but the tunnel carries IPv4 only: clients with "
                        "IPv6 reach IPv6 sites outside the tunnel",
                        "turn IPv6 off on the clients; or route it through the tunnel, which takes an answers "
                        "file (::/0 in local_ts and an IPv6 pool; the wizard's screens set IPv4 only)")]
    return [Finding("ipv6.none", "info", "",
                    "no IPv6 default route here: the tunnel is IPv4 only and IPv6 is left out")]


CHECKS: tuple[Callable[[Answers, NetFacts], list[Finding]], ...] = (
    check_interfaces, check_server_address, check_ports, check_sysctls, check_kernel, check_split_tunnel,
    check_pool, check_firewall, check_ipv6)


def run_all(answers: Answers, facts: NetFacts) -> list[Finding]:
    return [f for check in CHECKS for f in check(answers, facts)]


def unaccepted(answers: Answers, findings: list[Finding]) -> list[Finding]:
    """The FAILs that stop an apply: every error whose check the answers do not accept by name."""
    accepted = set(answers.networking.accept_failed_checks)
    return [f for f in findings if f.severity == "error" and f.check not in accepted]


def refusal(answers: Answers, findings: list[Finding]) -> list[str]:
    """Why an apply must not go on: one line per FAIL the answers do not accept (empty: it may)."""
    return [f"networking: check {f.check} FAILs: {f.message}" + (f"; fix: {f.fix}" if f.fix else "")
            + f"; or accept it with networking.accept_failed_checks: [{f.check}]"
            for f in unaccepted(answers, findings)]


def open_lines(answers: Answers, findings: list[Finding], warnings: list[tuple[str, str]]) -> list[str]:
    """Every open error and warning, FAILs first, one line each: what heads the review and the confirmation.

    ``warnings`` are the plan's (field, message) pairs; an accepted FAIL says that the admin accepted it.
    In the screens' words: fields by their on-screen labels (the review shows these lines)."""
    accepted = set(answers.networking.accept_failed_checks)
    out = [f"FAIL {f.check}: {on_screen(f.message)}" + (" (accepted by the admin, recorded in the answers)"
                                                        if f.check in accepted else "")
           for f in findings if f.severity == "error"]
    out += [f"WARN {f.check}: {on_screen(f.message)}" for f in findings if f.severity == "warning"]
    out += [f"WARN {label(field)}: {on_screen(message)}" for field, message in warnings]
    return out
