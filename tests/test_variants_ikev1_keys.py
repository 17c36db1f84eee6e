"""Which key types work for IKEv1 with certificates: the experiments behind the answers' validation.

Found with real charons (and matching strongSwan 5.9.8's ``phase1.c``/``pubkey_v1_authenticator.c``):

* IKEv1 negotiates one authentication method for both ends, chosen by the initiator from its own key:
  RSA, ECDSA-256/384/521. The responder then has to sign with a key of the same family. So with plain
  certificates (l2tp auth: cert) host and client keys must both be RSA or both ECDSA (the curves may
  differ: a P-384 client with a P-256 host works, see test_variants_psk.py).
* Certificates plus XAUTH (ikev1-xauth auth: cert) is the method "XAuthInitRSA": RSA on both sides,
  whatever the keys are. An ECDSA client fails on its own side ("no RSA private key found for" its
  identity: the known note "an IKEv1 charon client looked for an RSA key"), an ECDSA host on the
  server side.
* Ed25519 has no IKEv1 method at all ("private key of type ED25519 not supported").

The answers refuse the host keys that can never work (host.key, error) and name client keys that
cannot log in to an IKEv1 variant (clients[i].key: an error, or a warning when ikev2-cert gives that
client another way in): test_variants_answers.py. Key behaviour is charon's, not the layout's: these run
in the swanctl layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab import SERVER_ADDR, Lab, Peer, open_lab
from variants_helpers import (
    IKEV1_CLIENT_ESP,
    IKEV1_CLIENT_IKE,
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

from wizard.fs import paths
from wizard.model.proposals import IKEV1_ESP, IKEV1_IKE
from wizard.render.connections import CONN_IKEV1_XAUTH, POOL_V4, ConnSpec
from wizard.render.swanctl import connection_tree

pytestmark = pytest.mark.lab

ECDSA, ED, RSA = "ecdsa@example.com", "ed@example.com", "rsa@example.com"


def answers(host_key: str, clients: dict[str, str], xauth: bool) -> str:
    listed = "\n".join(f"  - {{name: {name}, key: {key}}}" for name, key in clients.items())
    return f"""\
version: 1
layout: swanctl
server: {{address: {SERVER_ADDR}}}
ca: {{key: ecdsa-p256}}
host: {{key: {host_key}}}
clients:
{listed}
variants:
  ikev2-cert: {{}}
  {"ikev1-xauth: {users: [{name: carol}]}" if xauth else "ikev2-eap: {}"}
  l2tp: {{auth: cert}}
