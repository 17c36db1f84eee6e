"""A lab of real strongSwan daemons in network namespaces, for tests that must prove a tunnel works.

Each node of a :class:`Topology` gets its own network namespace; nodes are joined by veth pairs. A
:class:`Peer` is a node that runs charon (a ``wizard.system.charon.ThrowawayCharon``, the class the
self-test and the doctor use too) in a mount namespace of its own, where
``/etc/swanctl``, ``/etc/strongswan.conf``, ``/etc/strongswan.d``, the legacy ``/etc/ipsec.*`` files,
``/etc/resolv.conf`` and ``/var/log`` are bind mounts of a per-peer directory and ``/run`` is a tmpfs.
So charon reads only what the test prepared, its pid file and VICI socket never meet the host's, and
nothing it writes lands on the host.

This kernel has XFRM but no ESP, so charon moves ESP in userspace through the kernel-libipsec plugin
(a TUN device ``ipsec0`` plus routes in table 220); see :func:`lab_snippet`.

Mounts live only in each charon's private mount namespace: they vanish with the process, so cleanup
is "kill what runs in our namespaces, then delete the namespaces". Namespace names are ``sw-<token>-<node>``
and every lab leaves an owner marker in :data:`STATE_DIR`, so a later run can tell an aborted run's
leftovers (owner dead: removed) from a parallel run's namespaces (owner alive: left alone).

Typical use::

    with open_lab(tmp_path) as lab:
        server = lab.add_peer("server", extra_files={"/etc/swanctl/swanctl.conf": SERVER_CONF, ...})
        client = lab.add_peer("client", root=product_root)
        server.start(); client.start()
        server.swanctl("--load-all"); client.swanctl("--load-all")
        client.swanctl("--initiate", "--child", "home")
        client.wait_child_installed("home")
        assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from wizard.system import tcpprobe
from wizard.system.charon import CharonError, ThrowawayCharon, binds_under, charon_binary
from wizard.system.vici import session as vici_session

LIBIPSEC_PLUGIN = "plugins/libstrongswan-kernel-libipsec.so"  # next to charon
NS_PREFIX = "sw-"
# Owner markers of live labs; in /tmp rather than /run so a test never needs more than it already has.
STATE_DIR = Path("/tmp/swan-wizard-lab")

SERVER_ADDR = "198.18.0.1"
CLIENT_ADDR = "198.18.0.2"
# The "server LAN": an address only reachable through the tunnel, so traffic to it proves ESP carried it.
SERVER_LAN_ADDR = "198.19.0.1"

# Host paths bind-mounted into each charon's mount namespace, in mount order. Every one of them is
# backed by the same relative path inside the peer directory.
BIND_PATHS: tuple[str, ...] = (
    "/etc/strongswan.conf",
    "/etc/strongswan.d",
    "/etc/swanctl",
    "/etc/ipsec.conf",
    "/etc/ipsec.secrets",
    "/etc/ipsec.d",
    "/etc/resolv.conf",
    "/var/log",
)
LAB_SNIPPET_NAME = "zz-swan-lab.conf"  # sorts after swan-wizard.conf, so the lab's settings win
IPSEC_D_SUBDIRS = ("aacerts", "acerts", "cacerts", "certs", "crls", "ocspcerts", "private", "reqs")

DEFAULT_TIMEOUT = 20.0


class LabError(AssertionError):
    """A lab step failed; the message carries the command output and the charon log tails.

    An AssertionError so pytest reports it as a test failure with the message, not as an internal error.
    """


# ---------------------------------------------------------------------------------------------------
# prerequisites


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


@cache
def lab_unavailable_reason() -> str | None:
    """Why this machine cannot run the lab, or None. Probes for real: a namespace is made and removed."""
    missing: list[str] = []
    if os.geteuid() != 0:
        missing.append("not running as root")
    for tool in ("ip", "unshare", "nsenter", "swanctl", "mount"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} not found in PATH")
    charon = charon_binary()
    if charon is None:
        missing.append("charon not installed (strongswan-charon)")
    for path in (Path(charon or "/usr/lib/ipsec/charon").parent / LIBIPSEC_PLUGIN, Path("/dev/net/tun"),
                 Path("/etc/strongswan.conf"), Path("/etc/strongswan.d"), Path("/etc/swanctl")):
        if not path.exists():
            missing.append(f"{path} missing")
    try:
        import vici  # noqa: F401
    except ImportError:
        missing.append("python package 'vici' not installed (pip install vici)")
    if missing:
        return "; ".join(missing)
    # The tools exist; now check that this kernel/container actually lets us use them.
    # The pid in the name lets a concurrent cleanup_stale tell a live probe from a leftover one.
    probe = f"{NS_PREFIX}probe{os.getpid()}-{secrets.token_hex(3)}"
    try:
        added = _sh(["ip", "netns", "add", probe])
        if added.returncode != 0:
            return f"cannot create a network namespace: {added.stderr.strip()}"
        unshared = _sh(["ip", "netns", "exec", probe, "unshare", "--mount", "--propagation", "private",
                        "mount", "-t", "tmpfs", "lab-probe", "/run"])
        if unshared.returncode != 0:
            return f"cannot make a private mount namespace: {unshared.stderr.strip()}"
    finally:
        _sh(["ip", "netns", "del", probe])
    return None


def require_lab() -> None:
    """Skip the calling test when the lab cannot run here, but fail it on CI: a CI skip would be silent."""
    import pytest

    reason = lab_unavailable_reason()
    if reason is None:
        return
    message = f"strongSwan lab unavailable: {reason}"
    print(message, file=sys.stderr)
    if _ci():
        pytest.fail(f"{message} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------------------------------------------
# topology


@dataclass(frozen=True)
class Addr:
    """An address (CIDR) on a device of a node."""

    node: str
    dev: str
    cidr: str

    @property
    def ip(self) -> str:
        return self.cidr.split("/")[0]


@dataclass(frozen=True)
class Route:
    node: str
    dst: str
    via: str


@dataclass(frozen=True)
class Topology:
    """Which namespaces exist and how they are wired: the one place addresses are written down."""

    links: tuple[tuple[Addr, Addr], ...]
    extra_addrs: tuple[Addr, ...] = ()
    routes: tuple[Route, ...] = ()
    routers: frozenset[str] = frozenset()
    # Off by default: IPv6 DAD on fresh veths makes charon start a roam job ~1.5 s in, mid-test.
    ipv6: bool = False

    @property
    def nodes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for a, b in self.links:
            seen.setdefault(a.node)
            seen.setdefault(b.node)
        for extra in self.extra_addrs:
            seen.setdefault(extra.node)
        return tuple(seen)

    def addrs(self, node: str) -> list[Addr]:
        return [a for link in self.links for a in link if a.node == node] + [
            a for a in self.extra_addrs if a.node == node
        ]

    def ip(self, node: str) -> str:
        """The node's first link address: the one its IKE daemon talks from."""
        for a, b in self.links:
            for end in (a, b):
                if end.node == node:
                    return end.ip
        raise KeyError(f"node {node!r} has no link in this topology")

    @classmethod
    def road_warrior(cls) -> Topology:
        """Server and client on one segment; the server also owns the LAN address behind the tunnel."""
        return cls(
            links=(
                (Addr("server", "eth0", f"{SERVER_ADDR}/24"), Addr("client", "eth0", f"{CLIENT_ADDR}/24")),
            ),
            # No dummy interfaces on this kernel, so the LAN address sits on lo.
            extra_addrs=(Addr("server", "lo", f"{SERVER_LAN_ADDR}/32"),),
        )

    @classmethod
    def via_internet(cls) -> Topology:
        """Server and client on different segments, joined by a routing "internet" namespace."""
        return cls(
            links=(
                (Addr("server", "eth0", f"{SERVER_ADDR}/24"), Addr("internet", "eth0", "198.18.0.254/24")),
                (Addr("client", "eth0", "198.18.1.2/24"), Addr("internet", "eth1", "198.18.1.254/24")),
            ),
            extra_addrs=(Addr("server", "lo", f"{SERVER_LAN_ADDR}/32"),),
            routes=(Route("server", "default", "198.18.0.254"), Route("client", "default", "198.18.1.254")),
            routers=frozenset({"internet"}),
        )


