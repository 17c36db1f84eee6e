"""Self-test of the strongSwan lab harness: real charons in namespaces bring up a tunnel that carries TCP.

Run with ``python3 -m pytest tests/test_lab.py -q -s`` (as root) to see the timings.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lab import (
    LAB_SNIPPET_NAME,
    NS_PREFIX,
    SERVER_ADDR,
    SERVER_LAN_ADDR,
    Lab,
    Topology,
    assert_tunnel_carries_tcp,
    cleanup_stale,
    open_lab,
    prepare_peer_etc,
    require_lab,
)

# The pool lies inside 198.18.0.0/15 like every lab address, so nothing here ever looks like a real net.
POOL = "198.19.128.0/24"
CLIENT_ID = "client1"

# ---------------------------------------------------------------------------------------------------
# a tiny PKI, just enough for certificate authentication


@dataclass(frozen=True)
class Issued:
    key_pem: bytes
    cert_pem: bytes
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


def _issue(cn: str, issuer: Issued | None = None, *, ca: bool = False,
           sans: tuple[x509.GeneralName, ...] = (), eku: tuple[x509.ObjectIdentifier, ...] = ()) -> Issued:
    """A 2048-bit RSA key and a certificate for it; self-signed when there is no issuer."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return Issued(key_pem, cert.public_bytes(serialization.Encoding.PEM), key, cert)


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    rogue_client: Issued  # same name as client, issued by a CA the server does not trust


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = _issue("Swan Lab CA", ca=True)
    server = _issue(
        SERVER_ADDR, ca,
        # Both SAN forms: clients may check the dialled address as an IP or as a name.
        sans=(x509.IPAddress(ipaddress.ip_address(SERVER_ADDR)), x509.DNSName(SERVER_ADDR)),
        eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
    )
    client_ext = {"sans": (x509.DNSName(CLIENT_ID),), "eku": (ExtendedKeyUsageOID.CLIENT_AUTH,)}
    client = _issue(CLIENT_ID, ca, **client_ext)
    rogue = _issue(CLIENT_ID, _issue("Rogue CA", ca=True), **client_ext)
    return Pki(ca, server, client, rogue)


# ---------------------------------------------------------------------------------------------------
# hand-made swanctl configurations of an IKEv2 certificate road-warrior

SERVER_CONF = f"""\
connections {{
    rw {{
        version = 2
        local_addrs = {SERVER_ADDR}
        pools = rw_pool
        send_cert = always
        local {{
            auth = pubkey
            certs = server.pem
            id = {SERVER_ADDR}
        }}
        remote {{
            auth = pubkey
        }}
        children {{
            rw {{
                local_ts = 0.0.0.0/0
            }}
        }}
    }}
}}
pools {{
    rw_pool {{
        addrs = {POOL}
    }}
}}
"""

CLIENT_CONF = f"""\
connections {{
    home {{
        version = 2
        remote_addrs = {SERVER_ADDR}
        vips = 0.0.0.0
        local {{
            auth = pubkey
            certs = client.pem
            id = {CLIENT_ID}
        }}
        remote {{
            auth = pubkey
            id = {SERVER_ADDR}
        }}
        children {{
            home {{
                remote_ts = 0.0.0.0/0
            }}
        }}
    }}
}}
"""


def server_files(pki: Pki) -> dict[str, bytes | str]:
    return {
        "/etc/swanctl/swanctl.conf": SERVER_CONF,
        "/etc/swanctl/x509ca/ca.pem": pki.ca.cert_pem,
        "/etc/swanctl/x509/server.pem": pki.server.cert_pem,
        "/etc/swanctl/private/server.key": pki.server.key_pem,
    }


def client_files(pki: Pki, client: Issued) -> dict[str, bytes | str]:
    return {
        "/etc/swanctl/swanctl.conf": CLIENT_CONF,
        "/etc/swanctl/x509ca/ca.pem": pki.ca.cert_pem,
        "/etc/swanctl/x509/client.pem": client.cert_pem,
        "/etc/swanctl/private/client.key": client.key_pem,
    }


# ---------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def topology() -> Topology:
    """Overridden by tests that parametrize ``topology``."""
    return Topology.road_warrior()


@pytest.fixture
def lab(tmp_path: Path, topology: Topology) -> Iterator[Lab]:
    with open_lab(tmp_path, topology) as lab:
        yield lab