pool: {{addresses: {POOL}}}
"""


def probe_xauth_conf() -> str:
    """The CiscoIPSec conn as the renderer writes it, for a host key the answers refuse to pair with it."""
    spec = ConnSpec(name=CONN_IKEV1_XAUTH, version=1, ike_proposals=IKEV1_IKE, esp_proposals=IKEV1_ESP,
                    local_id=SERVER_ADDR, remote_auth="pubkey", remote_auth2="xauth", remote_ca=paths.CA_CERT_NAME,
                    pool=POOL_V4)
    return conf({spec.name: connection_tree(spec)}, {"xauth-carol": {"id": "carol", "secret": "carol-password"}})


def client_conns(root: Path, clients: tuple[str, ...], xauth_secret: str) -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {"/etc/swanctl/x509ca/ca.pem": ca_pem(root)}
    secrets: dict[str, object] = {"xauth-carol": {"id": "carol", "secret": xauth_secret}}
    conns: dict[str, object] = {}
    for i, client in enumerate(clients):
        f, s = p12_credentials(root, client, f"c{i}")
        files |= f
        secrets |= s
        me = {"auth": "pubkey", "id": client}
        conns[f"xauth{i}"] = road_warrior(1, me, xauth_id="carol",
                                          ike=IKEV1_CLIENT_IKE, esp=IKEV1_CLIENT_ESP, child=f"xauth{i}")
        conns[f"l2tp{i}"] = {"version": 1, "remote_addrs": SERVER_ADDR, "proposals": IKEV1_CLIENT_IKE,
                             "local": me, "remote": {"auth": "pubkey", "id": SERVER_ADDR},
                             "children": {f"l2tp{i}": {"mode": "transport", "local_ts": "dynamic[udp/1701]",
                                                       "remote_ts": "dynamic[udp/1701]",
                                                       "esp_proposals": IKEV1_CLIENT_ESP}}}
    files["/etc/swanctl/swanctl.conf"] = conf(conns, secrets)
    return files


@dataclass
class Site:
    lab: Lab
    server: Peer
    client: Peer


def _site(work: Path, host_key: str, clients: dict[str, str], xauth: bool) -> Iterator[Site]:
    root = apply_cli(work, answers(host_key, clients, xauth))
    extra = {} if xauth else {"/etc/swanctl/conf.d/zz-probe.conf": probe_xauth_conf()}
    conns = ("IPSec-IKEv2", "CiscoIPSec", "L2TP-IPsec") if xauth else ("IPSec-IKEv2", "IPSec-IKEv2-EAP",
                                                                     "L2TP-IPsec", "CiscoIPSec")
    secret = read_secret(root, "xauth.user.carol") if xauth else "carol-password"
    with open_lab(work / "lab") as lab:
        server, _ = start_server(lab, root, "swanctl", conns, extra_files=extra)
        client = start_client(lab, client_conns(root, tuple(clients), secret))
        yield Site(lab, server, client)


@pytest.fixture(scope="module")
def rsa_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An RSA host; clients c0 with an ECDSA key, c1 with an Ed25519 key (both allowed: ikev2-cert is on)."""
    yield from _site(tmp_path_factory.mktemp("rsa-host"), "rsa-2048", {ECDSA: "ecdsa-p256", ED: "ed25519"}, True)


@pytest.fixture(scope="module")
def ecdsa_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An ECDSA host with an RSA client c0, and the CiscoIPSec conn the answers would refuse (probe)."""
    yield from _site(tmp_path_factory.mktemp("ecdsa-host"), "ecdsa-p256", {RSA: "rsa-2048"}, False)


def _marks(site: Site) -> tuple[LogMark, LogMark]:
    return LogMark(site.server), LogMark(site.client)


def test_xauth_with_an_ecdsa_client_key_looks_for_an_rsa_key(rsa_host: Site) -> None:
    server_log, client_log = _marks(rsa_host)
    assert initiate(rsa_host.client, "xauth0", timeout=5).returncode != 0
    client_log.wait(r"no RSA private key found for 'ecdsa@example\.com'")
    assert not server_log.lines(r"IKE_SA .* established")
    terminate_all(rsa_host.client, rsa_host.server)


def test_xauth_with_an_ecdsa_host_key_looks_for_an_rsa_key(ecdsa_host: Site) -> None:
    server_log, _ = _marks(ecdsa_host)
    assert initiate(ecdsa_host.client, "xauth0", timeout=5).returncode != 0
    server_log.wait(r"looking for XAuthInitRSA peer configs")
    server_log.wait(r"authentication of 'rsa@example\.com' with RSA_EMSA_PKCS1_NULL successful")
    server_log.wait(r"no RSA private key found for '198\.18\.0\.1'")
    terminate_all(ecdsa_host.client, ecdsa_host.server)


def test_l2tp_certificates_of_two_key_families_fail(rsa_host: Site) -> None:
    server_log, _ = _marks(rsa_host)
    assert initiate(rsa_host.client, "l2tp0", timeout=5).returncode != 0
    # the ECDSA client chose ECDSA signatures; the RSA host has no ECDSA key to answer with
    server_log.wait(r"looking for ECDSA-256 signature peer configs")
    server_log.wait(r"no ECDSA private key found for '198\.18\.0\.1'")
    terminate_all(rsa_host.client, rsa_host.server)


def test_l2tp_with_an_ed25519_client_key_is_not_supported(rsa_host: Site) -> None:
    _, client_log = _marks(rsa_host)
    assert initiate(rsa_host.client, "l2tp1", timeout=5).returncode != 0
    client_log.wait(r"private key of type ED25519 not supported")
    terminate_all(rsa_host.client, rsa_host.server)