# ---------------------------------------------------------------------------------------------------
# peer directories


def lab_snippet(log_path: Path) -> str:
    """The strongswan.d settings every lab charon gets on top of the host's and the product's."""
    return f"""\
# Written by tests/lab.py. Loaded after every other strongswan.d file, so these settings win.
charon {{
    # Level 2 for the subsystems whose messages tests grep for (auth failures, TS, routes).
    filelog {{
        lab {{
            path = "{log_path}"
            default = 1
            ike = 2
            cfg = 2
            net = 2
            knl = 2
            flush_line = yes
            ike_name = yes
            time_format = %H:%M:%S
            time_add_ms = yes
        }}
    }}
    plugins {{
        # No ESP in this kernel: libipsec does ESP in userspace over a TUN device. At equal priority
        # charon's built-in plugin order puts kernel-libipsec before kernel-netlink, so it becomes
        # the IPsec backend while kernel-netlink still does addresses and routes.
        kernel-libipsec {{
            load = yes
        }}
        # It would rewrite /etc/resolv.conf; the mount namespace already hides the host's, belt and braces.
        resolve {{
            load = no
        }}
    }}
}}
"""


def _logical(path: str) -> Path:
    """Map an absolute path as charon sees it to its place relative to the peer directory."""
    if not path.startswith("/"):
        raise ValueError(f"not an absolute path: {path}")
    if not any(path == bind or path.startswith(bind + "/") for bind in BIND_PATHS):
        raise ValueError(f"{path} is not inside the peer's mounts ({', '.join(BIND_PATHS)})")
    return Path(path.lstrip("/"))


