"""What both layouts share: charon's settings file (logging, plugins) and the forwarding sysctls."""

from __future__ import annotations

from typing import Any

from wizard.fs import paths
from wizard.model.answers import Answers
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


def sysctl_conf(answers: Answers) -> str | None:
    """The article's Networking sysctls, or None when forwarding is not wanted."""
    if not answers.networking.forwarding:
        return None
    return (HEADER + "# VPN: route traffic between the tunnel and the other interfaces (Arch Wiki, Networking)\n"
            "net.ipv4.ip_forward = 1\n"
            "net.ipv4.conf.all.accept_redirects = 0\n"
            "net.ipv4.conf.all.send_redirects = 0\n")
