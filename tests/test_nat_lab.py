"""The Networking section for real: client, server and an "internet" host in three namespaces.

The client's tunnelled traffic must reach the internet host through the server, which the internet
host sees as the source (NAT), with the sysctls and firewall rules exactly as the plan wrote them into
a root, applied inside the server's namespace. Without the rules the same traffic does not get through.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from applied import apply_cli
from lab import Addr, LabError, Route, Topology, open_lab, tcp_exchange

pytestmark = pytest.mark.lab
SERVER_PUBLIC = "198.18.1.1"  # what the client dials
SERVER_WAN = "198.18.0.1"  # the server's side towards the internet host
INTERNET = "198.18.0.254"
POOL = "198.19.128.0/24"

TOPOLOGY = Topology(
    links=(
        (Addr("client", "eth0", "198.18.1.2/24"), Addr("server", "eth0", f"{SERVER_PUBLIC}/24")),
        (Addr("server", "eth1", f"{SERVER_WAN}/24"), Addr("internet", "eth0", f"{INTERNET}/24")),
    ),
    # The internet host knows no route back to the pool (nor to the client's link): only NAT gets replies home.
    routes=(Route("server", "default", INTERNET),),
)


def apply_into(tmp_path: Path, backend: str) -> Path:
    return apply_cli(tmp_path, f"""\
version: 1
server: {{address: {SERVER_PUBLIC}}}
ca: {{key: ecdsa-p256}}
host: {{key: rsa-2048}}
clients: [{{name: roadwarrior, key: ecdsa-p256}}]
pool: {{addresses: {POOL}, dns: [{INTERNET}]}}
networking: {{firewall: {backend}, nat: true, wan_interface: eth1, mss_clamp: true}}
""")[1]


def client_files(root: Path) -> dict[str, bytes | str]:
    folder = root / "etc/swan-wizard/clients/roadwarrior"
    conf = f"""\
connections {{
    home {{
        version = 2
        remote_addrs = {SERVER_PUBLIC}
        vips = 0.0.0.0
        local {{
            auth = pubkey
            certs = client.pem
            id = roadwarrior
        }}
        remote {{
            auth = pubkey
            id = {SERVER_PUBLIC}
        }}
        children {{
            home {{
                remote_ts = 0.0.0.0/0
            }}
        }}
    }}
}}
"""
    return {"/etc/swanctl/swanctl.conf": conf,
            "/etc/swanctl/x509/client.pem": (folder / "cert.pem").read_bytes(),
            "/etc/swanctl/private/client.key": (folder / "key.pem").read_bytes(),
            "/etc/swanctl/x509ca/ca.pem": (folder / "ca.pem").read_bytes()}


def load_rules(server, root: Path, backend: str) -> None:  # type: ignore[no-untyped-def]
    if backend == "nftables":
        rules = root / "etc/swan-wizard/firewall/swan-wizard.nft"
        server.run("nft", "-c", "-f", str(rules))
        server.run("nft", "-f", str(rules))
    else:
        server.run("iptables-restore", "--test", "--noflush", str(root / "etc/swan-wizard/firewall/iptables.rules"))
        server.run("sh", str(root / "etc/swan-wizard/firewall/iptables.sh"))


def rules_only(listing: str) -> str:
    """A ruleset listing without comments and counters, which change between two listings."""
    return "\n".join(line for line in listing.splitlines() if not line.startswith(("#", ":")))


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_tunnelled_traffic_is_forwarded_and_masqueraded(tmp_path: Path, backend: str) -> None:
    root = apply_into(tmp_path, backend)
    with open_lab(tmp_path / "lab", TOPOLOGY) as lab:
        server = lab.add_peer("server", root=root)
        internet = lab.node("internet")
        server.start()
        server.swanctl("--load-all", "--noprompt")
        client = lab.add_peer("client", extra_files=client_files(root))
        client.start()
        client.swanctl("--load-all", "--noprompt")
        client.swanctl("--initiate", "--child", "home", "--timeout", "20")
        client.wait_child_installed("home")
        vip = client.virtual_ips()[0]

        # The sysctls exactly as the plan wrote them (forwarding is per network namespace).
        server.run("sysctl", "-p", str(root / "etc/sysctl.d/60-swan-wizard.conf"))
        assert server.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"

        # Forwarding alone is not enough: the internet host cannot answer the pool's addresses.
        with pytest.raises(LabError):
            tcp_exchange(internet, INTERNET, client, source_addr=vip, size=4096, timeout=4)

        load_rules(server, root, backend)
        seen = tcp_exchange(internet, INTERNET, client, source_addr=vip, size=65536, timeout=15)
        assert seen == SERVER_WAN, f"the internet host saw {seen}, not the server's WAN address"

        # Idempotent: loading the rules again adds nothing.
        before = server.run(*(("nft", "list", "ruleset") if backend == "nftables" else ("iptables-save",))).stdout
        load_rules(server, root, backend)
        after = server.run(*(("nft", "list", "ruleset") if backend == "nftables" else ("iptables-save",))).stdout
        assert rules_only(before) == rules_only(after)
