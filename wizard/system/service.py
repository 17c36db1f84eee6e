"""Starting and reloading strongSwan: systemd where it runs, otherwise charon (or starter) directly."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from wizard.fs import paths
from wizard.fs.changes import Argv, Command
from wizard.system.charon import CHARON_CANDIDATES, charon_binary

DETACH = "--detach--"  # marker argv[0]: start the rest as a daemon of its own, then wait for vici
STOP = "--stop--"  # marker argv[0]: stop the processes with these names and wait until they are gone


# The forwarding sysctls render.strongswan_d writes (a test holds the two to the same keys): their values
# before an apply are what a rollback writes back.
FORWARDING_SYSCTLS = ("net.ipv4.ip_forward", "net.ipv4.conf.all.accept_redirects",
                      "net.ipv4.conf.all.send_redirects")


@dataclass(frozen=True)
class ServiceFacts:
    """The service manager and daemons as the plan found them: each command's undo is judged from these."""

    systemd: bool
    charon_running: bool
    starter_running: bool
    charon_path: str
    enabled: frozenset[str] = frozenset()  # systemd units enabled at boot
    active: frozenset[str] = frozenset()  # systemd units running
    xl2tpd_running: bool = False
    sysctls: Mapping[str, str] = field(default_factory=dict)  # FORWARDING_SYSCTLS' values now (those read)


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


def _units(*args: str) -> frozenset[str]:
    """The unit names ``systemctl list-unit-files``/``list-units`` prints (empty when it cannot tell)."""
    try:
        proc = subprocess.run(("systemctl", *args, "--no-legend", "--plain", "--no-pager"), capture_output=True,
                              text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.split()[0] for line in proc.stdout.splitlines() if line.split())


def current_sysctls(proc_sys: Path = Path("/proc/sys")) -> dict[str, str]:
    """FORWARDING_SYSCTLS as the kernel has them now; a key the kernel lacks is left out."""
    values = {}
    for key in FORWARDING_SYSCTLS:
        try:
            values[key] = (proc_sys / key.replace(".", "/")).read_text().strip()
        except OSError:
            continue
    return values


def gather_facts() -> ServiceFacts:
    charon = charon_binary() or CHARON_CANDIDATES[0]
    systemd = Path("/run/systemd/system").is_dir()
    return ServiceFacts(
        systemd=systemd,
        charon_running=_running({"charon", "charon-systemd"}),
        starter_running=_running({"starter"}),
        charon_path=charon,
        enabled=_units("list-unit-files", "--state=enabled") if systemd else frozenset(),
        active=_units("list-units", "--state=active") if systemd else frozenset(),
        xl2tpd_running=_running({"xl2tpd"}),
        sysctls=current_sysctls(),
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
        out.append(_sysctl(facts))
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
            out.append(Command(("pkill", "-x", "xl2tpd"), "stop a running xl2tpd (ignored when none runs)",
                               undo_why="xl2tpd is started again by the next command, whose undo restores it"))
            out.append(Command(("xl2tpd",), "no systemd: start xl2tpd",
                               undo=(("pkill", "-x", "xl2tpd"), ("xl2tpd",)) if facts.xl2tpd_running
                               else (("pkill", "-x", "xl2tpd"),),
                               undo_why="restart it with the restored settings" if facts.xl2tpd_running
                               else "xl2tpd was not running"))
    return tuple(_with_unit_undo(c, facts) for c in out)


def _sysctl(facts: ServiceFacts) -> Command:
    """``sysctl -p`` sets the kernel now; its undo writes back the values the plan found."""
    before = [f"{key}={facts.sysctls[key]}" for key in FORWARDING_SYSCTLS if key in facts.sysctls]
    return Command(("sysctl", "-p", str(paths.SYSCTL_CONF)), "apply the forwarding sysctls now",
                   undo=(("sysctl", "-w", *before),) if before else None,
                   undo_why="put back the values from before this run" if before
                   else "the values before this run could not be read")


def _with_unit_undo(command: Command, facts: ServiceFacts) -> Command:
    """A systemctl command's undo, judged from the unit's state when the plan was made (kept when stated)."""
    if command.states_undo or command.argv[:1] != ("systemctl",):
        return command
    verb, unit = command.argv[1], command.argv[-1]
    undo: tuple[Argv, ...] | None = None
    if verb == "enable":
        undo, why = (None, f"{unit} was enabled already") if unit in facts.enabled else \
            ((("systemctl", "disable", unit),), f"{unit} was not enabled before")
    elif verb == "disable":
        steps = [step for step, was in ((("systemctl", "enable", unit), unit in facts.enabled),
                                        (("systemctl", "start", unit), unit in facts.active)) if was]
        undo = tuple(steps) or None
        why = f"{unit} was enabled or running before" if steps else f"{unit} was neither enabled nor running"
    elif verb in ("restart", "reload-or-restart"):
        undo, why = ((("systemctl", "restart", unit),), "restart it with the restored files") \
            if unit in facts.active else ((("systemctl", "stop", unit),), f"{unit} was not running")
    elif verb == "daemon-reload":
        undo, why = (command.argv,), "read the restored unit files"
    elif verb == "reset-failed":
        why = "only forgets a failed start"
    else:
        return command
    return replace(command, undo=undo, undo_why=why)


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
    stop: Argv = (STOP, "charon", "charon-systemd")
    if facts.charon_running and settings_changed:
        out.append(Command(stop, "stop charon: plugin settings are read only at start",
                           undo_why="charon is started again by the next command, whose undo restarts it"))
    if not facts.charon_running or settings_changed:
        out.append(Command((DETACH, facts.charon_path), "no systemd: start charon directly",
                           undo=(stop, (DETACH, facts.charon_path)) if facts.charon_running else (stop,),
                           undo_why="restart it with the restored plugin settings" if facts.charon_running
                           else "charon was not running"))
    else:
        out.append(Command(("swanctl", "--reload-settings"), "re-read strongswan.conf (log levels)",
                           undo=(("swanctl", "--reload-settings"),), undo_why="re-read the restored settings"))
    load: Argv = ("swanctl", "--load-all", "--noprompt")
    out.append(Command(load, "load connections, pools, credentials over vici", undo=(load,),
                       undo_why="load the restored files (connections no longer there are unloaded)"))
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
    restored = "re-read the restored files"
    if not facts.starter_running:
        return [Command(("ipsec", "start"), "no systemd: start starter and charon", undo=(("ipsec", "stop"),),
                        undo_why="starter was not running")]
    if settings_changed:
        return [Command(("ipsec", "restart"), "restart starter and charon: plugin settings are read only at start",
                        undo=(("ipsec", "restart"),), undo_why="restart them with the restored settings")]
    return [Command(("ipsec", "reload"), "re-read ipsec.conf", undo=(("ipsec", "reload"),), undo_why=restored),
            Command(("ipsec", "rereadall"), "re-read ipsec.secrets and certificates", undo=(("ipsec", "rereadall"),),
                    undo_why=restored)]


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
