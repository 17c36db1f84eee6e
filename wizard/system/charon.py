"""charon itself: where the binary is, and a throwaway charon that reads only the files it is given.

A :class:`ThrowawayCharon` runs in a private mount namespace (and a network namespace: a named one, or
a fresh one of its own) where ``/run`` is an empty tmpfs and the paths it is told are bind mounts of
prepared files. So it reads none of the live configuration, its pid file and vici socket never meet the
live daemon's, and its mounts vanish with it. The self-test's client, the doctor's parse check and the
test lab's peers are all this one class.

``ip netns exec``, ``unshare`` and ``sh`` each exec without forking, so the process started is the daemon
itself: its ``/proc/PID/root`` reaches the private ``/run`` (and the vici socket there), and its
``/proc/PID/ns`` lets commands such as swanctl join both namespaces.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wizard.system import vici

CHARON_CANDIDATES = ("/usr/lib/ipsec/charon", "/usr/lib/strongswan/charon", "/usr/libexec/ipsec/charon",
                     "/usr/libexec/strongswan/charon")


def charon_binary() -> str | None:
    """The plain charon daemon of this machine's strongSwan (distributions put it in different places)."""
    return next((c for c in CHARON_CANDIDATES if Path(c).exists()), None)


def strongswan_version(timeout: float = 5.0) -> str | None:
    """strongSwan's version from ``charon --version`` ("Linux strongSwan 5.9.8"), or None.

    Only the plain charon binary: charon-systemd has no --version and would start as a daemon.
    """
    for candidate in CHARON_CANDIDATES:
        if not os.access(candidate, os.X_OK):
            continue
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=timeout,
                                 stdin=subprocess.DEVNULL, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(r"strongSwan (\S+)", out)
        if match:
            return match.group(1)
    return None


class CharonError(RuntimeError):
    """The throwaway charon did not start (its output says why) or did not open its vici socket in time."""


@dataclass(frozen=True)
class Bind:
    """``source`` (a host path) seen at ``target`` inside the throwaway charon's mount namespace."""

    source: str
    target: str
    read_only: bool = False
    # A bind mount needs an existing target, and the host's /etc is not ours to create in: with
    # if_present the mount is skipped where the host lacks the target (charon could not read it anyway).
    if_present: bool = False


def binds_under(directory: Path, targets: Iterable[str]) -> list[Bind]:
    """Each target backed by the same relative path under ``directory`` (mounted where the host has it)."""
    return [Bind(str(directory / t.lstrip("/")), t, if_present=True) for t in targets]


def start_script(binds: Sequence[Bind], daemon: Sequence[str], *, tmpfs: Sequence[str] = ("/run",),
                 mkdirs: Sequence[str] = (), own_netns: bool = False) -> str:
    """The shell script that makes the mounts and execs the daemon (run by :meth:`ThrowawayCharon.start`)."""
    lines = ["set -e"]
    lines += [f"mount -t tmpfs -o mode=0755 swan-throwaway {shlex.quote(t)}" for t in tmpfs]
    if "/run" in tmpfs and Path("/var/run").resolve() != Path("/run"):
        lines.append("mount --bind /run /var/run")
    lines += [f"mkdir -p {shlex.quote(d)}" for d in mkdirs]
    for bind in binds:
        source, target = shlex.quote(bind.source), shlex.quote(bind.target)
        mount = [f"mount --bind {source} {target}"]
        if bind.read_only:
            # The daemon (and anything it runs) must not change the files it is judging.
            mount.append(f"mount -o remount,bind,ro {target}")
        lines += [f"if [ -e {target} ]; then {'; '.join(mount)}; fi"] if bind.if_present else mount
    if own_netns:
        lines.append("ip link set lo up 2>/dev/null || true")
    lines.append("exec " + " ".join(shlex.quote(a) for a in daemon))
    return "\n".join(lines) + "\n"


