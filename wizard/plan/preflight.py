"""What the wizard's welcome screen checks before anything is asked: who runs it, what is installed,
what already exists under the root, and which address clients will probably dial.

Every check only reads. Installing strongSwan is offered as the exact package-manager command
(:func:`install_command`); the UI runs it only after the admin confirmed it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.plan import session
from wizard.system.charon import strongswan_version

# What a swanctl-flavoured strongSwan needs on each family (Debian's list matches packaging/bootstrap).
_PACKAGES = {
    "apt": ("apt-get", "install", "-y", "strongswan-swanctl", "charon-systemd", "strongswan-pki",
            "libcharon-extra-plugins", "libcharon-extauth-plugins", "libstrongswan-extra-plugins"),
    "pacman": ("pacman", "-S", "--needed", "--noconfirm", "strongswan"),
    "dnf": ("dnf", "install", "-y", "strongswan"),
}
PROC_NET_ROUTE = Path("/proc/net/route")


@dataclass(frozen=True)
class Detected:
    """The address clients probably dial: the default route's interface and its addresses."""

    interface: str | None = None
    addresses: tuple[str, ...] = ()
    fqdn: str | None = None

    @property
    def address(self) -> str | None:
        return self.addresses[0] if self.addresses else None


@dataclass(frozen=True)
class Existing:
    """What a previous run left under the root."""

    answers_file: Path | None = None  # answers the wizard saved: "modify" starts from them
    session: session.SessionInfo | None = None  # an interrupted wizard run: "resume"
    material: tuple[str, ...] = ()  # Swan Wizard's CA / configuration files present: "start over" backs them up
    interrupted_apply: bool = False  # an apply journal left behind (a run died mid-write)

    @property
    def anything(self) -> bool:
        return bool(self.answers_file or self.session or self.material)


@dataclass(frozen=True)
class Report:
    root: Path
    live: bool
    is_root: bool
    strongswan_version: str | None
    swanctl: bool
    systemd: bool
    package_manager: str | None
    existing: Existing
    detected: Detected = field(default_factory=Detected)
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def install_command(self) -> tuple[str, ...] | None:
        return install_command(self.package_manager)

    @property
    def strongswan_ok(self) -> bool:
        return self.strongswan_version is not None and self.swanctl


def install_command(manager: str | None) -> tuple[str, ...] | None:
    return _PACKAGES.get(manager or "")


def package_manager(which: Callable[[str], str | None] = shutil.which) -> str | None:
    for name, tool in (("apt", "apt-get"), ("pacman", "pacman"), ("dnf", "dnf")):
        if which(tool):
            return name
    return None


def default_route_interface(route_table: str | None = None) -> str | None:
    """The interface of the IPv4 default route with the lowest metric, from /proc/net/route."""
    if route_table is None:
        try:
            route_table = PROC_NET_ROUTE.read_text()
        except OSError:
            return None
    best: tuple[int, str] | None = None
    for line in route_table.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8 or cols[1] != "00000000" or cols[7] != "00000000":
            continue
        flags = int(cols[3], 16)
        if not flags & 0x1:  # RTF_UP
            continue
        metric = int(cols[6])
        if best is None or metric < best[0]:
            best = (metric, cols[0])
    return best[1] if best else None


def detect_address(route_table: str | None = None) -> Detected:
    import psutil  # lazy: the welcome screen paints before this runs

    interface = default_route_interface(route_table)
    addresses: list[str] = []
    if interface is not None:
        for snic in psutil.net_if_addrs().get(interface, []):
            if snic.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            text = snic.address.split("%", 1)[0]
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if ip.is_loopback or ip.is_link_local:
                continue
            addresses.append(str(ip))
    # IPv4 first: most clients dial the server's IPv4 address.
    addresses.sort(key=lambda a: ":" in a)
    fqdn = socket.getfqdn()
    return Detected(interface, tuple(addresses), fqdn if "." in fqdn and fqdn != "localhost" else None)


# Files whose presence means a previous Swan Wizard apply ran under this root.
_MATERIAL = (paths.CA_CERT, paths.CA_KEY, paths.SWANCTL_CONF, paths.STRONGSWAN_SETTINGS,
             paths.SWANCTL_X509 / paths.HOST_CERT_NAME, paths.IPSEC_CERTS / paths.HOST_CERT_NAME)


def existing(root: Root) -> Existing:
    answers = root(session.SAVED_ANSWERS)
    return Existing(
        answers_file=answers if answers.is_file() else None,
        session=session.info(root),
        material=tuple(str(p) for p in _MATERIAL if root(p).is_file()),
        interrupted_apply=root(paths.JOURNAL_FILE).is_file(),
    )


def run(root: Root) -> Report:
    """Every check; takes a few milliseconds (one short ``charon --version``)."""
    return Report(
        root=root.path,
        live=root.is_live,
        is_root=os.geteuid() == 0,
        strongswan_version=strongswan_version(),
        swanctl=shutil.which("swanctl") is not None,
        systemd=Path("/run/systemd/system").is_dir(),
        package_manager=package_manager(),
        existing=existing(root),
        detected=detect_address(),
    )
