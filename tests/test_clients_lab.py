"""The client lifecycle against real charons: profile -> tunnel, revoke -> out now, renew -> back, new address.

The server runs on the files `swan-wizard apply --root` wrote; the client is a strongSwan peer set up the way
the exported README.txt tells a Linux user to install the swanctl profile (its `install` lines are
followed literally). Lifecycle commands run through the CLI against the same root, and talk to the
server's charon over its vici socket.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lab import (
    CLIENT_ADDR,
    SERVER_ADDR,
    SERVER_LAN_ADDR,
    Addr,
    Lab,
    Peer,
    Topology,
    assert_tunnel_carries_tcp,
    open_lab,
)

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[1]
POOL = "198.19.128.0/24"
CLIENT = "alice@example.com"
NEW_ADDR = "198.18.0.3"  # a second server address: "the new name" clients dial after `server address`
CHILD = "swan-wizard"  # the child the exported swanctl profile defines

# The road-warrior segment, with the server owning a second address on it for the address change.
TOPOLOGY = Topology(
    links=((Addr("server", "eth0", f"{SERVER_ADDR}/24"), Addr("client", "eth0", f"{CLIENT_ADDR}/24")),),
    extra_addrs=(Addr("server", "lo", f"{SERVER_LAN_ADDR}/32"), Addr("server", "eth0", f"{NEW_ADDR}/24")),
)


def answers_text(layout: str) -> str:
    # RSA-2048 everywhere keeps key generation quick; everything else is the default recipe.
    return f"""\
version: 1
layout: {layout}
server: {{address: {SERVER_ADDR}}}
ca: {{key: rsa-2048}}
host: {{key: rsa-2048}}
clients:
  - {{name: {CLIENT}, key: rsa-2048}}
variants:
  ikev2-cert: {{}}
pool: {{addresses: {POOL}, dns: [{SERVER_LAN_ADDR}]}}
"""


def wizard(*argv: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", *argv], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0, f"swan-wizard {' '.join(argv)}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


class Product:
    def __init__(self, tmp_path: Path, layout: str) -> None:
        self.answers = tmp_path / "answers.yaml"
        self.answers.write_text(answers_text(layout))
        self.root = tmp_path / "root"
        wizard("apply", str(self.answers), "--root", str(self.root))

    def client(self, *argv: str, vici: Peer | None = None) -> str:
        extra = ["--vici", vici.vici_path] if vici is not None else []
        return wizard("client", *argv, "--answers", str(self.answers), "--root", str(self.root), *extra)

    def server_address(self, address: str) -> str:
        return wizard("server", "address", address, "--answers", str(self.answers), "--root", str(self.root))

    def readme_install(self, name: str, stem: str | None = None) -> dict[str, bytes]:
        """The files of the swanctl section of the client's README.txt, where its `install` lines put them
        (for the profile ``stem``: the client's name, or <name>-eap)."""
        folder = self.root / "etc/swan-wizard/clients" / name
        files: dict[str, bytes] = {}
        for line in (folder / "README.txt").read_text().splitlines():
            match = re.match(r"\s+install -m \d+ (\S+) (/etc/swanctl/\S+)$", line)
            if match and (stem is None or match.group(1) in ("ca.pem", f"{stem}.swanctl.conf")):
                source, dest = match.groups()
                files[dest + source if dest.endswith("/") else dest] = (folder / source).read_bytes()
        expected = {"conf.d", "pkcs12", "x509ca"} if stem is None else {"conf.d", "x509ca"}
        assert {Path(p).parent.name for p in files} == expected, files
        return files


def install(peer: Peer, files: dict[str, bytes]) -> None:
    for logical, content in files.items():
        target = peer.dir / logical.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def start_client(lab: Lab, product: Product) -> Peer:
    client = lab.add_peer("client", extra_files=product.readme_install(CLIENT))
    client.start()
    loaded = client.swanctl("--load-all", "--noprompt")
    assert f"loaded RSA key from '/etc/swanctl/pkcs12/{CLIENT}.p12'" in loaded.stdout, loaded.stdout
    return client


def restart_client(client: Peer, product: Product) -> None:
    """What a user does with a re-exported profile: install the new files, restart, load."""
    client.stop()
    install(client, product.readme_install(CLIENT))
    client.start()
    client.swanctl("--load-all", "--noprompt")


def connect(client: Peer, server: Peer) -> dict[str, Any]:
    client.swanctl("--initiate", "--child", CHILD, "--timeout", "20")
    sa = client.wait_child_installed(CHILD)
    assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)
    return sa


