"""Facts about this host's network, gathered in one place so the checks can stay pure functions.

Everything here reads the running system (psutil and the kernel's own files under /proc and /sys);
``netchecks`` judges the facts. Tests build ``NetFacts`` by hand to cover every failure.

A fact that could not be read is :class:`Unknown`, with the reason, never the harmless default: a
refused socket list is not "no sockets", a firewall command that timed out is not "inactive".
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from wizard.system.charon import strongswan_version

IKE_PORTS = (500, 4500)
SYSCTLS = ("net.ipv4.ip_forward", "net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.all.send_redirects")


@dataclass(frozen=True)
class Unknown:
    """A fact that could not be read, and why. It has no truth value: a caller must handle it first."""

    reason: str

    def __bool__(self) -> bool:
        raise TypeError(f"an unknown fact is neither true nor false ({self.reason})")


@dataclass(frozen=True)
class Interface:
    name: str
    addresses: tuple[str, ...]  # "198.18.0.1/24" style, IPv4 and IPv6
    up: bool


@dataclass(frozen=True)
class PortUser:
    port: int
    address: str
    pid: int | None
    process: str | None


@dataclass(frozen=True)
class FirewallBackend:
    name: str  # nftables | iptables | firewalld | ufw
    present: bool
    active: bool | Unknown
    detail: str = ""


@dataclass(frozen=True)
class NetFacts:
    interfaces: tuple[Interface, ...] = ()
    default_interface: str | None = None
    default_gateway: str | None = None
    port_users: tuple[PortUser, ...] | Unknown = ()
    sysctls: dict[str, str] = field(default_factory=dict)
    xfrm: bool = False
    esp: bool = False
    libipsec: bool = False
    tun: bool = False
    firewalls: tuple[FirewallBackend, ...] = ()
    ipv6_default_route: bool = False
    resolved: dict[str, tuple[str, ...]] = field(default_factory=dict)  # server names -> addresses
    strongswan: str | Unknown = Unknown("the strongSwan version was not read")  # "5.9.8"

    def addresses(self) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
        return [ipaddress.ip_interface(a) for i in self.interfaces for a in i.addresses]

    def backend(self, name: str) -> FirewallBackend | None:
        return next((f for f in self.firewalls if f.name == name), None)


def _interfaces() -> tuple[Interface, ...]:
    stats = psutil.net_if_stats()
    out = []
    for name, addrs in sorted(psutil.net_if_addrs().items()):
        found = []
        for a in addrs:
            if a.family not in (socket.AF_INET, socket.AF_INET6) or not a.netmask:
                continue
            host = a.address.split("%")[0]
            try:
                # IPv6 netmasks come as ffff:ffff::, which ip_interface only takes as a prefix length
                prefix = bin(int(ipaddress.ip_address(a.netmask))).count("1")
                found.append(str(ipaddress.ip_interface(f"{host}/{prefix}")))
            except ValueError:
                continue
        out.append(Interface(name, tuple(found), bool(stats.get(name) and stats[name].isup)))
    return tuple(out)


def parse_proc_route(text: str) -> tuple[str | None, str | None]:
    """The default route's interface and gateway from /proc/net/route (lowest metric wins)."""
    best: tuple[int, str, str] | None = None
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8 or cols[1] != "00000000" or cols[7] != "00000000":
            continue
        gateway = str(ipaddress.IPv4Address(bytes.fromhex(cols[2])[::-1]))
        metric = int(cols[6])
        if best is None or metric < best[0]:
            best = (metric, cols[0], gateway)
    return (best[1], best[2]) if best else (None, None)


def _ipv6_default(text: str) -> bool:
    """A real IPv6 default route (::/0 not through lo, where the kernel keeps its unreachable entry)."""
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 10 and cols[0] == "0" * 32 and cols[1] == "00" and cols[9] != "lo":
            return True
    return False


