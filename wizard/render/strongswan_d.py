"""What both layouts share: charon's settings file (logging, plugins) and the forwarding sysctls."""

from __future__ import annotations

from typing import Any

from wizard.fs import paths
from wizard.model import formats
from wizard.model.answers import Answers, is_ip
from wizard.model.credentials import Credential, secret_key
from wizard.render.confsyntax import render_settings

HEADER = "# Written by Swan Wizard from its answers file; changes here are replaced on the next apply.\n"


def log_levels(answers: Answers) -> dict[str, int]:
    """charon's per-subsystem levels: the article's charondebug, over a default of 1 (control)."""
    levels = dict(answers.log_levels)
    default = levels.pop("default", 1)
    return {"default": default, **levels}


def settings_tree(answers: Answers, esp: str = "kernel") -> dict[str, Any]:
    levels = log_levels(answers)
    charon: dict[str, Any] = {
        "filelog": {
            # One named logger the live log pane and `doctor` read; line-buffered so tail -f keeps up.
            "swan-wizard": {
                "path": str(paths.CHARON_LOG),
                "time_format": "%b %e %T",
                "time_add_ms": True,
                "ike_name": True,
                "log_level": True,
                "append": True,
                "flush_line": True,
                **levels,
            },
        },
        "syslog": {"identifier": "charon", "daemon": dict(levels)},
    }
    plugins: dict[str, Any] = {}
    if esp == "userspace":
        # No ESP in the kernel: charon carries ESP itself over a TUN device (tunnel mode only).
        plugins["kernel-libipsec"] = {"load": True}
    if answers.pool.addresses == "dhcp":
        dhcp = answers.pool.dhcp
        plugins["dhcp"] = {"load": True}
        if dhcp is not None:
            plugins["dhcp"].update({"server": dhcp.server, "force_server_address": dhcp.force_server_address,
                                    "identity_lease": dhcp.identity_lease})
            if dhcp.interface:
                plugins["dhcp"]["interface"] = dhcp.interface
        # farp answers ARP for the virtual IPs, so LAN hosts reach DHCP-addressed clients (reference §1.7).
        plugins["farp"] = {"load": True}
        if answers.pool.dns:
            # With dhcp there is no swanctl pool to carry the DNS servers: the attr plugin pushes them to
            # every client that got a virtual IP (the legacy layout's rightdns does the same).
            plugins["attr"] = {"dns": list(answers.pool.dns)}
    if plugins:
        charon["plugins"] = plugins
    return {"charon": charon, "charon-systemd": {"journal": dict(levels)}}


def strongswan_settings(answers: Answers, esp: str = "kernel") -> str:
    return HEADER + render_settings(settings_tree(answers, esp))


def radius_backend(answers: Answers) -> bool:
    return bool(answers.variants.users_in_radius()) and answers.radius is not None


def _radius_secret(creds: dict[str, Credential], address: str) -> tuple[str, str]:
    """(text, field) of one server's shared secret, refused with its field if strongswan.conf cannot hold it."""
    cred = creds[secret_key("radius", address)]
    text = formats.secret_text(cred.value, cred.field)
    formats.settings_string(text, cred.field)
    return text, cred.field


def radius_tree(answers: Answers, creds: dict[str, Credential]) -> dict[str, Any]:
    """charon.plugins.eap-radius: the servers in the answers' order, accounting and the NAS-Identifier."""
    assert answers.radius is not None
    radius = answers.radius
    servers: dict[str, Any] = {}
    count = len(radius.servers)
    for i, server in enumerate(radius.servers):
        text, _ = _radius_secret(creds, server.address)
        servers[f"radius-{i + 1}"] = {
            "address": server.address, "secret": text, "auth_port": server.port, "acct_port": server.acct_port,
            # Steps of one: charon adds 110 to a reachable server's preference and at most 109 at random to
            # one that stopped answering, so the next in the list takes over while the first is down.
            "preference": count - 1 - i,
        }
    plugin: dict[str, Any] = {"load": True, "nas_identifier": radius.nas_identifier,
                              "accounting": radius.accounting, "servers": servers}
    return {"charon": {"plugins": {"eap-radius": plugin}}}


def radius_settings(answers: Answers, creds: dict[str, Credential]) -> str | None:
    """The eap-radius settings file (0600: it holds the shared secrets), or None without a RADIUS backend."""
    if not radius_backend(answers):
        return None
    return HEADER + render_settings(radius_tree(answers, creds))


def freeradius_clients(answers: Answers, creds: dict[str, Credential]) -> dict[str, str]:
    """Per RADIUS server (by address), the FreeRADIUS clients.conf entry that lets this gateway in: each
    server has its own shared secret, and one clients.conf may list the gateway's address only once."""
    if not radius_backend(answers) or answers.radius is None or not answers.radius.client_snippet:
        return {}
    address = answers.server.address
    ipaddr = address if is_ip(address) else formats.freeradius_string(address, "server.address")
    shortname = formats.freeradius_string(answers.radius.nas_identifier, "radius.nas_identifier")
    out = {}
    for server in answers.radius.servers:
        text, field = _radius_secret(creds, server.address)
        out[server.address] = "\n".join([
            f"# FreeRADIUS clients.conf entry for this VPN gateway on RADIUS server {server.address}: append it to",
            "# /etc/freeradius/3.0/clients.conf there and restart freeradius. ipaddr is the address the gateway's",
            "# requests come from; change it if the gateway reaches the RADIUS server from another one.",
            HEADER.rstrip("\n"),
            "client swan-wizard {",
            f"    ipaddr = {ipaddr}",
            f"    secret = {formats.freeradius_string(text, field)}",
            f"    shortname = {shortname}",
            "}", ""])
    return out


def sysctl_conf(answers: Answers) -> str | None:
    """The article's Networking sysctls, or None when forwarding is not wanted."""
    if not answers.networking.forwarding:
        return None
    return (HEADER + "# VPN: route traffic between the tunnel and the other interfaces (Arch Wiki, Networking)\n"
            "net.ipv4.ip_forward = 1\n"
            "net.ipv4.conf.all.accept_redirects = 0\n"
            "net.ipv4.conf.all.send_redirects = 0\n")