def sas_of(peer: Peer, identity: str) -> list[dict[str, Any]]:
    return [ike for entry in peer.list_sas() for ike in entry.values() if ike.get("remote-id") == identity]


def assert_refused_as_revoked(lab: Lab, client: Peer, server: Peer) -> None:
    refused = client.swanctl("--initiate", "--child", CHILD, "--timeout", "20", check=False)
    assert refused.returncode != 0, refused.stdout
    assert "AUTHENTICATION_FAILED" in refused.stdout + client.log(), refused.stdout
    line = server.wait_log("certificate was revoked on")
    assert "reason" in line
    lab.wait_for(lambda: not client.list_sas(), 10, "client without IKE_SAs after the refusal")


def test_swanctl_profile_revoke_renew_and_new_server_address(tmp_path: Path) -> None:
    product = Product(tmp_path, "swanctl")
    with open_lab(tmp_path / "lab", TOPOLOGY) as lab:
        server = lab.add_peer("server", root=product.root)
        server.start()
        server.swanctl("--load-all", "--noprompt")
        client = start_client(lab, product)

        # 1. The exported swanctl profile connects and carries traffic.
        sa = connect(client, server)
        assert sa["ike"]["remote-host"] == SERVER_ADDR
        assert len(sas_of(server, CLIENT)) == 1

        # 2. Revoked: the CRL reaches charon over vici and the client's SA is terminated at once...
        out = product.client("revoke", CLIENT, vici=server)
        assert "loaded the CRL into charon" in out and "terminated IKE_SA IPSec-IKEv2[" in out, out
        lab.wait_for(lambda: not sas_of(server, CLIENT), 10, "server without the revoked client's IKE_SA")
        lab.wait_for(lambda: not client.child_sas(), 10, "client's CHILD_SA gone")
        # ... and it is refused when it tries again.
        assert_refused_as_revoked(lab, client, server)
        # The CRL is also where swanctl loads it from, for the next start of charon.
        shutil.copytree(product.root / "etc/swanctl/x509crl", server.dir / "etc/swanctl/x509crl", dirs_exist_ok=True)
        creds = server.swanctl("--load-creds", "--noprompt")
        assert "swan-wizard.crl" in creds.stdout and "failed" not in creds.stdout.lower(), creds.stdout

        # 3. Renewed: a new certificate for the same identity connects again.
        product.client("renew", CLIENT)
        restart_client(client, product)
        connect(client, server)

        # 4. A new server address: the re-issued host certificate and the new profile work together.
        product.server_address(NEW_ADDR)
        shutil.copytree(product.root / "etc/swanctl", server.dir / "etc/swanctl", dirs_exist_ok=True)
        loaded = server.swanctl("--load-all", "--noprompt")
        assert "failed" not in loaded.stdout.lower(), loaded.stdout
        restart_client(client, product)
        sa = connect(client, server)
        assert sa["ike"]["remote-host"] == NEW_ADDR and sa["ike"]["remote-id"] == NEW_ADDR


def test_legacy_layout_crl_in_ipsec_d_keeps_a_revoked_client_out(tmp_path: Path) -> None:
    product = Product(tmp_path, "ipsec")
    with open_lab(tmp_path / "lab", TOPOLOGY) as lab:
        server = lab.add_peer("server", root=product.root)
        server.start(daemon=("/usr/lib/ipsec/starter", "--nofork"))
        server.wait_log("IPSec-IKEv2")
        client = start_client(lab, product)
        connect(client, server)

        out = product.client("revoke", CLIENT, vici=server)
        assert "terminated IKE_SA IPSec-IKEv2[" in out, out
        assert (product.root / "etc/ipsec.d/crls/swan-wizard.crl").is_file()
        lab.wait_for(lambda: not client.child_sas(), 10, "client's CHILD_SA gone")
        assert_refused_as_revoked(lab, client, server)

        # A restarted starter reads the CRL from /etc/ipsec.d/crls: the client stays out.
        server.stop()
        shutil.copytree(product.root / "etc/ipsec.d", server.dir / "etc/ipsec.d", dirs_exist_ok=True)
        server.log_path.write_text("")
        server.start(daemon=("/usr/lib/ipsec/starter", "--nofork"))
        server.wait_log("IPSec-IKEv2")
        assert_refused_as_revoked(lab, client, server)


