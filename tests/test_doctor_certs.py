"""Certificate findings, each from a root where the problem was made for real (apply, then break)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from doctor_support import (
    BASE,
    apply_root,
    codes,
    custom_host_cert,
    doctor,
    host_key,
    load_ca,
    one,
    write_answers,
)

from wizard.pki import encode, issue, keys, names
from wizard.pki.keytypes import KeyType


@pytest.fixture(scope="module")
def base_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("base")
    return apply_root(directory / "root", write_answers(directory))


@pytest.fixture
def root(base_root: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "root"
    shutil.copytree(base_root, copy, symlinks=True)
    return copy


def test_a_fresh_root_has_no_certificate_problem(root: Path, tmp_path: Path) -> None:
    report = doctor(root, write_answers(tmp_path))
    assert codes(report, "certificates") == set()
    assert one(report, "cert.ok").severity == "ok"


def test_san_lacks_the_address_clients_dial_and_apply_fixes_it(root: Path, tmp_path: Path) -> None:
    # Applied for vpn.example.com; clients are told to dial 203.0.113.7 (the saved answers now say so).
    answers = write_answers(tmp_path, BASE.replace("vpn.example.com}", "vpn.example.com, alt_names: [203.0.113.7]}"))
    report = doctor(root, answers)
    finding = one(report, "cert.san-missing")
    assert finding.severity == "error" and report.exit_code == 1
    assert finding.data["name"] == "203.0.113.7"
    assert set(finding.data["refused_by"]) == {"Windows", "strongSwan clients (Android app, NetworkManager, Linux)"}
    assert "altNames: dns:vpn.example.com" in finding.evidence[0].text
    assert finding.evidence[0].where.endswith("/etc/swanctl/x509/vpn-host.pem")
    assert finding.command == f"swan-wizard apply {answers} --root {root}"
    # The fix as named: apply with those answers re-issues the certificate (same key), and the finding goes.
    key_before = (root / "etc/swanctl/private/vpn-host.key").read_bytes()
    apply_root(root, answers)
    assert (root / "etc/swanctl/private/vpn-host.key").read_bytes() == key_before
    assert "cert.san-missing" not in codes(doctor(root, answers))


def test_server_address_changed_in_the_answers(root: Path, tmp_path: Path) -> None:
    """Applied with one address, checked with another: the certificate and the identity are stale."""
    answers = write_answers(tmp_path, BASE.replace("vpn.example.com", "198.51.100.20"))
    report = doctor(root, answers)
    assert one(report, "cert.san-missing").data["name"] == "198.51.100.20"
    drift = report.by_code("cert.identity-differs-from-answers")
    assert drift and drift[0].severity == "warning" and "'vpn.example.com'" in drift[0].message
    apply_root(root, answers)
    assert not codes(doctor(root, answers), "certificates")


def test_san_from_the_connection_identity_without_answers(root: Path) -> None:
    """Without --answers, what clients dial is the connection's local id; applied roots fit it."""
    assert "cert.san-missing" not in codes(doctor(root))
    conf = root / "etc/swanctl/conf.d/swan-wizard.conf"
    conf.write_text(conf.read_text().replace("id = vpn.example.com", "id = vpn.other.example"))
    report = doctor(root)
    san = [f for f in report.findings if f.code == "cert.san-missing"]
    assert san and san[0].data["name"] == "vpn.other.example"
    identity = report.by_code("cert.identity-not-in-certificate")[0]
    # The evidence points at the line of the identity in the connection file.
    assert identity.evidence[0].where.startswith("/etc/swanctl/conf.d/swan-wizard.conf:")
    assert identity.evidence[0].text == "id = vpn.other.example"


def test_ip_only_as_ip_entry_is_refused_by_windows(root: Path, tmp_path: Path) -> None:
    custom_host_cert(root, [x509.DNSName("vpn.example.com"), x509.IPAddress(ipaddress.ip_address("203.0.113.7"))])
    answers = write_answers(tmp_path, BASE.replace("vpn.example.com}", "vpn.example.com, alt_names: [203.0.113.7]}"))
    finding = one(doctor(root, answers), "cert.san-missing")
    assert finding.data["refused_by"] == ["Windows"]
    assert "IP and a DNS entry" in finding.message


def test_expired_host_certificate_and_apply_renews_it(root: Path, tmp_path: Path) -> None:
    answers = write_answers(tmp_path)
    ca_key, ca = load_ca(root)
    expired = issue.issue_host(ca_key, ca, host_key(root).public_key(), "vpn.example.com", [], 30,
                             now=datetime.now(UTC) - timedelta(days=400))
    (root / "etc/swanctl/x509/vpn-host.pem").write_bytes(encode.cert_to_pem(expired))
    finding = one(doctor(root, answers), "cert.host-expired")
    assert finding.severity == "error"
    assert any(e.text.startswith("validity:") for e in finding.evidence)
    apply_root(root, answers)
    assert not codes(doctor(root, answers), "certificates")


def test_not_yet_valid_and_expiring_soon(root: Path, tmp_path: Path) -> None:
    ca_key, ca = load_ca(root)
    future = issue.issue_host(ca_key, ca, host_key(root).public_key(), "vpn.example.com", [], 30,
                            now=datetime.now(UTC) + timedelta(days=3))
    (root / "etc/swanctl/x509/vpn-host.pem").write_bytes(encode.cert_to_pem(future))
    assert one(doctor(root), "cert.host-not-yet-valid").severity == "error"
    soon = issue.issue_host(ca_key, ca, host_key(root).public_key(), "vpn.example.com", [], 10)
    (root / "etc/swanctl/x509/vpn-host.pem").write_bytes(encode.cert_to_pem(soon))
    assert one(doctor(root), "cert.host-expiring").severity == "warning"