def prepare_peer_etc(
    dest: Path,
    root: Path | None = None,
    extra_files: Mapping[str, bytes | str] | None = None,
    *,
    log_path: Path | None = None,
) -> Path:
    """Build a peer directory ``dest`` whose tree is what charon will see under ``/``.

    Layered, later wins: the host's strongswan.conf, strongswan.d and swanctl skeleton; then a product
    tree ``root`` (what ``--root DIR`` wrote: etc/swanctl, etc/strongswan.d, etc/ipsec.*, var/log);
    then ``extra_files`` (absolute paths as charon sees them, e.g. ``/etc/swanctl/swanctl.conf``);
    then the lab snippet. Returns ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    etc = dest / "etc"
    etc.mkdir(exist_ok=True)
    log_path = log_path or dest / "charon.log"
    for bad in (Path("/run"), Path("/var/log"), Path("/etc")):
        # Those paths are shadowed inside the mount namespace: charon could not reach its log there.
        if log_path.is_relative_to(bad):
            raise ValueError(f"log path {log_path} would be hidden by the peer's mounts")

    shutil.copy2("/etc/strongswan.conf", etc / "strongswan.conf")
    shutil.copytree("/etc/strongswan.d", etc / "strongswan.d", symlinks=True, dirs_exist_ok=True)
    # Only the skeleton: the host's swanctl tree is empty directories plus "include conf.d/*.conf".
    shutil.copytree("/etc/swanctl", etc / "swanctl", symlinks=True, dirs_exist_ok=True)
    # Legacy layout placeholders, so the stroke plugin reads these instead of the host's.
    (etc / "ipsec.conf").write_text("# lab placeholder\n")
    (etc / "ipsec.secrets").write_text("# lab placeholder\n")
    for sub in IPSEC_D_SUBDIRS:
        (etc / "ipsec.d" / sub).mkdir(parents=True, exist_ok=True)
    (dest / "var" / "log").mkdir(parents=True, exist_ok=True)

    if root is not None:
        for rel in ("etc/strongswan.conf", "etc/ipsec.conf", "etc/ipsec.secrets"):
            if (root / rel).is_file():
                shutil.copy2(root / rel, dest / rel)
        for rel in ("etc/strongswan.d", "etc/swanctl", "etc/ipsec.d", "var/log"):
            if (root / rel).is_dir():
                shutil.copytree(root / rel, dest / rel, symlinks=True, dirs_exist_ok=True)

    for logical, content in (extra_files or {}).items():
        target = dest / _logical(logical)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
        if "/private/" in logical:
            target.chmod(0o600)

    # A private, empty resolv.conf: whatever charon (or a test) does to it stays in the peer dir.
    if not (etc / "resolv.conf").exists():
        (etc / "resolv.conf").write_text("")
    (etc / "strongswan.d" / LAB_SNIPPET_NAME).write_text(lab_snippet(log_path))
    return dest


# ---------------------------------------------------------------------------------------------------
# processes and namespaces


def _sh(argv: list[str], *, timeout: float = 30.0,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)


def _pid_start_time(pid: int) -> str | None:
    """The kernel's start time of a pid, to tell a live owner from a recycled pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _netns_pids(ns: str) -> list[int]:
    out = _sh(["ip", "netns", "pids", ns])
    return [int(p) for p in out.stdout.split()] if out.returncode == 0 else []


