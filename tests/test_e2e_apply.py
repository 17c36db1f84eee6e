"""End to end with real strongSwan: `swan-wizard apply --root` output runs a server that clients reach.

The server charon runs on exactly the files the engine wrote into a temp root; the client is configured
the way a user's client would be: from the exported PKCS#12 bundle and the server address.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from applied import apply_cli, p12_client_files
from lab import SERVER_ADDR, SERVER_LAN_ADDR, Lab, assert_tunnel_carries_tcp, open_lab

pytestmark = pytest.mark.lab
POOL = "198.19.128.0/24"
CLIENT = "alice@example.com"


def answers_text(layout: str) -> str:
    # The article's recipe and defaults (RSA-4096 CA, RSA-2048 host and client), addresses of the lab.
    return f"""\
version: 1
layout: {layout}
server: {{address: {SERVER_ADDR}}}
clients:
  - {{name: {CLIENT}}}
variants:
  ikev2-cert: {{}}
pool: {{addresses: {POOL}, dns: [{SERVER_LAN_ADDR}]}}
"""


def apply_into(tmp_path: Path, layout: str) -> Path:
    return apply_cli(tmp_path, answers_text(layout))[1]


def check_swanctl_loads_cleanly(server) -> None:  # type: ignore[no-untyped-def]
    out = server.swanctl("--load-all", "--noprompt")
    text = out.stdout + out.stderr
    assert "loaded connection 'IPSec-IKEv2'" in text, text
    assert "successfully loaded 1 connections, 0 unloaded" in text, text
    assert "loaded pool 'swan-wizard-v4'" in text, text
    assert "failed" not in text.lower() and "error" not in text.lower(), text


def start_client(lab: Lab, root: Path):  # type: ignore[no-untyped-def]
    client = lab.add_peer("client", extra_files=p12_client_files(root, CLIENT, SERVER_ADDR))
    client.start()
    loaded = client.swanctl("--load-all", "--noprompt")
    assert "loaded RSA key from '/etc/swanctl/pkcs12/home.p12'" in loaded.stdout, loaded.stdout + loaded.stderr
    return client


def test_swanctl_layout_tunnel_carries_tcp_both_ways(tmp_path: Path) -> None:
    root = apply_into(tmp_path, "swanctl")
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=root)
        server.start()
        check_swanctl_loads_cleanly(server)
        client = start_client(lab, root)
        client.swanctl("--initiate", "--child", "home", "--timeout", "20")
        sa = client.wait_child_installed("home")
        # The proposals the engine wrote were the ones negotiated: AES-GCM from the "modern" preset.
        assert "AES_GCM" in str(sa).upper(), sa
        traffic = assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)
        assert traffic.client_vip.startswith("198.19.128."), traffic
        log = server.log()
        assert "CHILD_SA IPSec-IKEv2{" in log and "established" in log
        # the filelog the engine configured is where charon writes (inside the lab's /var/log)
        product_log = server.dir / "var/log/swan-wizard/charon.log"
        assert product_log.is_file() and "IPSec-IKEv2" in product_log.read_text()


def test_legacy_ipsec_layout_tunnel_through_starter(tmp_path: Path) -> None:
    root = apply_into(tmp_path, "ipsec")
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=root)
        server.start(daemon=("/usr/lib/ipsec/starter", "--nofork"))
        server.wait_log("IPSec-IKEv2")  # starter handed the conn to charon over stroke
        status = server.run("ipsec", "statusall").stdout
        assert "IPSec-IKEv2" in status and SERVER_ADDR in status, status
        client = start_client(lab, root)
        client.swanctl("--initiate", "--child", "home", "--timeout", "20")
        client.wait_child_installed("home")
        assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)
