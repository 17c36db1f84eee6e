"""Helpers shared by the test_variants_* modules (this module holds no tests).

The pattern every variant test follows: write an answers file, apply it into a temp root through the
CLI (``python -m wizard.cli apply FILE --root DIR``), run a server charon on exactly that root (swanctl
layout: charon + ``swanctl --load-all``; legacy layout: ``starter --nofork``), and configure strongSwan
clients only from what the wizard hands a user: the PKCS#12 bundle and its password, the CA
certificate, a username and the password from /etc/swan-wizard/secrets/, a transport peer's files
under /etc/swan-wizard/peers/<name>/.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import applied
from lab import SERVER_ADDR, Lab, LabError, Peer

from wizard.model.proposals import MODERN_ESP, MODERN_IKE
from wizard.render.confsyntax import render_settings

POOL = "198.19.128.0/24"
STARTER = ("/usr/lib/ipsec/starter", "--nofork")
# The first proposal of each preset list, as a client would be set up to match the server.
IKEV1_CLIENT_IKE = "aes256-sha256-modp2048"
IKEV1_CLIENT_ESP = "aes256-sha256"
# IKEv2 clients get the server's lists, as the wizard's generated strongSwan profiles do. This also
# keeps the first key exchange the server's favourite: after an INVALID_KE_PAYLOAD round trip charon
# sometimes drops the immediate answer to its second IKE_SA_INIT ("ignoring request with ID 0, already
# processing") and only retransmits 4 s later.
IKEV2_CLIENT_IKE = list(MODERN_IKE)
IKEV2_CLIENT_ESP = list(MODERN_ESP)


def apply_cli(workdir: Path, answers_text: str) -> Path:
    """Apply ``answers_text`` through the CLI into ``workdir/root``; returns the root."""
    return applied.apply_cli(workdir, answers_text)[1]


def read_secret(root: Path, key: str) -> str:
    """A generated secret as the admin reads it from /etc/swan-wizard/secrets/<key>."""
    return (root / "etc/swan-wizard/secrets" / key).read_text().strip()


def ca_pem(root: Path) -> bytes:
    return (root / "etc/swan-wizard/ca/ca.pem").read_bytes()


def start_server(lab: Lab, root: Path, layout: str, conns: tuple[str, ...],
                 extra_files: Mapping[str, bytes | str] | None = None) -> tuple[Peer, str]:
    """The server charon on the applied root; returns it and what loading the configuration printed.

    Fails unless every connection in ``conns`` was loaded without a complaint.
    """
    server = lab.add_peer("server", root=root, extra_files=extra_files)
    if layout == "swanctl":
        server.start()
        out = server.swanctl("--load-all", "--noprompt")
        text = out.stdout + out.stderr
        assert "failed" not in text.lower() and "error" not in text.lower(), text
        for conn in conns:
            assert f"loaded connection '{conn}'" in text, text
        assert f"successfully loaded {len(conns)} connections, 0 unloaded" in text, text
        return server, text
    server.start(daemon=STARTER)
    for conn in conns:
        # starter parsed ipsec.conf and handed each conn to charon over stroke
        server.wait_log(f"added configuration '{conn}'")
    log = server.log()
    assert "error" not in log.lower().replace("error-notify", ""), log
    return server, log


def conf(connections: Mapping[str, Any], secrets: Mapping[str, Any] | None = None) -> str:
    """A client swanctl.conf from plain data (rendered by the product's own serializer)."""
    tree: dict[str, Any] = {"connections": dict(connections)}
    if secrets:
        tree["secrets"] = dict(secrets)
    return render_settings(tree)


def p12_credentials(root: Path, client: str, name: str = "home") -> tuple[dict[str, bytes | str], dict[str, Any]]:
    """The files and the secrets entry of a client that holds only its PKCS#12 bundle and password."""
    folder = root / "etc/swan-wizard/clients" / client
    files: dict[str, bytes | str] = {f"/etc/swanctl/pkcs12/{name}.p12": (folder / f"{client}.p12").read_bytes()}
    secret = {f"pkcs12-{name}": {"file": f"{name}.p12", "secret": (folder / "p12-password").read_text().strip()}}
    return files, secret


def road_warrior(version: int, local: Mapping[str, Any], remote_auth: str = "pubkey", *,
                 xauth_id: str | None = None, ike: str | list[str] | None = None,
                 esp: str | list[str] | None = None, remote_ts: str = "0.0.0.0/0",
                 child: str = "home") -> dict[str, Any]:
    """A client connection to the lab server that asks for a virtual IP (IKEv2: the modern lists)."""
    if version == 2:
        ike, esp = ike or IKEV2_CLIENT_IKE, esp or IKEV2_CLIENT_ESP
    conn: dict[str, Any] = {"version": version, "remote_addrs": SERVER_ADDR, "vips": "0.0.0.0"}
    if ike:
        conn["proposals"] = ike
    conn["local"] = dict(local)
    if xauth_id:
        # the second round: XAUTH after the certificate or the group PSK (IKEv1 "Cisco IPSec")
        conn["local-xauth"] = {"auth": "xauth", "xauth_id": xauth_id}
    conn["remote"] = {"auth": remote_auth, "id": SERVER_ADDR}
    child_tree: dict[str, Any] = {"remote_ts": remote_ts}
    if esp:
        child_tree["esp_proposals"] = esp
    conn["children"] = {child: child_tree}
    return conn


def start_client(lab: Lab, files: Mapping[str, bytes | str]) -> Peer:
    client = lab.add_peer("client", extra_files=files)
    client.start()
    out = client.swanctl("--load-all", "--noprompt")
    text = out.stdout + out.stderr
    assert "failed" not in text.lower(), text
    return client


def initiate(client: Peer, child: str, ike: str | None = None, timeout: int = 15) -> subprocess.CompletedProcess[str]:
    """``swanctl --initiate``; the caller checks the outcome (failures are part of some tests)."""
    args = ["--initiate", "--child", child, "--timeout", str(timeout)]
    if ike:
        args += ["--ike", ike]
    return client.swanctl(*args, check=False, timeout=timeout + 10)


def terminate_all(*peers: Peer) -> None:
    """End every IKE_SA on these peers and wait until none is left, so the next test starts clean."""
    for peer in peers:
        for sa in peer.list_sas():
            for ike in sa.values():
                peer.swanctl("--terminate", "--ike-id", str(ike["uniqueid"]), "--timeout", "5", check=False)
    lab = peers[0].lab
    lab.wait_for(lambda: not any(p.list_sas() for p in peers), 10, "all IKE_SAs gone")


class LogMark:
    """The part of a peer's charon log written after this mark: one test's story in a shared charon."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.offset = len(peer.log())

    def text(self) -> str:
        return self.peer.log()[self.offset:]

    def wait(self, pattern: str, timeout: float = 10.0) -> str:
        """Wait for a line matching the regex ``pattern`` after the mark; returns that line."""
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in self.text().splitlines() if re.search(pattern, line)]
            return bool(found)

        try:
            self.peer.lab.wait_for(seen, timeout, f"{self.peer.name}: /{pattern}/ in charon log")
        except LabError as exc:
            raise LabError(f"{exc}\n--- {self.peer.name} log since the mark:\n{self.text()[-6000:]}") from None
        return found[0]

    def lines(self, pattern: str) -> list[str]:
        return [line for line in self.text().splitlines() if re.search(pattern, line)]
