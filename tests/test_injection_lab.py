"""Hostile but valid values, loaded by the real strongSwan: a quoted DN identity and a PSK full of quotes,
backslashes, blanks and "#", in ipsec.secrets (read by charon's stroke plugin) and in swanctl.conf
(read by swanctl --load-all). The client holds the same PSK in hex, a spelling no quoting can get wrong,
so a successful authentication proves the server read exactly the value of the answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab import CLIENT_ADDR, SERVER_ADDR, open_lab
from variants_helpers import LogMark, apply_cli, conf, initiate, start_client, start_server, terminate_all

pytestmark = pytest.mark.lab

PEER_ID = "C=CH, O=Peer Org, CN=peer one"
# ipsec.secrets has no escapes and cannot hold '"': that value is refused there (test_injection.py).
PSK = {"swanctl": 'pa\\ss"wo\'rd #not-a-comment : PSK "x"', "ipsec": "pa\\ss wo'rd #not-a-comment : PSK x\\"}


def answers(layout: str) -> str:
    return f"""\
version: 1
layout: {layout}
server: {{address: {SERVER_ADDR}}}
ca: {{key: ecdsa-p256}}
host: {{key: ecdsa-p256}}
variants:
  transport: {{peers: [{{name: peer1, address: {CLIENT_ADDR}, auth: psk, id: {json.dumps(PEER_ID)},
                        psk: {json.dumps(PSK[layout])}}}]}}
"""


@pytest.mark.parametrize("layout", ["swanctl", "ipsec"])
def test_charon_reads_the_hostile_psk_and_dn_identity_exactly(tmp_path: Path, layout: str) -> None:
    root = apply_cli(tmp_path, answers(layout))
    client_conf = conf(
        {"peer1": {"version": 2, "remote_addrs": SERVER_ADDR, "mobike": "no",
                   "local": {"auth": "psk", "id": PEER_ID}, "remote": {"auth": "psk", "id": SERVER_ADDR},
                   "children": {"peer1": {"mode": "transport"}}}},
        {"ike-peer1": {"id-1": PEER_ID, "secret": "0x" + PSK[layout].encode().hex()}})
    with open_lab(tmp_path / "lab") as lab:
        server, _ = start_server(lab, root, layout, ("transport-peer1",))
        client = start_client(lab, {"/etc/swanctl/swanctl.conf": client_conf})
        server_log = LogMark(server)
        try:
            initiate(client, "peer1")
            # The lab kernel has no transport-mode ESP: the IKE_SA is the proof (test_variants_psk.py).
            server_log.wait(r"authentication of 'C=CH, O=Peer Org, CN=peer one' with pre-shared key successful")
            server_log.wait(r"IKE_SA transport-peer1\[\d+\] established")
        finally:
            terminate_all(client, server)