class Clock:
    """Prints how long each step took (visible with ``-s``): the lab should stay fast."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.last = time.monotonic()

    def lap(self, what: str) -> None:
        now = time.monotonic()
        print(f"[{self.label}] {what}: {now - self.last:.2f}s")
        self.last = now


# ---------------------------------------------------------------------------------------------------
# tests


@pytest.mark.lab
@pytest.mark.parametrize("topology", [Topology.road_warrior(), Topology.via_internet()],
                         ids=["direct", "via-internet"])
def test_road_warrior_tunnel_carries_tcp_both_ways(lab: Lab, pki: Pki) -> None:
    clock = Clock("road-warrior")
    server = lab.add_peer("server", extra_files=server_files(pki))
    client = lab.add_peer("client", extra_files=client_files(pki, pki.client))
    server.start()
    client.start()
    clock.lap("both charons up")

    server.swanctl("--load-all")
    client.swanctl("--load-all")
    client.swanctl("--initiate", "--child", "home", "--timeout", "20")
    child = client.wait_child_installed("home")
    server.wait_child_installed("rw")
    clock.lap("tunnel established")

    # Userspace ESP, UDP-encapsulated, from the pool: the kernel-libipsec path really is in use.
    assert child["encap"] == "yes", child
    vip = client.virtual_ips()
    assert vip and ipaddress.ip_address(vip[0]) in ipaddress.ip_network(POOL), vip
    assert "created TUN device: ipsec0" in client.log()

    traffic = assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR, size=256 * 1024)
    clock.lap(f"TCP both ways, {traffic.size} bytes each way per connection, ESP deltas {traffic.esp_delta}")

    # charon's /etc/swanctl is the peer directory, not the host's.
    assert "loaded certificate from '/etc/swanctl/x509/server.pem'" in server.swanctl("--load-creds").stdout
    assert Path(f"/proc/{server.pid}/root/etc/swanctl/x509/server.pem").exists()


@pytest.mark.lab
def test_client_from_untrusted_ca_is_refused(lab: Lab, pki: Pki) -> None:
    clock = Clock("untrusted-ca")
    server = lab.add_peer("server", extra_files=server_files(pki))
    client = lab.add_peer("client", extra_files=client_files(pki, pki.rogue_client))
    server.start()
    client.start()
    server.swanctl("--load-all")
    client.swanctl("--load-all")
    clock.lap("both charons up")

    result = client.swanctl("--initiate", "--child", "home", "--timeout", "20", check=False)
    assert result.returncode != 0, result.stdout
    line = server.wait_log("no trusted RSA public key found for 'client1'")
    clock.lap("refused")
    log = server.log()
    assert 'no issuer certificate found for "CN=client1"' in log, line
    assert 'issuer is "CN=Rogue CA"' in log
    assert "generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]" in log
    assert "received AUTHENTICATION_FAILED notify error" in client.log()
    assert server.list_sas() == []
    assert client.child_sas() == []


@pytest.mark.lab
def test_teardown_leaves_nothing_behind(tmp_path: Path, pki: Pki) -> None:
    with open_lab(tmp_path) as lab:
        server = lab.add_peer("server", extra_files=server_files(pki))
        server.start()
        pid = server.pid
        prefix = lab.netns_name("")
        # The peer sees its own /run and resolv.conf, never the host's.
        assert server.run("stat", "-f", "-c", "%T", "/run").stdout.strip() == "tmpfs"
        assert server.run("cat", "/etc/resolv.conf").stdout == ""
        assert (server.dir / "etc/resolv.conf").exists()
        # A helper left running inside the namespace must not survive either.
        straggler = server.popen("sleep", "300")
    assert straggler.poll() is not None
    assert not Path(f"/proc/{pid}").exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert prefix not in netns
    assert prefix not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.lab
def test_stale_namespaces_of_dead_runs_are_removed() -> None:
    require_lab()
    stale = f"{NS_PREFIX}{secrets.token_hex(3)}-server"  # no owner marker: as after a SIGKILLed run
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in cleanup_stale()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert stale not in netns


def test_prepare_peer_etc_layers_host_root_and_extra_files(tmp_path: Path) -> None:
    if not Path("/etc/strongswan.d").is_dir():
        pytest.skip("strongSwan is not installed")
    root = tmp_path / "root"
    (root / "etc/strongswan.d").mkdir(parents=True)
    (root / "etc/strongswan.d/swan-wizard.conf").write_text("charon { }\n")
    (root / "etc/swanctl/conf.d").mkdir(parents=True)
    (root / "etc/swanctl/conf.d/swan-wizard.conf").write_text("connections { }\n")
    peer = prepare_peer_etc(tmp_path / "peer", root, {"/etc/swanctl/private/k.pem": b"key",
                                                       "/etc/swanctl/conf.d/swan-wizard.conf": "override"})
    etc = peer / "etc"
    assert (etc / "strongswan.conf").read_bytes() == Path("/etc/strongswan.conf").read_bytes()
    assert (etc / "strongswan.d/charon").is_dir()  # the host's plugin snippets
    assert (etc / "strongswan.d/swan-wizard.conf").read_text() == "charon { }\n"
    assert (etc / "swanctl/conf.d/swan-wizard.conf").read_text() == "override"
    assert (etc / "swanctl/private/k.pem").stat().st_mode & 0o077 == 0
    assert (etc / "ipsec.secrets").is_file() and (etc / "ipsec.d/cacerts").is_dir()
    snippet = (etc / "strongswan.d" / LAB_SNIPPET_NAME).read_text()
    assert "kernel-libipsec" in snippet and str(peer / "charon.log") in snippet
    # Later strongswan.d files win, so the lab's snippet must sort after the product's.
    assert sorted(p.name for p in (etc / "strongswan.d").glob("*.conf"))[-1] == LAB_SNIPPET_NAME
    with pytest.raises(ValueError):
        prepare_peer_etc(tmp_path / "bad", None, {"/usr/lib/x": b""})

