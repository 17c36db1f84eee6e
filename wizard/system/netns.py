"""Throwaway network namespaces for the self-test, and the /etc its client charon reads.

The client runs in a new network namespace joined to the server by a veth pair (:class:`Link`); its
charon (a :class:`wizard.system.charon.ThrowawayCharon`) sees :data:`BINDS` from the directory that
:func:`prepare_etc` fills: it reads nothing of the server's configuration and leaves nothing behind.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BINDS = ("/etc/strongswan.conf", "/etc/strongswan.d", "/etc/swanctl", "/etc/resolv.conf", "/var/log")


class NetnsError(RuntimeError):
    pass


def run(argv: list[str], netns: str | None = None, check: bool = True, timeout: float = 30.0,
        ) -> subprocess.CompletedProcess[str]:
    full = ["ip", "netns", "exec", netns, *argv] if netns else argv
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()}")
    return proc


@dataclass
class Link:
    """A namespace joined to another (or to the host) by a veth pair with a /30 between them."""

    netns: str
    peer_netns: str | None
    local_ip: str
    peer_ip: str
    peer_dev: str

    @classmethod
    def create(cls, peer_netns: str | None, local_ip: str, peer_ip: str, prefix: int = 30) -> Link:
        token = secrets.token_hex(3)
        netns, peer_dev, dev = f"swst-{token}", f"swst{token}s", f"swst{token}c"
        run(["ip", "netns", "add", netns])
        try:
            run(["ip", "link", "add", peer_dev, "type", "veth", "peer", "name", dev], netns=peer_netns)
            run(["ip", "link", "set", dev, "netns", netns], netns=peer_netns)
            run(["ip", "addr", "add", f"{peer_ip}/{prefix}", "dev", peer_dev], netns=peer_netns)
            run(["ip", "link", "set", peer_dev, "up"], netns=peer_netns)
            run(["ip", "addr", "add", f"{local_ip}/{prefix}", "dev", dev], netns=netns)
            run(["ip", "link", "set", dev, "up"], netns=netns)
            run(["ip", "link", "set", "lo", "up"], netns=netns)
        except NetnsError:
            run(["ip", "netns", "del", netns], check=False)
            run(["ip", "link", "del", peer_dev], netns=peer_netns, check=False)
            raise
        return cls(netns, peer_netns, local_ip, peer_ip, peer_dev)

    def close(self) -> None:
        # Deleting the namespace destroys its veth end, and with it the peer's end.
        run(["ip", "netns", "del", self.netns], check=False)
        run(["ip", "link", "del", self.peer_dev], netns=self.peer_netns, check=False)


def prepare_etc(workdir: Path, swanctl_files: dict[str, bytes], settings: str) -> None:
    """The client's own /etc: the host's strongswan.conf and plugin settings (not Swan Wizard's server
    settings: its filelog would write into the server's log), plus ``settings`` and ``swanctl_files``."""
    etc = workdir / "etc"
    (etc / "strongswan.d").mkdir(parents=True, exist_ok=True)
    host_conf = Path("/etc/strongswan.conf")
    (etc / "strongswan.conf").write_text(host_conf.read_text() if host_conf.is_file() else
                                         "charon {\n load_modular = yes\n plugins {\n"
                                         "  include strongswan.d/charon/*.conf\n }\n}\ninclude strongswan.d/*.conf\n")
    host_d = Path("/etc/strongswan.d")
    if host_d.is_dir():
        shutil.copytree(host_d, etc / "strongswan.d", dirs_exist_ok=True,
                        ignore=lambda _d, names: [n for n in names if n.startswith("swan-wizard")])
    (etc / "strongswan.d" / "zz-selftest.conf").write_text(settings)
    for sub in ("conf.d", "x509", "x509ca", "private", "pkcs12"):
        (etc / "swanctl" / sub).mkdir(parents=True, exist_ok=True)
        (etc / "swanctl" / sub).chmod(0o700)
    (etc / "swanctl" / "swanctl.conf").write_text("include conf.d/*.conf\n")
    for rel, data in swanctl_files.items():
        target = etc / "swanctl" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o600)
    (etc / "resolv.conf").write_text("")
    (workdir / "var/log").mkdir(parents=True, exist_ok=True)
