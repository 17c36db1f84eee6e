"""The other half of the auth choices, with the article's own proposal lists, in both layouts.

One answers file: ikev1-xauth with a group PSK, l2tp with certificates (ECDSA: P-256 host, P-384
client, which IKEv1 accepts as one key family), a transport peer with a PSK, and ikev2-eap, all under
``proposals: seed``. Clients offer the article's first proposal, so the logs show the seed lists are
what the real daemons negotiate, for IKEv2 and for IKEv1.

The road warriors dial from a second address of the client node (ROAMER), the transport peer from
the first: two hosts, as in real life. It matters for IKEv1: main mode looks a PSK up by the two IP
addresses before anything else, so one host that were both the PSK transport peer and an IKEv1 PSK
road warrior, from one address, would be handed the transport key (charon prefers the key whose owner
matches the peer best) and fail to decrypt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab import CLIENT_ADDR, SERVER_ADDR, SERVER_LAN_ADDR, Lab, Peer, assert_tunnel_carries_tcp, open_lab
from variants_helpers import (
    POOL,
    LogMark,
    apply_cli,
    ca_pem,
    conf,
    initiate,
    p12_credentials,
    read_secret,
    road_warrior,
    start_client,
    start_server,
    terminate_all,
)

from wizard.model.proposals import SEED_ESP, SEED_IKE

pytestmark = pytest.mark.lab

ALICE = "alice@example.com"
ROAMER = "198.18.0.3"  # the road warriors' address; the transport peer is CLIENT_ADDR
CONNS = ("IPSec-IKEv2-EAP", "CiscoIPSec", "transport-peer1", "L2TP-IPsec")
# the article's first entries: aes128-sha256-ecp256 (IKE) and aes128gcm16-ecp256 (ESP)
FIRST_IKE, FIRST_ESP = SEED_IKE[0], SEED_ESP[0]


def answers(layout: str) -> str:
    return f"""\
version: 1
layout: {layout}
server: {{address: {SERVER_ADDR}}}
ca: {{key: ecdsa-p256}}
host: {{key: ecdsa-p256}}
clients:
  - {{name: {ALICE}, key: ecdsa-p384}}
variants:
  ikev2-eap: {{users: [{{name: bob}}]}}
  ikev1-xauth: {{auth: psk, users: [{{name: carol}}]}}
  transport: {{peers: [{{name: peer1, address: {CLIENT_ADDR}, auth: psk}}]}}
  l2tp: {{auth: cert, users: [{{name: dave}}]}}
