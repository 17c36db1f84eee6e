"""Starting and reloading strongSwan: systemd where it runs, otherwise charon (or starter) directly."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from wizard import paths
from wizard.plan import Command

CHARON_CANDIDATES = ("/usr/lib/ipsec/charon", "/usr/lib/strongswan/charon", "/usr/libexec/ipsec/charon",
                     "/usr/libexec/strongswan/charon")
DETACH = "--detach--"  # marker argv[0]: start the rest as a daemon of its own, then wait for vici


@dataclass(frozen=True)
class ServiceFacts:
    systemd: bool
    charon_running: bool
    starter_running: bool
    charon_path: str


def _running(names: set[str]) -> bool:
    return any(proc.info.get("name") in names for proc in psutil.process_iter(["name"]))


def gather_facts() -> ServiceFacts:
    charon = next((c for c in CHARON_CANDIDATES if Path(c).exists()), CHARON_CANDIDATES[0])
    return ServiceFacts(
        systemd=Path("/run/systemd/system").is_dir(),
        charon_running=_running({"charon", "charon-systemd"}),
        starter_running=_running({"starter"}),
        charon_path=charon,
    )


def commands(layout: str, facts: ServiceFacts, forwarding: bool, l2tp: bool = False,
             firewall: tuple[Command, ...] = ()) -> tuple[Command, ...]:
    out: list[Command] = []
    if forwarding:
        out.append(Command(("sysctl", "-p", str(paths.SYSCTL_CONF)), "apply the forwarding sysctls now"))
    out += firewall
    if layout == "swanctl":
        if facts.systemd:
            out += [
                Command(("systemctl", "disable", "--now", "strongswan-starter.service"),
                        "the legacy starter and swanctl flavours must not both run"),
                Command(("systemctl", "enable", "strongswan.service"), "start strongSwan at boot"),
                Command(("systemctl", "reload-or-restart", "strongswan.service"),
                        "start charon, or make it re-read settings and swanctl.conf"),
            ]
        else:
            if not facts.charon_running:
                out.append(Command((DETACH, facts.charon_path), "no systemd: start charon directly"))
            else:
                out.append(Command(("swanctl", "--reload-settings"), "re-read strongswan.conf (log levels)"))
            out.append(Command(("swanctl", "--load-all", "--noprompt"),
                               "load connections, pools, credentials over vici"))
    else:
        if facts.systemd:
            out += [
                Command(("systemctl", "disable", "--now", "strongswan.service"),
                        "the swanctl and legacy starter flavours must not both run"),
                Command(("systemctl", "enable", "strongswan-starter.service"), "start strongSwan at boot"),
                Command(("systemctl", "restart", "strongswan-starter.service"), "(re)start starter and charon"),
            ]
        elif facts.starter_running:
            out += [Command(("ipsec", "reload"), "re-read ipsec.conf"),
                    Command(("ipsec", "rereadall"), "re-read ipsec.secrets and certificates")]
        else:
            out.append(Command(("ipsec", "start"), "no systemd: start starter and charon"))
    if l2tp:
        if facts.systemd:
            out += [Command(("systemctl", "enable", "xl2tpd.service"), "start the L2TP server at boot"),
                    Command(("systemctl", "restart", "xl2tpd.service"), "(re)start xl2tpd with the new settings")]
        else:
            out.append(Command(("pkill", "-x", "xl2tpd"), "stop a running xl2tpd (ignored when none runs)"))
            out.append(Command(("xl2tpd",), "no systemd: start xl2tpd"))
    return tuple(out)


class CommandFailed(RuntimeError):
    pass


def run(command: Command, timeout: float = 60.0) -> str:
    """Run one planned command; return its output. Raises CommandFailed with the output on failure."""
    if command.argv[0] == DETACH:
        return _start_daemon(command.argv[1:], timeout)
    if shutil.which(command.argv[0]) is None:
        if command.may_fail:
            return f"{command.argv[0]}: not installed (skipped)"
        raise CommandFailed(f"{command.argv[0]}: not installed")
    proc = subprocess.run(command.argv, capture_output=True, text=True, timeout=timeout, check=False)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 and not command.may_fail:
        raise CommandFailed(f"{command} exited {proc.returncode}: {output[-2000:]}")
    return output


def _start_daemon(argv: tuple[str, ...], timeout: float) -> str:
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)
    socket = Path(paths.VICI_SOCKET)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if socket.exists():
            return f"started {argv[0]} (pid file {os.path.join('/run', 'charon.pid')})"
        time.sleep(0.1)
    raise CommandFailed(f"{argv[0]} started but {socket} did not appear within {timeout:.0f}s")
