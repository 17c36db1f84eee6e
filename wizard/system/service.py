"""Starting and reloading strongSwan: systemd where it runs, otherwise charon (or starter) directly."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from wizard.fs import paths
from wizard.fs.changes import Command
from wizard.system.charon import CHARON_CANDIDATES, charon_binary

DETACH = "--detach--"  # marker argv[0]: start the rest as a daemon of its own, then wait for vici
STOP = "--stop--"  # marker argv[0]: stop the processes with these names and wait until they are gone


@dataclass(frozen=True)
class ServiceFacts:
    systemd: bool
    charon_running: bool
    starter_running: bool
    charon_path: str


def _netns(pid: int | str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return ""


def processes_here(names: set[str]) -> list[psutil.Process]:
    """Processes with these names in this network namespace: a lab's daemons in namespaces of their own are
    not this machine's strongSwan."""
    ours = _netns("self")
    return [p for p in psutil.process_iter(["pid", "name"])
            if p.info.get("name") in names and _netns(p.info["pid"]) == ours]


def _running(names: set[str]) -> bool:
    return bool(processes_here(names))


def gather_facts() -> ServiceFacts:
    charon = charon_binary() or CHARON_CANDIDATES[0]
    return ServiceFacts(
        systemd=Path("/run/systemd/system").is_dir(),
        charon_running=_running({"charon", "charon-systemd"}),
        starter_running=_running({"starter"}),
        charon_path=charon,
    )


def commands(layout: str, facts: ServiceFacts, forwarding: bool, l2tp: bool = False,
             firewall: tuple[Command, ...] = (), settings_changed: bool = True) -> tuple[Command, ...]:
    """The commands that make the running strongSwan match the files just written.

    ``settings_changed``: the plugin settings file (strongswan.d/swan-wizard.conf) changes in this run. charon
    loads plugins only when it starts (a reload re-reads connections and log levels, not the plugin list),
    so such a change needs a restart.
    """
    out: list[Command] = []
    if forwarding:
        out.append(Command(("sysctl", "-p", str(paths.SYSCTL_CONF)), "apply the forwarding sysctls now"))
    out += firewall
    if layout == "swanctl":
        out += _swanctl(facts, settings_changed)
    else:
        out += _starter(facts, settings_changed)
    if l2tp:
        if facts.systemd:
            out += [Command(("systemctl", "enable", "xl2tpd.service"), "start the L2TP server at boot"),
                    Command(("systemctl", "restart", "xl2tpd.service"), "(re)start xl2tpd with the new settings")]
        else:
            out.append(Command(("pkill", "-x", "xl2tpd"), "stop a running xl2tpd (ignored when none runs)"))
            out.append(Command(("xl2tpd",), "no systemd: start xl2tpd"))
    return tuple(out)


def _swanctl(facts: ServiceFacts, settings_changed: bool) -> list[Command]:
    if facts.systemd:
        return [
            # may_fail: a system without the strongswan-starter package has no such unit.
            Command(("systemctl", "disable", "--now", "strongswan-starter.service"),
                    "the legacy starter and swanctl flavours must not both run (two charons, one socket)",
                    may_fail=True),
            Command(("systemctl", "reset-failed", "strongswan-starter.service"),
                    "forget the starter's failed start from its package install (the system is not 'degraded')",
                    may_fail=True),
            Command(("systemctl", "enable", "strongswan.service"), "start strongSwan at boot"),
            Command(("systemctl", "restart", "strongswan.service"),
                    "(re)start charon: plugin settings are read only at start")
            if settings_changed else
            Command(("systemctl", "reload-or-restart", "strongswan.service"),
                    "start charon, or make it re-read swanctl.conf"),
        ]
    out: list[Command] = []
    if facts.charon_running and settings_changed:
        out.append(Command((STOP, "charon", "charon-systemd"), "stop charon: plugin settings are read only at start"))
    if not facts.charon_running or settings_changed:
        out.append(Command((DETACH, facts.charon_path), "no systemd: start charon directly"))
    else:
        out.append(Command(("swanctl", "--reload-settings"), "re-read strongswan.conf (log levels)"))
    out.append(Command(("swanctl", "--load-all", "--noprompt"), "load connections, pools, credentials over vici"))
    return out


def _starter(facts: ServiceFacts, settings_changed: bool) -> list[Command]:
    if facts.systemd:
        return [
            Command(("systemctl", "disable", "--now", "strongswan.service"),
                    "the swanctl and legacy starter flavours must not both run (two charons, one socket)",
                    may_fail=True),
            Command(("systemctl", "reset-failed", "strongswan.service"), "forget an earlier failed start",
                    may_fail=True),
            Command(("systemctl", "enable", "strongswan-starter.service"), "start strongSwan at boot"),
            Command(("systemctl", "restart", "strongswan-starter.service"), "(re)start starter and charon"),
        ]
    if not facts.starter_running:
        return [Command(("ipsec", "start"), "no systemd: start starter and charon")]
    if settings_changed:
        return [Command(("ipsec", "restart"), "restart starter and charon: plugin settings are read only at start")]
    return [Command(("ipsec", "reload"), "re-read ipsec.conf"),
            Command(("ipsec", "rereadall"), "re-read ipsec.secrets and certificates")]


class CommandFailed(RuntimeError):
    pass


def run(command: Command, timeout: float = 60.0) -> str:
    """Run one planned command; return its output. Raises CommandFailed with the output on failure."""
    if command.argv[0] == DETACH:
        return _start_daemon(command.argv[1:], timeout)
    if command.argv[0] == STOP:
        return _stop_daemons(set(command.argv[1:]), timeout)
    if shutil.which(command.argv[0]) is None:
        if command.may_fail:
            return f"{command.argv[0]}: not installed (skipped)"
        raise CommandFailed(f"{command.argv[0]}: not installed")
    proc = subprocess.run(command.argv, capture_output=True, text=True, timeout=timeout, check=False)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 and not command.may_fail:
        raise CommandFailed(f"{command} exited {proc.returncode}: {output[-2000:]}")
    return output


def _stop_daemons(names: set[str], timeout: float) -> str:
    procs = processes_here(names)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    if alive:
        raise CommandFailed(f"{', '.join(sorted(names))} still running {timeout:.0f}s after SIGTERM")
    if procs and names & {"charon", "charon-systemd"}:
        # charon removes its vici socket on a clean exit; one left by a crash would fool the start's wait.
        Path(paths.VICI_SOCKET).unlink(missing_ok=True)
    return f"stopped {len(procs)} process(es)"


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