class ThrowawayCharon:
    """charon (or starter) in private namespaces, configured only by ``binds``.

    ``workdir`` holds the start script and the daemon's stdout/stderr. ``netns``: a named network namespace
    to run in, or None for a fresh one that disappears with the daemon. ``daemon``: the foreground command
    that ends up serving vici (``[starter, "--nofork"]`` for the legacy layout); charon by default.
    """

    def __init__(self, workdir: Path, binds: Sequence[Bind], *, netns: str | None = None,
                 daemon: Sequence[str] | None = None, tmpfs: Sequence[str] = ("/run",),
                 mkdirs: Sequence[str] = ()) -> None:
        binary = charon_binary()
        if daemon is None and binary is None:
            raise CharonError(f"charon is not installed (none of {', '.join(CHARON_CANDIDATES)})")
        self.workdir, self.binds, self.netns = workdir, tuple(binds), netns
        self.daemon = tuple(daemon or (str(binary),))
        self.tmpfs, self.mkdirs = tuple(tmpfs), tuple(mkdirs)
        self.script_path = workdir / "start-charon.sh"
        self.stdout_path = workdir / "charon.stdout"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ThrowawayCharon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        """Start the daemon and wait until its vici socket answers; CharonError when it does not."""
        if self.running:
            raise CharonError("charon already running")
        self.script_path.write_text(start_script(self.binds, self.daemon, tmpfs=self.tmpfs, mkdirs=self.mkdirs,
                                                 own_netns=self.netns is None))
        enter = ["ip", "netns", "exec", self.netns] if self.netns else []
        unshare = ["unshare", "--mount"] + (["--net"] if self.netns is None else []) + ["--propagation", "private"]
        with self.stdout_path.open("ab") as out:
            # start_new_session: a Ctrl-C aimed at the caller must not kill charon before stop() can.
            self.proc = subprocess.Popen([*enter, *unshare, "--", "/bin/sh", str(self.script_path)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while not self.ready():
                if time.monotonic() >= deadline:
                    raise CharonError(f"{self.daemon[0]} did not open its vici socket within {timeout:.0f}s")
                time.sleep(0.05)
        except BaseException:
            self.stop()  # started and ready, or nothing left running
            raise

    def ready(self) -> bool:
        """Whether the daemon runs and answers on vici; CharonError when it has exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise CharonError(f"{self.daemon[0]} exited with {self.proc.returncode}: {self.output_tail()}")
        try:
            # Until the script has exec'd the daemon, /proc/PID/root/run is still the host's /run, where
            # another charon's socket may answer; the exec also tells that the mounts are in place.
            if os.readlink(f"/proc/{self.proc.pid}/exe") != os.path.realpath(self.daemon[0]):
                return False
        except OSError:
            return False
        return vici.probe(self.vici_path)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (charon says goodbye to its peers), SIGKILL if it dawdles."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None or not self.running:
            raise CharonError(f"{self.daemon[0]} is not running")
        return self.proc.pid

    # -- reaching it -----------------------------------------------------------------------------------

    def path(self, inside: str) -> Path:
        """A path as the daemon sees it, reachable from here while it runs (e.g. a log under its /run)."""
        return Path(f"/proc/{self.pid}/root/{inside.lstrip('/')}")

    @property
    def vici_path(self) -> str:
        return str(self.path("/run/charon.vici"))

    def command(self, *argv: str) -> list[str]:
        """argv prefixed so that it sees the daemon's network and mounts (its /etc, its /run)."""
        return ["nsenter", f"--mount=/proc/{self.pid}/ns/mnt", f"--net=/proc/{self.pid}/ns/net", "--", *argv]

    def run(self, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    def swanctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return self.run("swanctl", *args, timeout=timeout)

    def output_tail(self, lines: int = 5) -> str:
        """The last lines the daemon wrote to stdout/stderr, joined for one line of text."""
        try:
            text = self.stdout_path.read_text(errors="replace")
        except OSError:
            return ""
        return " / ".join(line for line in text.strip().splitlines()[-lines:] if line.strip())