def _kill_netns(ns: str) -> None:
    """Kill whatever still runs in a lab namespace (all started by a lab), then delete the namespace."""
    for _ in range(50):
        pids = _netns_pids(ns)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    _sh(["ip", "netns", "del", ns])


def _list_lab_netns() -> list[str]:
    out = _sh(["ip", "netns", "list"])
    # Lines look like "sw-ab12cd-server (id: 3)".
    return [line.split()[0] for line in out.stdout.splitlines() if line.startswith(NS_PREFIX)]


def _owner_alive(token: str) -> bool:
    try:
        marker = json.loads((STATE_DIR / f"{token}.json").read_text())
    except (OSError, ValueError):
        return False
    return _pid_start_time(int(marker["pid"])) == marker["start"]


def cleanup_stale() -> list[str]:
    """Remove namespaces and markers of labs whose owning process is gone. Returns the removed names."""
    removed = []
    for ns in _list_lab_netns():
        token = ns[len(NS_PREFIX):].split("-", 1)[0]
        if token.startswith("probe"):
            alive = token[5:].isdigit() and Path(f"/proc/{token[5:]}").exists()
        else:
            alive = _owner_alive(token)
        if not alive:
            _kill_netns(ns)
            removed.append(ns)
    if STATE_DIR.is_dir():
        for marker in STATE_DIR.glob("*.json"):
            if not _owner_alive(marker.stem):
                marker.unlink(missing_ok=True)
    return removed


# Log lines left out of failure tails: the harness's own VICI polling, and the per-packet lines that
# net level 2 writes for every ESP-in-UDP packet (libipsec sends ESP through the IKE socket) and that
# Debian's forecast plugin writes for every packet it sees. They would bury the IKE story.
_LOG_NOISE = re.compile(
    r"vici client |forecast intercepted packet|waiting for data on sockets|\d\[NET\] (sending|received) packet: "
)


def _tail(path: Path, lines: int = 40, skip: re.Pattern[str] | None = None) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<{exc}>"
    return "\n".join([line for line in text.splitlines() if skip is None or not skip.search(line)][-lines:])