def test_eap_user_profile_connects_and_remove_ends_it(tmp_path: Path) -> None:
    product = Product(tmp_path, "swanctl")
    product.answers.write_text(product.answers.read_text().replace(
        "  ikev2-cert: {}\n", "  ikev2-cert: {}\n  ikev2-eap: {users: [{name: bob}]}\n"))
    wizard("apply", str(product.answers), "--root", str(product.root))
    with open_lab(tmp_path / "lab", TOPOLOGY) as lab:
        server = lab.add_peer("server", root=product.root)
        server.start()
        server.swanctl("--load-all", "--noprompt")
        client = lab.add_peer("client", extra_files=product.readme_install("bob", "bob-eap"))
        client.start()
        client.swanctl("--load-all", "--noprompt")
        client.swanctl("--initiate", "--child", "swan-wizard-eap", "--timeout", "20")
        client.wait_child_installed("swan-wizard-eap")
        assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)
        eap_sas = [ike for entry in server.list_sas() for ike in entry.values() if ike.get("remote-eap-id") == "bob"]
        assert len(eap_sas) == 1

        out = product.client("remove", "bob", vici=server)
        assert "terminated IKE_SA IPSec-IKEv2-EAP[" in out, out
        lab.wait_for(lambda: not client.child_sas(), 10, "EAP client's CHILD_SA gone")
        # The server's configuration no longer holds bob's secret: once loaded, bob cannot log in.
        shutil.copytree(product.root / "etc/swanctl", server.dir / "etc/swanctl", dirs_exist_ok=True)
        server.swanctl("--load-all", "--noprompt")
        refused = client.swanctl("--initiate", "--child", "swan-wizard-eap", "--timeout", "20", check=False)
        assert refused.returncode != 0, refused.stdout
        server.wait_log("no EAP key found")


def test_a_revocation_on_a_crl_of_five_thousand_keeps_the_client_out(tmp_path: Path) -> None:
    """A long-lived server: 4,999 certificates revoked before. The CRL of 5,000 entries is larger than one
    vici value (64 KiB): `client revoke` has charon fetch it from its file (curl plugin, file:// URI), throws
    the client out, and charon refuses it, again after a restart (swanctl.conf names the authority)."""
    product = Product(tmp_path, "swanctl")
    earlier = "".join(f"  - {{name: gone{i}@example.com, serial: '{0x10_0000_0000 + i:x}', "
                      f"revoked_at: '2026-01-01T00:00:00+00:00'}}\n" for i in range(4999))
    product.answers.write_text(product.answers.read_text() + "revoked:\n" + earlier)
    wizard("apply", str(product.answers), "--root", str(product.root))
    crl = product.root / "etc/swanctl/x509crl/swan-wizard.crl"
    with open_lab(tmp_path / "lab", TOPOLOGY) as lab:
        server = lab.add_peer("server", root=product.root)
        server.start()
        loaded = server.swanctl("--load-all", "--noprompt")
        assert "loaded authority 'swan-wizard-crl'" in loaded.stdout, loaded.stdout
        client = start_client(lab, product)
        connect(client, server)

        out = product.client("revoke", CLIENT, vici=server)
        assert len(list(x509.load_pem_x509_crl(crl.read_bytes()))) == 5000
        assert "charon now fetches it from file:///etc/swanctl/x509crl/swan-wizard.crl" in out, out
        assert "terminated IKE_SA IPSec-IKEv2[" in out, out
        # Where charon fetches it from: the server's own /etc/swanctl (a copy of the root's in this lab).
        shutil.copy(crl, server.dir / "etc/swanctl/x509crl/swan-wizard.crl")
        lab.wait_for(lambda: not client.child_sas(), 10, "client's CHILD_SA gone")
        assert_refused_as_revoked(lab, client, server)

        # A restarted charon: swanctl cannot load the CRL itself (too big for vici), the authority in
        # swanctl.conf has charon fetch it: the client stays out.
        server.stop()
        shutil.copytree(product.root / "etc/swanctl", server.dir / "etc/swanctl", dirs_exist_ok=True)
        server.log_path.write_text("")
        server.start()
        loaded = server.swanctl("--load-all", "--noprompt")
        assert "loaded authority 'swan-wizard-crl'" in loaded.stdout, loaded.stdout
        assert_refused_as_revoked(lab, client, server)