pool: {{addresses: {POOL}, dns: [{SERVER_LAN_ADDR}]}}
proposals: seed
"""


def client_files(root: Path) -> dict[str, bytes | str]:
    files, secrets = p12_credentials(root, ALICE, "alice")
    files["/etc/swanctl/x509ca/ca.pem"] = ca_pem(root)
    secrets |= {
        "eap-bob": {"id": "bob", "secret": read_secret(root, "eap.user.bob")},
        "xauth-carol": {"id": "carol", "secret": read_secret(root, "xauth.user.carol")},
        # the group PSK, as typed into an iOS "Cisco IPSec" or Android "IPSec Xauth PSK" profile
        "ike-group": {"secret": read_secret(root, "xauth.psk")},
        # Owned by this host's own identity only: with the server's address as an owner too, this key
        # would be this charon's best match for the server's IP and win over the group PSK (IKEv1).
        "ike-peer1": {"id": CLIENT_ADDR, "secret": read_secret(root, "transport.peer.peer1")},
    }
    conns = {
        "eap": road_warrior(2, {"auth": "eap-mschapv2", "eap_id": "bob"}, ike=FIRST_IKE, esp=FIRST_ESP, child="eap"),
        "xauth": road_warrior(1, {"auth": "psk"}, xauth_id="carol", remote_auth="psk",
                              ike=FIRST_IKE, esp=FIRST_ESP, child="xauth"),
        "l2tp": {"version": 1, "remote_addrs": SERVER_ADDR, "proposals": FIRST_IKE,
                 "local": {"auth": "pubkey", "id": ALICE}, "remote": {"auth": "pubkey", "id": SERVER_ADDR},
                 "children": {"l2tp": {"mode": "transport", "local_ts": "dynamic[udp/1701]",
                                       "remote_ts": "dynamic[udp/1701]", "esp_proposals": "aes128-sha256"}}},
        "peer1": {"version": 2, "remote_addrs": SERVER_ADDR, "mobike": "no", "proposals": FIRST_IKE,
                  "local": {"auth": "psk", "id": CLIENT_ADDR}, "remote": {"auth": "psk", "id": SERVER_ADDR},
                  "children": {"peer1": {"mode": "transport", "esp_proposals": FIRST_ESP}}},
    }
    for name in ("eap", "xauth", "l2tp"):
        conns[name]["local_addrs"] = ROAMER
    files["/etc/swanctl/swanctl.conf"] = conf(conns, secrets)
    return files


@dataclass
class Site:
    layout: str
    root: Path
    lab: Lab
    server: Peer
    client: Peer


@pytest.fixture(scope="module", params=["swanctl", "ipsec"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    layout = request.param
    work = tmp_path_factory.mktemp(f"psk-{layout}")
    root = apply_cli(work, answers(layout))
    with open_lab(work / "lab") as lab:
        server, _ = start_server(lab, root, layout, CONNS)
        lab.node("client").run("ip", "addr", "add", f"{ROAMER}/24", "dev", "eth0")
        client = start_client(lab, client_files(root))
        yield Site(layout, root, lab, server, client)


@pytest.fixture
def marks(site: Site) -> Iterator[tuple[LogMark, LogMark]]:
    yield LogMark(site.server), LogMark(site.client)
    terminate_all(site.client, site.server)


def test_ikev2_eap_negotiates_the_articles_first_proposal(site: Site, marks: tuple[LogMark, LogMark]) -> None:
    server_log, _ = marks
    assert initiate(site.client, "eap").returncode == 0, site.lab.describe()
    site.client.wait_child_installed("eap")
    server_log.wait(r"selected proposal: IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256")
    server_log.wait(r"selected proposal: ESP:AES_GCM_16_128")
    assert_tunnel_carries_tcp(site.client, site.server, server_addr=SERVER_LAN_ADDR)


def test_ikev1_psk_and_xauth_with_seed_proposals_carries_tcp(site: Site, marks: tuple[LogMark, LogMark]) -> None:
    server_log, _ = marks
    assert initiate(site.client, "xauth").returncode == 0, site.lab.describe()
    site.client.wait_child_installed("xauth")
    server_log.wait(r"looking for XAuthInitPSK peer configs matching 198\.18\.0\.1\.\.\.198\.18\.0\.3")
    server_log.wait(r"XAuth authentication of 'carol' successful")
    server_log.wait(r"CHILD_SA CiscoIPSec\{\d+\} established")
    # IKEv1 quick mode with the article's first ESP entry: AES-GCM with ECP-256 PFS
    server_log.wait(r"selected proposal: ESP:AES_GCM_16_128/ECP_256")
    assert_tunnel_carries_tcp(site.client, site.server, server_addr=SERVER_LAN_ADDR)


def test_l2tp_with_ecdsa_certificates_negotiates_up_to_the_sa_install(site: Site,
                                                                     marks: tuple[LogMark, LogMark]) -> None:
    server_log, client_log = marks
    initiate(site.client, "l2tp")
    # the client's P-384 key picks the method; the server answers with its P-256 key
    server_log.wait(r"looking for ECDSA-384 signature peer configs")
    server_log.wait(r"authentication of 'alice@example\.com' with ECDSA_WITH_NULL successful")
    server_log.wait(r"IKE_SA L2TP-IPsec\[\d+\] established")
    client_log.wait(r"authentication of '198\.18\.0\.1' with ECDSA_WITH_NULL successful")
    client_log.wait(r"IPsec SA: unsupported mode")
    client_log.wait(r"unable to install inbound and outbound IPsec SA \(SAD\) in kernel")


def test_transport_peer_with_psk_negotiates_up_to_the_sa_install(site: Site,
                                                                 marks: tuple[LogMark, LogMark]) -> None:
    server_log, _ = marks
    initiate(site.client, "peer1")
    server_log.wait(r"authentication of '198\.18\.0\.2' with pre-shared key successful")
    server_log.wait(r"IKE_SA transport-peer1\[\d+\] established")
    server_log.wait(r"IPsec SA: unsupported mode")
    server_log.wait(r"unable to install inbound and outbound IPsec SA \(SAD\) in kernel")