def _port_users() -> tuple[PortUser, ...] | Unknown:
    users = []
    try:
        conns = psutil.net_connections(kind="udp")
    except (psutil.AccessDenied, PermissionError):
        return Unknown("the list of UDP sockets was refused (run as root)")
    except (psutil.Error, OSError) as exc:
        return Unknown(f"the list of UDP sockets could not be read: {exc}")
    for c in conns:
        if c.laddr and c.laddr.port in IKE_PORTS:
            name = None
            if c.pid:
                try:
                    name = psutil.Process(c.pid).name()
                except psutil.Error:
                    name = None
            users.append(PortUser(c.laddr.port, c.laddr.ip, c.pid, name))
    return tuple(sorted(users, key=lambda u: (u.port, u.address)))


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _read_fact(path: str) -> str | Unknown:
    """A file's text; "" when it does not exist (nothing configured), Unknown when it exists but cannot be read."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        return Unknown(f"{path} could not be read: {getattr(exc, 'strerror', None) or exc}")


def _sysctls() -> dict[str, str]:
    out = {}
    for key in SYSCTLS:
        value = _read("/proc/sys/" + key.replace(".", "/")).strip()
        if value:
            out[key] = value
    return out


def kernel_has_esp() -> bool:
    """ESP in the kernel: a loaded or built-in esp4 module (the XFRM core alone does not carry ESP)."""
    if Path("/sys/module/esp4").exists():
        return True
    release = _read("/proc/sys/kernel/osrelease").strip()
    for listing in (f"/lib/modules/{release}/modules.builtin", f"/lib/modules/{release}/modules.dep"):
        if "esp4.ko" in _read(listing):
            return True
    return False


LIBIPSEC_PLUGINS = ("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so",
                    "/usr/lib/strongswan/plugins/libstrongswan-kernel-libipsec.so")


def _run(argv: list[str]) -> tuple[int, str] | Unknown:
    """A command's exit code and output; Unknown when it could not be run to the end (timeout, OSError)."""
    if shutil.which(argv[0]) is None:
        return 127, ""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except subprocess.TimeoutExpired:
        return Unknown(f"`{' '.join(argv)}` did not answer within 10 s")
    except OSError as exc:
        return Unknown(f"`{' '.join(argv)}` could not run: {exc.strerror or exc}")
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def nftables_backend(listed: tuple[int, str] | Unknown, installed: bool) -> FirewallBackend:
    """nftables is active when `nft list tables` lists a table."""
    if isinstance(listed, Unknown):
        return FirewallBackend("nftables", installed, listed, listed.reason)
    rc, text = listed
    return FirewallBackend("nftables", installed, rc == 0 and bool(text.strip()), text.replace("\n", "; "))


def iptables_backend(version: tuple[int, str] | Unknown, rules: tuple[int, str] | Unknown,
                     installed: bool) -> FirewallBackend:
    """iptables is active when `iptables -S` lists a rule beyond the chains' policies."""
    present = version[0] == 0 if not isinstance(version, Unknown) else installed
    detail = version[1] if not isinstance(version, Unknown) else version.reason
    if isinstance(rules, Unknown):
        return FirewallBackend("iptables", present, rules, rules.reason)
    rc_rules, text = rules
    custom = [r for r in text.splitlines() if not r.startswith("-P ")] if rc_rules == 0 else []
    return FirewallBackend("iptables", present, bool(custom), detail)


def ufw_backend(conf: str | Unknown, installed: bool) -> FirewallBackend:
    """ufw is active when its configuration says ENABLED=yes."""
    if isinstance(conf, Unknown):
        return FirewallBackend("ufw", installed, conf, conf.reason)
    return FirewallBackend("ufw", installed, "ENABLED=yes" in conf, "")


def _firewalls() -> tuple[FirewallBackend, ...]:
    out = [nftables_backend(_run(["nft", "list", "tables"]), shutil.which("nft") is not None),
           iptables_backend(_run(["iptables", "-V"]), _run(["iptables", "-S"]), shutil.which("iptables") is not None)]
    procs = {p.info.get("name") for p in psutil.process_iter(["name"])}
    out.append(FirewallBackend("firewalld", shutil.which("firewall-cmd") is not None,
                               "firewalld" in procs, ""))
    out.append(ufw_backend(_read_fact("/etc/ufw/ufw.conf"), shutil.which("ufw") is not None))
    return tuple(out)


def resolve_names(names: list[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_UDP)
        except (OSError, UnicodeError):
            out[name] = ()
            continue
        out[name] = tuple(dict.fromkeys(str(i[4][0]) for i in infos))
    return out


def default_route() -> tuple[str | None, str | None]:
    """This host's IPv4 default route: its interface and gateway."""
    return parse_proc_route(_read("/proc/net/route"))


def _strongswan() -> str | Unknown:
    version = strongswan_version()
    return version if version else Unknown("`charon --version` named no version (is strongswan-charon installed?)")


def gather(names: list[str] | None = None) -> NetFacts:
    """The live system's facts; ``names`` are DNS names to resolve (the server's address)."""
    iface, gateway = default_route()
    return NetFacts(
        interfaces=_interfaces(),
        default_interface=iface,
        default_gateway=gateway,
        port_users=_port_users(),
        sysctls=_sysctls(),
        xfrm=Path("/proc/net/xfrm_stat").exists(),
        esp=kernel_has_esp(),
        libipsec=any(Path(p).exists() for p in LIBIPSEC_PLUGINS),
        tun=Path("/dev/net/tun").exists(),
        firewalls=_firewalls(),
        ipv6_default_route=_ipv6_default(_read("/proc/net/ipv6_route")),
        resolved=resolve_names(names or []),
        strongswan=_strongswan(),
    )