def test_key_that_does_not_match_the_certificate(root: Path, tmp_path: Path) -> None:
    answers = write_answers(tmp_path)
    other = keys.generate_key(KeyType.RSA_2048)
    (root / "etc/swanctl/private/vpn-host.key").write_bytes(encode.key_to_pem(other))
    finding = one(doctor(root, answers), "cert.key-mismatch")
    assert finding.severity == "error" and "no private key found" in finding.message
    assert finding.evidence[0].where.endswith("/etc/swanctl/private/vpn-host.key")
    apply_root(root, answers)  # re-issues the certificate for the key that is there
    assert "cert.key-mismatch" not in codes(doctor(root, answers))


def test_a_key_of_a_kind_the_wizard_never_makes_is_only_another_key(root: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa

    # An old DSA key left in private/ beside the host key: compared like any other key, never a crash.
    old = dsa.generate_private_key(2048).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption())
    (root / "etc/swanctl/private/old-dsa.key").write_bytes(old)
    assert codes(doctor(root, write_answers(tmp_path)), "certificates") == set()


def test_certificate_from_another_ca(root: Path, tmp_path: Path) -> None:
    rogue_key = keys.generate_key(KeyType.ECDSA_P256)
    # Same name as the real CA: only the signature tells them apart.
    rogue = issue.issue_ca(rogue_key, names.parse_dn("C=CH, O=strongSwan, CN=strongSwan Root CA"), 365)
    cert = issue.issue_host(rogue_key, rogue, host_key(root).public_key(), "vpn.example.com", [], 30)
    (root / "etc/swanctl/x509/vpn-host.pem").write_bytes(encode.cert_to_pem(cert))
    finding = one(doctor(root), "cert.chain")
    assert finding.severity == "error"
    assert any(e.where.endswith("/etc/swanctl/x509ca/swan-wizard-ca.pem") for e in finding.evidence)


def test_missing_extended_key_usages(root: Path) -> None:
    custom_host_cert(root, [x509.DNSName("vpn.example.com")], ekus=[])
    report = doctor(root)
    assert one(report, "cert.eku-server-auth").severity == "error"
    assert one(report, "cert.eku-ike-intermediate").severity == "warning"
    custom_host_cert(root, [x509.DNSName("vpn.example.com")], ekus=[ExtendedKeyUsageOID.SERVER_AUTH])
    report = doctor(root)
    assert not report.by_code("cert.eku-server-auth")
    assert one(report, "cert.eku-ike-intermediate").severity == "warning"


def test_ecdsa_server_certificate_with_apple_clients(tmp_path: Path) -> None:
    answers = write_answers(tmp_path, BASE.replace("host: {key: rsa-2048}", "host: {key: ecdsa-p256}"))
    root = apply_root(tmp_path / "root", answers)
    assert list((root / "etc/swan-wizard/clients").glob("*/*.mobileconfig")), "Apple profiles are generated"
    finding = one(doctor(root, answers), "cert.apple-non-rsa")
    assert finding.severity == "warning" and "ecdsa-p256" in finding.message
    assert "host.key: rsa-3072" in finding.fix


def test_client_certificates(root: Path) -> None:
    folder = root / "etc/swan-wizard/clients/alice@example.com"
    ca_key, ca = load_ca(root)
    key = encode.load_key_pem((folder / "key.pem").read_bytes())
    old = issue.issue_client(ca_key, ca, key.public_key(), "alice@example.com", 1,
                           now=datetime.now(UTC) - timedelta(days=10))
    (folder / "cert.pem").write_bytes(encode.cert_to_pem(old))
    assert one(doctor(root), "cert.client-expired").severity == "warning"
    rogue_key = keys.generate_key(KeyType.ECDSA_P256)
    rogue = issue.issue_ca(rogue_key, names.parse_dn("CN=Rogue CA"), 30)
    (folder / "cert.pem").write_bytes(encode.cert_to_pem(issue.issue_client(rogue_key, rogue, key.public_key(),
                                                                       "alice@example.com", 30)))
    assert one(doctor(root), "cert.client-chain").severity == "error"


def test_legacy_layout_is_checked_the_same_way(tmp_path: Path) -> None:
    answers = write_answers(tmp_path, BASE.replace("version: 1\n", "version: 1\nlayout: ipsec\n"))
    root = apply_root(tmp_path / "root", answers)
    assert not codes(doctor(root, answers), "certificates")
    other = write_answers(tmp_path, BASE.replace("version: 1\n", "version: 1\nlayout: ipsec\n")
                          .replace("vpn.example.com", "vpn.moved.example"), "moved.yaml")
    finding = doctor(root, other).by_code("cert.san-missing")[0]
    assert finding.evidence[0].where.endswith("/etc/ipsec.d/certs/vpn-host.pem")
    (root / "etc/ipsec.d/private/vpn-host.key").write_bytes(encode.key_to_pem(keys.generate_key(KeyType.RSA_2048)))
    assert one(doctor(root, answers), "cert.key-mismatch").severity == "error"
