"""A split tunnel under userspace ESP, to a network behind the server, with real strongSwan peers.

kernel-libipsec before strongSwan 5.9.12 installs a tunnel's route only from an address of the server
inside the tunnel's local traffic selector (``install_route`` in kernel_libipsec_ipsec.c); where the server
has none, the policy install fails and the client is told TS_UNACCEPTABLE. Here the split network
198.19.99.0/24 lies behind a router-less LAN host ("lan", reached over its own veth), so the server holds no
address in it. The test shows, on the applied root and this machine's charon:

- ``swan-wizard check`` in the server's namespace FAILs the split-tunnel check, naming the field;
- the failure happens as the check says (the server's log, the client's TS_UNACCEPTABLE);
- after the fix the check names (an address of that network on the server's lo), the check passes and the
  client reaches the LAN host through the tunnel, both ways, with ESP carrying the bytes.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from applied import REPO, apply_cli
from lab import CLIENT_ADDR, SERVER_ADDR, Addr, Lab, LabError, Node, Route, Topology, open_lab, tcp_exchange
from variants_helpers import POOL, ca_pem, conf, initiate, p12_credentials, road_warrior, start_client, start_server

pytestmark = pytest.mark.lab

SPLIT = "198.19.99.0/24"
LAN_HOST = "198.19.99.10"  # the host the client wants to reach, behind the server
SERVER_IN_SPLIT = "198.19.99.1"  # the unused address the fix gives the server
ALICE = "alice@example.com"
ANSWERS = f"""\
version: 1
server: {{address: {SERVER_ADDR}}}
ca: {{key: ecdsa-p256}}
host: {{key: ecdsa-p256}}
clients: [{{name: {ALICE}, key: ecdsa-p256}}]
variants:
  ikev2-cert: {{local_ts: [{SPLIT}]}}
pool: {{addresses: {POOL}}}
"""


def topology() -> Topology:
    return Topology(
        links=((Addr("server", "eth0", f"{SERVER_ADDR}/24"), Addr("client", "eth0", f"{CLIENT_ADDR}/24")),
               (Addr("server", "eth1", "198.18.2.1/24"), Addr("lan", "eth0", "198.18.2.2/24"))),
        # No dummy interfaces on this kernel: the LAN host's address sits on its lo.
        extra_addrs=(Addr("lan", "lo", f"{LAN_HOST}/32"),),
        routes=(Route("server", SPLIT, "198.18.2.2"), Route("lan", POOL, "198.18.2.1")),
        routers=frozenset({"server"}))


def check(node: Node, answers: Path) -> list[dict[str, Any]]:
    """`swan-wizard check --json` with this node's network as the host's."""
    script = f"cd {shlex.quote(str(REPO))} && exec {shlex.quote(sys.executable)} -m wizard.cli check " \
             f"{shlex.quote(str(answers))} --json"
    proc = node.run("sh", "-c", script, check=False, timeout=60)
    assert proc.stdout.strip(), proc.stderr
    findings: list[dict[str, Any]] = json.loads(proc.stdout)
    return [f for f in findings if f["check"] == "split-tunnel"]


def client_conf(root: Path) -> dict[str, bytes | str]:
    files, secrets = p12_credentials(root, ALICE)
    files["/etc/swanctl/x509ca/ca.pem"] = ca_pem(root)
    files["/etc/swanctl/swanctl.conf"] = conf({"home": road_warrior(2, {"auth": "pubkey", "id": ALICE})}, secrets)
    return files


def carried(lab: Lab, client: Node, vip: str) -> None:
    """TCP both ways between the client's virtual IP and the LAN host, each listener seeing the tunnel's address."""
    lan = lab.node("lan")
    if tcp_exchange(lan, LAN_HOST, client, source_addr=vip) != vip:
        raise LabError(f"the LAN host did not see the client's virtual IP {vip}\n{lab.describe()}")
    if tcp_exchange(client, vip, lan, source_addr=LAN_HOST) != LAN_HOST:
        raise LabError(f"the client did not see the LAN host {LAN_HOST}\n{lab.describe()}")


def test_split_tunnel_to_a_network_behind_the_server(tmp_path: Path) -> None:
    answers, root = apply_cli(tmp_path, ANSWERS)
    with open_lab(tmp_path / "lab", topology()) as lab:
        server_node = lab.node("server")
        [finding] = check(server_node, answers)
        assert (finding["code"], finding["severity"], finding["field"]) == (
            "split-tunnel.no-local-address", "error", "variants.ikev2-cert.local_ts[0]"), finding
        assert SPLIT in finding["summary"] and f"inside {SPLIT}" in finding["fix"], finding

        server, _ = start_server(lab, root, "swanctl", ("IPSec-IKEv2",))
        client = start_client(lab, client_conf(root))
        # What the check foretold: the IKE_SA comes up, the CHILD_SA cannot be installed on the server.
        assert initiate(client, "home").returncode != 0
        server.wait_log(f"no local address found in traffic selector {SPLIT}")
        server.wait_log(f"error installing route with policy {SPLIT} === ")
        server.wait_log("unable to install IPsec policies (SPD) in kernel")
        client.wait_log("received TS_UNACCEPTABLE notify, no CHILD_SA built")

        # The fix the check names; charon learns the new address on its own, nothing is restarted.
        server.run("ip", "address", "add", f"{SERVER_IN_SPLIT}/32", "dev", "lo")
        [finding] = check(server_node, answers)
        assert (finding["code"], finding["severity"]) == ("split-tunnel.local-address", "ok"), finding
        assert SERVER_IN_SPLIT in finding["summary"], finding

        assert initiate(client, "home").returncode == 0, lab.describe()
        sa = client.wait_child_installed("home")
        assert sa["remote-ts"] == [SPLIT], sa
        server.wait_log(f"installing route: {sa['local-ts'][0]} src {SERVER_IN_SPLIT} dev ipsec0")
        before = client.esp_bytes()
        carried(lab, client, client.virtual_ips()[0])
        moved = [after - was for after, was in zip(client.esp_bytes(), before, strict=True)]
        # 64 KiB each way over each of the two connections, all of it inside ESP
        assert min(moved) >= 2 * 65536, moved