def _decode(value: Any) -> Any:
    """VICI answers are OrderedDicts of bytes; tests want plain dicts of str."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, Mapping):
        return {_decode(k): _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class Node:
    """One network namespace of the lab."""

    def __init__(self, lab: Lab, name: str, netns: str) -> None:
        self.lab = lab
        self.name = name
        self.netns = netns

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} netns={self.netns}>"

    @property
    def ip(self) -> str:
        return self.lab.topology.ip(self.name)

    def command(self, *argv: str) -> list[str]:
        """argv prefixed so that it runs inside this node."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, *argv: str, check: bool = True, timeout: float = 30.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside this node; with check, a non-zero exit raises LabError with the logs."""
        proc = _sh(self.command(*argv), timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise LabError(
                f"{self.name}: {' '.join(argv)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}\n{self.lab.describe()}"
            )
        return proc

    def popen(self, *argv: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a command inside this node; the lab kills it at teardown if it still runs."""
        return self.lab.track(subprocess.Popen(self.command(*argv), **kwargs))


class Peer(Node):
    """A node that runs its own charon (a ThrowawayCharon), configured from its peer directory."""

    def __init__(self, lab: Lab, name: str, netns: str, directory: Path) -> None:
        super().__init__(lab, name, netns)
        self.dir = directory
        self.log_path = directory / "charon.log"
        self.stdout_path = directory / "charon.stdout"  # where ThrowawayCharon puts the daemon's output
        self.charon: ThrowawayCharon | None = None
        self._sessions = contextlib.ExitStack()

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = DEFAULT_TIMEOUT, daemon: Sequence[str] | None = None) -> None:
        """Start charon and wait until its VICI socket answers.

        ``daemon`` may name another foreground command that ends up serving VICI, e.g.
        ``("/usr/lib/ipsec/starter", "--nofork")`` for the legacy ipsec.conf layout.
        """
        if self.running:
            raise LabError(f"{self.name}: charon already running")
        self.charon = ThrowawayCharon(self.dir, binds_under(self.dir, BIND_PATHS), netns=self.netns, daemon=daemon)
        try:
            self.charon.start(timeout)
        except CharonError as exc:
            raise LabError(f"{self.name}: {exc}\n{self.lab.describe()}") from None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop charon: SIGTERM (it says goodbye to its peers), SIGKILL if it dawdles."""
        self._sessions.close()
        if self.charon is not None:
            self.charon.stop(timeout)
        self.charon = None

    @property
    def running(self) -> bool:
        return self.charon is not None and self.charon.running

    @property
    def pid(self) -> int:
        if self.charon is None or not self.charon.running:
            raise LabError(f"{self.name}: charon is not running\n{self.lab.describe()}")
        return self.charon.pid

    # -- commands inside the peer -------------------------------------------------------------------

    def command(self, *argv: str) -> list[str]:
        """argv prefixed so that it sees this peer's network *and* charon's mounts (its /etc, /run)."""
        if self.charon is None or not self.charon.running:
            return super().command(*argv)
        return self.charon.command(*argv)

    def swanctl(self, *args: str, check: bool = True,
                timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run swanctl against this peer's charon."""
        if not self.running:
            raise LabError(f"{self.name}: swanctl {' '.join(args)} needs a running charon")
        return self.run("swanctl", *args, check=check, timeout=timeout)

    @property
    def vici_path(self) -> str:
        """The charon's socket as the host sees it: through the process's root, its /run is the tmpfs."""
        if self.charon is None:
            raise LabError(f"{self.name}: charon was never started")
        return self.charon.vici_path

    def vici(self, timeout: float = 10.0) -> Any:
        """A vici.Session connected to this peer's charon (closed when the peer stops)."""
        return self._sessions.enter_context(vici_session(self.vici_path, timeout))

    def list_sas(self) -> list[dict[str, Any]]:
        """``list-sas`` as plain data: one ``{ike_name: {...}}`` dict per IKE_SA."""
        with vici_session(self.vici_path, 10.0) as session:
            return [_decode(sa) for sa in session.list_sas()]

    def child_sas(self) -> list[dict[str, Any]]:
        """Every CHILD_SA of every IKE_SA, each with its IKE_SA's dict under ``"ike"``."""
        children = []
        for entry in self.list_sas():
            for ike in entry.values():
                for child in ike.get("child-sas", {}).values():
                    children.append({**child, "ike": ike})
        return children

    def esp_bytes(self) -> tuple[int, int]:
        """(bytes in, bytes out) summed over all CHILD_SAs: the userspace ESP counters."""
        children = self.child_sas()
        return (sum(int(c.get("bytes-in", 0)) for c in children),
                sum(int(c.get("bytes-out", 0)) for c in children))

    def virtual_ips(self) -> list[str]:
        """The virtual IPs charon got from its peers (the client side of a road-warrior)."""
        return [vip for sa in self.list_sas() for ike in sa.values() for vip in ike.get("local-vips", [])]

    # -- waiting and logs ----------------------------------------------------------------------------

    def wait_child_installed(self, child: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait until a CHILD_SA of that config name is INSTALLED; returns its list-sas entry."""
        found: list[dict[str, Any]] = []

        def installed() -> bool:
            found[:] = [c for c in self.child_sas()
                        if c.get("name") == child and c.get("state") == "INSTALLED"]
            return bool(found)

        self.lab.wait_for(installed, timeout, f"{self.name}: CHILD_SA {child!r} INSTALLED")
        return found[0]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Wait until the charon log contains ``needle``; returns the first matching line."""
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in self.log().splitlines() if needle in line]
            return bool(found)

        self.lab.wait_for(seen, timeout, f"{self.name}: {needle!r} in charon log")
        return found[0]

    def describe(self, lines: int = 40) -> str:
        state = "running" if self.running else "stopped"
        text = (f"--- {self.name} charon ({state}), last {lines} lines of {self.log_path} "
                f"(VICI polling and per-packet lines left out):\n{_tail(self.log_path, lines, _LOG_NOISE)}")
        stdout = _tail(self.stdout_path, 10).strip()
        if stdout and not stdout.startswith("<"):
            text += f"\n--- {self.name} charon stdout/stderr:\n{stdout}"
        return text


class Lab:
    """The namespaces of a topology, the peers in them, and their guaranteed teardown.

    Use as a context manager (or through :func:`open_lab`): leaving it stops every charon, kills
    anything else still running in the namespaces and deletes them, even when the test failed.
    """

    def __init__(self, workdir: Path, topology: Topology | None = None) -> None:
        self.workdir = workdir
        self.topology = topology or Topology.road_warrior()
        self.token = secrets.token_hex(3)
        self.nodes: dict[str, Node] = {}
        self._marker = STATE_DIR / f"{self.token}.json"
        self._procs: list[subprocess.Popen[bytes]] = []

    def netns_name(self, node: str) -> str:
        return f"{NS_PREFIX}{self.token}-{node}"

    # -- setup / teardown --------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        try:
            self.setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def setup(self) -> None:
        cleanup_stale()
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        # The marker goes first, so a concurrent cleanup_stale never sees our namespaces ownerless.
        self._marker.write_text(json.dumps({"pid": os.getpid(), "start": _pid_start_time(os.getpid())}))
        topo = self.topology
        for name in topo.nodes:
            ns = self.netns_name(name)
            self._ip("netns", "add", ns)
            self.nodes[name] = Node(self, name, ns)
            sysctls = [] if topo.ipv6 else ["ipv6/conf/all/disable_ipv6", "ipv6/conf/default/disable_ipv6"]
            if name in topo.routers:
                sysctls.append("ipv4/ip_forward")
            if sysctls:
                # Per-namespace sysctls, set before the veths exist so they inherit "default".
                self.nodes[name].run("sh", "-c", "; ".join(f"echo 1 > /proc/sys/net/{k}" for k in sysctls))
            self._ip("-n", ns, "link", "set", "lo", "up")
        for a, b in topo.links:
            # Created straight inside the namespaces, so the names never meet in the host namespace.
            self._ip("link", "add", a.dev, "netns", self.netns_name(a.node), "type", "veth",
                     "peer", "name", b.dev, "netns", self.netns_name(b.node))
            for end in (a, b):
                self._ip("-n", self.netns_name(end.node), "addr", "add", end.cidr, "dev", end.dev)
                self._ip("-n", self.netns_name(end.node), "link", "set", end.dev, "up")
        for extra in topo.extra_addrs:
            self._ip("-n", self.netns_name(extra.node), "addr", "add", extra.cidr, "dev", extra.dev)
        for route in topo.routes:
            self._ip("-n", self.netns_name(route.node), "route", "add", route.dst, "via", route.via)

    def _ip(self, *args: str) -> None:
        proc = _sh(["ip", *args])
        if proc.returncode != 0:
            raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")

    def close(self) -> None:
        """Tear everything down; every step runs even if an earlier one failed."""
        errors: list[str] = []
        for node in self.nodes.values():
            if isinstance(node, Peer):
                try:
                    node.stop()
                except Exception as exc:  # keep going: the namespaces must go regardless
                    errors.append(f"{node.name}: stop: {exc!r}")
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(5)
        for node in self.nodes.values():
            try:
                _kill_netns(node.netns)
            except Exception as exc:
                errors.append(f"{node.netns}: {exc!r}")
        self.nodes.clear()
        self._marker.unlink(missing_ok=True)
        leftover = [ns for ns in _list_lab_netns() if ns.startswith(self.netns_name(""))]
        if leftover:
            errors.append(f"namespaces left behind: {leftover}")
        if errors:
            print("lab teardown problems:\n  " + "\n  ".join(errors), file=sys.stderr)

    # -- nodes ---------------------------------------------------------------------------------------

    def node(self, name: str) -> Node:
        return self.nodes[name]

    def peer(self, name: str) -> Peer:
        node = self.nodes[name]
        if not isinstance(node, Peer):
            raise LabError(f"{name} is not a peer; call add_peer first")
        return node

    @property
    def peers(self) -> list[Peer]:
        return [n for n in self.nodes.values() if isinstance(n, Peer)]

    def add_peer(self, name: str, root: Path | None = None,
                 extra_files: Mapping[str, bytes | str] | None = None) -> Peer:
        """Turn a topology node into a charon peer, with its directory built by prepare_peer_etc."""
        node = self.nodes.get(name)
        if node is None:
            raise LabError(f"no node {name!r} in the topology ({', '.join(self.nodes)})")
        if isinstance(node, Peer):
            raise LabError(f"{name} is already a peer")
        directory = self.workdir / name
        prepare_peer_etc(directory, root, extra_files)
        peer = Peer(self, name, node.netns, directory)
        self.nodes[name] = peer
        return peer

    def track(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """Have teardown kill a helper process if it outlives its test."""
        self._procs.append(proc)
        return proc

    # -- waiting ---------------------------------------------------------------------------------------

    def describe(self) -> str:
        return "\n".join(peer.describe() for peer in self.peers)

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str,
                 interval: float = 0.05) -> None:
        """Poll ``condition`` until true; on timeout fail with what was awaited and every peer's log tail."""
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return
            if time.monotonic() >= deadline:
                raise LabError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.describe()}")
            time.sleep(interval)


@contextlib.contextmanager
def open_lab(workdir: Path, topology: Topology | None = None) -> Iterator[Lab]:
    """Skip (or on CI fail) when the lab can't run here, else a set-up Lab that is always torn down."""
    require_lab()
    with Lab(workdir, topology) as lab:
        yield lab


# ---------------------------------------------------------------------------------------------------
# traffic


def tcp_exchange(listener: Node, listen_addr: str, connector: Node, *, source_addr: str | None = None,
                 size: int = 65536, port: int | None = None, timeout: float = 15.0) -> str:
    """Send ``size`` random bytes each way over one TCP connection and check both arrived intact.

    Returns the connector's address as the listener saw it (tests compare it with the address the
    tunnel should have carried, e.g. the client's virtual IP).
    """
    try:
        return tcpprobe.exchange(listener.command(), listen_addr, connector.command(), source_addr=source_addr,
                                 size=size, port=port or 0, timeout=timeout)
    except tcpprobe.TcpProbeError as exc:
        raise LabError(f"{connector.name} -> {listener.name}: {exc}\n{listener.lab.describe()}") from None


@dataclass
class TunnelTraffic:
    """What :func:`assert_tunnel_carries_tcp` measured."""

    client_vip: str
    server_addr: str
    size: int
    esp_delta: dict[str, tuple[int, int]] = field(default_factory=dict)


def assert_tunnel_carries_tcp(client: Peer, server: Peer, *, server_addr: str = SERVER_LAN_ADDR,
                              client_vip: str | None = None, size: int = 65536) -> TunnelTraffic:
    """Prove an established tunnel carries TCP both ways, and that ESP (not the plain veth) carried it.

    Two connections, each moving ``size`` random bytes in both directions: client (from its virtual
    IP) to ``server_addr`` (an address behind the server, e.g. its LAN), and server (from
    ``server_addr``) back to the client's virtual IP. Each listener must see the other end's tunnel
    address as source, and both peers' CHILD_SA byte counters must grow by at least the bytes moved.
    """
    if client_vip is None:
        vips = client.virtual_ips()
        if not vips:
            raise LabError(f"{client.name} has no virtual IP\n{client.lab.describe()}")
        client_vip = vips[0]
    peers = (client, server)
    before = {p.name: p.esp_bytes() for p in peers}

    seen = tcp_exchange(server, server_addr, client, source_addr=client_vip, size=size)
    if seen != client_vip:
        raise LabError(f"{server.name} saw the connection from {seen}, not from the virtual IP {client_vip}")
    seen = tcp_exchange(client, client_vip, server, source_addr=server_addr, size=size)
    if seen != server_addr:
        raise LabError(f"{client.name} saw the connection from {seen}, not from {server_addr}")

    result = TunnelTraffic(client_vip=client_vip, server_addr=server_addr, size=size)
    for peer in peers:
        after = peer.esp_bytes()
        result.esp_delta[peer.name] = (after[0] - before[peer.name][0], after[1] - before[peer.name][1])
        # Each direction of each peer's SA carried both payloads of that direction (2 * size).
        if min(result.esp_delta[peer.name]) < 2 * size:
            raise LabError(
                f"{peer.name}: ESP counters grew by {result.esp_delta[peer.name]} (in, out), less than the "
                f"{2 * size} payload bytes each way: the data did not all cross the tunnel\n"
                f"{peer.lab.describe()}"
            )
    return result

