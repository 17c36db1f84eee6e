"""Tests for wizard.pki: every certificate is parsed back, and strongSwan's own `pki` tool must accept it."""

from __future__ import annotations

import ast
import ipaddress
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from wizard.pki import bundles, encode, issue, names, pool, reuse
from wizard.pki import keys as key_module
from wizard.pki.encode import cert_to_pem, crl_to_pem, key_to_pem, load_cert_pem, load_key_pem, pkcs12_bundle
from wizard.pki.issue import IKE_INTERMEDIATE, issue_ca, issue_client, issue_crl, issue_host
from wizard.pki.keys import (
    PrivateKey,
    generate_key,
    generate_keys,
    key_type_of,
    pool_workers,
    public_keys_equal,
    signature_hash,
)
from wizard.pki.keytypes import KeyType
from wizard.pki.names import DNError, dn_value, format_dn, host_dn, parse_dn, san_names
from wizard.pki.reuse import ca_cert_problems, client_cert_problems, host_cert_problems

CA_DN_TEXT = "C=CH, O=strongSwan, CN=strongSwan Root CA"
NOW = datetime.now(UTC).replace(microsecond=0)
ALL_KINDS = list(KeyType)
# Each key type once as issuer and once as subject (the subject list is rotated by one).
PAIRS = list(zip(ALL_KINDS, ALL_KINDS[1:] + ALL_KINDS[:1], strict=True))

needs_pki = pytest.mark.skipif(shutil.which("pki") is None, reason="strongSwan's pki tool is not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


# ---------------------------------------------------------------------------------------------------------
# Fixtures: expensive keys once per module
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> dict[KeyType, PrivateKey]:
    return {kind: generate_key(kind) for kind in ALL_KINDS}


@pytest.fixture(scope="module")
def other_keys() -> dict[KeyType, PrivateKey]:
    """Second keys of the cheap types, for mismatch tests."""
    return {kind: generate_key(kind) for kind in (KeyType.RSA_2048, KeyType.ECDSA_P256, KeyType.ED25519)}


@pytest.fixture(scope="module")
def ca_dn() -> x509.Name:
    return parse_dn(CA_DN_TEXT)


@pytest.fixture(scope="module")
def cas(keys: dict[KeyType, PrivateKey], ca_dn: x509.Name) -> dict[KeyType, x509.Certificate]:
    return {kind: issue_ca(keys[kind], ca_dn, 3650, now=NOW) for kind in ALL_KINDS}


@pytest.fixture
def tmp_pem(tmp_path: Path):
    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


def run_pki(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # pki prints TPM plugin noise on stderr; only stdout and the exit code matter.
    return subprocess.run(["pki", *map(str, args)], capture_output=True, text=True, timeout=30)


def ext(cert: x509.Certificate | x509.CertificateRevocationList, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


# ---------------------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_generate_key_gives_the_asked_type(keys: dict[KeyType, PrivateKey], kind: KeyType) -> None:
    key = keys[kind]
    assert key_type_of(key) is kind
    assert key_type_of(key.public_key()) is kind
    if kind.is_rsa:
        assert isinstance(key, rsa.RSAPrivateKey)
        assert key.key_size == kind.rsa_bits
        assert key.public_key().public_numbers().e == 65537


def test_generate_key_accepts_the_string_value() -> None:
    assert key_type_of(generate_key("ecdsa-p384")) is KeyType.ECDSA_P384  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: rsa.generate_private_key(65537, 1024), "RSA key size 1024"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "curve secp521r1"),
        (lambda: ed448.Ed448PrivateKey.generate(), "key type"),
    ],
)
def test_key_type_of_rejects_unsupported_keys(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        key_type_of(make())


def test_signature_hash_per_key_type(keys: dict[KeyType, PrivateKey]) -> None:
    expected = {
        KeyType.RSA_2048: hashes.SHA256,
        KeyType.RSA_3072: hashes.SHA256,
        KeyType.RSA_4096: hashes.SHA256,
        KeyType.ECDSA_P256: hashes.SHA256,
        KeyType.ECDSA_P384: hashes.SHA384,
    }
    for kind, key in keys.items():
        digest = signature_hash(key)
        if kind is KeyType.ED25519:
            assert digest is None
        else:
            assert isinstance(digest, expected[kind]), kind


def test_public_keys_equal(keys: dict[KeyType, PrivateKey], other_keys: dict[KeyType, PrivateKey]) -> None:
    key = keys[KeyType.ECDSA_P256]
    assert public_keys_equal(key, key.public_key())
    assert public_keys_equal(key.public_key(), key)
    assert not public_keys_equal(key, other_keys[KeyType.ECDSA_P256])
    assert not public_keys_equal(key, keys[KeyType.ECDSA_P384])


# ---------------------------------------------------------------------------------------------------------
# generate_keys
# ---------------------------------------------------------------------------------------------------------

# Enough RSA work to be worth the pool; the cheap keys in between check the ordering.
POOL_KINDS = [KeyType.RSA_3072, KeyType.ED25519, KeyType.RSA_3072, KeyType.ECDSA_P256, KeyType.RSA_2048]


def test_pool_workers_decision() -> None:
    assert pool_workers(POOL_KINDS, workers=2) == 2
    assert pool_workers(POOL_KINDS, workers=1) == 0
    assert pool_workers([KeyType.ED25519] * 50, workers=4) == 0  # microseconds each
    assert pool_workers([KeyType.RSA_4096], workers=4) == 0  # one key cannot be split
    assert pool_workers([KeyType.RSA_2048, KeyType.RSA_2048], workers=2) == 0  # cheaper than the start-up
    assert pool_workers([KeyType.RSA_4096, KeyType.RSA_2048], workers=2) == 0  # the big key bounds it anyway
    assert pool_workers([KeyType.RSA_4096, KeyType.RSA_4096], workers=2) == 2
    assert pool_workers([KeyType.RSA_4096, KeyType.RSA_4096], workers=0) == 0
    assert pool_workers([KeyType.RSA_3072] * 3, workers=8) == 3  # no idle workers


def test_generate_keys_with_workers_uses_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_here(kind: KeyType) -> PrivateKey:
        raise AssertionError("generate_key ran in the calling process")

    # The worker processes import wizard.pki afresh, so only an in-process generation would hit this.
    monkeypatch.setattr(key_module, "generate_key", not_here)
    calls: list[tuple[int, int, int]] = []
    result = generate_keys(
        POOL_KINDS, progress=lambda done, total: calls.append((done, total, threading.get_ident())), workers=2
    )
    assert [key_type_of(key) for key in result] == POOL_KINDS
    assert [(done, total) for done, total, _ in calls] == [(n, 5) for n in range(1, 6)]
    assert {ident for _, _, ident in calls} == {threading.get_ident()}
    assert len({key_to_pem(key) for key in result}) == len(result)


def test_generate_keys_in_process_for_small_batches() -> None:
    kinds = [KeyType.ECDSA_P256, KeyType.ED25519, KeyType.ECDSA_P384, KeyType.RSA_2048]
    calls: list[tuple[int, int]] = []
    result = generate_keys(kinds, progress=lambda done, total: calls.append((done, total)), workers=1)
    assert [key_type_of(key) for key in result] == kinds
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert generate_keys([]) == []


def test_generate_keys_falls_back_when_no_pool_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: object, **kwargs: object) -> None:
        raise OSError("no /dev/shm")

    monkeypatch.setattr(pool, "ProcessPoolExecutor", no_pool)
    monkeypatch.setattr(key_module, "_KEY_COST", {kind: 5 for kind in KeyType})  # force the pool path cheaply
    calls: list[tuple[int, int]] = []
    kinds = [KeyType.ED25519, KeyType.ECDSA_P256]
    result = generate_keys(kinds, progress=lambda done, total: calls.append((done, total)), workers=2)
    assert [key_type_of(key) for key in result] == kinds
    assert calls == [(1, 2), (2, 2)]


def test_generate_keys_finishes_in_process_when_workers_die(monkeypatch: pytest.MonkeyPatch) -> None:
    class DeadPool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.submitted = 0

        def submit(self, fn, chunk: list[KeyType]) -> Future[list[bytes]]:
            future: Future[list[bytes]] = Future()
            self.submitted += 1
            if self.submitted == 1:  # the first key arrives, then the pool breaks
                future.set_result(fn(chunk))
            else:
                future.set_exception(BrokenProcessPool("killed"))
            return future

        def shutdown(self, wait: bool, cancel_futures: bool) -> None:
            pass

    monkeypatch.setattr(pool, "ProcessPoolExecutor", DeadPool)
    monkeypatch.setattr(key_module, "_KEY_COST", {kind: 5 for kind in KeyType})
    calls: list[tuple[int, int]] = []
    kinds = [KeyType.ECDSA_P384, KeyType.ED25519, KeyType.ECDSA_P256]
    result = generate_keys(kinds, progress=lambda done, total: calls.append((done, total)), workers=2)
    assert [key_type_of(key) for key in result] == kinds
    assert calls == [(1, 3), (2, 3), (3, 3)]


# ---------------------------------------------------------------------------------------------------------
# Distinguished names
# ---------------------------------------------------------------------------------------------------------


def test_parse_dn_keeps_the_given_order() -> None:
    name = parse_dn(CA_DN_TEXT)
    assert [(attr.oid, attr.value) for attr in name] == [
        (NameOID.COUNTRY_NAME, "CH"),
        (NameOID.ORGANIZATION_NAME, "strongSwan"),
        (NameOID.COMMON_NAME, "strongSwan Root CA"),
    ]
    assert len(name.rdns) == 3


def test_parse_dn_every_attribute() -> None:
    text = (
        "C=CH, ST=Zurich, L=Rapperswil, O=strongSwan, OU=VPN, CN=ca, E=ca@example.com, DC=example,"
        " SN=Smith, GN=John, serialNumber=42"
    )
    name = parse_dn(text)
    assert [attr.oid for attr in name] == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
        NameOID.EMAIL_ADDRESS,
        NameOID.DOMAIN_COMPONENT,
        NameOID.SURNAME,
        NameOID.GIVEN_NAME,
        NameOID.SERIAL_NUMBER,
    ]
    # givenName is written "G" because that is what strongSwan prints and parses ("GN" it rejects).
    assert format_dn(name) == text.replace("GN=", "G=")
    assert parse_dn(format_dn(name)) == name


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("/C=CH/O=strongSwan/CN=strongSwan Root CA", CA_DN_TEXT),
        ("  c = ch ,o=strongSwan,   cn=strongSwan Root CA  ", CA_DN_TEXT),
        ("emailAddress=a@b.ch, Email=c@d.ch, e=e@f.ch", "E=a@b.ch, E=c@d.ch, E=e@f.ch"),
        ("G=John, gn=Jim, serialnumber=7", "G=John, G=Jim, serialNumber=7"),
        ('O="Acme, Inc.", CN=vpn', 'O="Acme, Inc.", CN=vpn'),
        ('CN="  padded  "', 'CN="  padded  "'),
        (r'CN="say \"hi\" \\ bye"', r'CN=say "hi" \ bye'),  # plain unless quoting is needed
        (r'CN="\"quoted\", \\ yes"', r'CN="\"quoted\", \\ yes"'),
        ('/O="a/b"/CN=x', "O=a/b, CN=x"),
        ("O=a/b, CN=x=y", "O=a/b, CN=x=y"),
        ('O=The "Best" Co', 'O=The "Best" Co'),
        ("CN=Zürich Ä", "CN=Zürich Ä"),
    ],
)
def test_parse_and_format_dn_round_trip(text: str, canonical: str) -> None:
    name = parse_dn(text)
    assert format_dn(name) == canonical
    assert parse_dn(canonical) == name


def test_quoted_value_keeps_comma_and_spaces() -> None:
    assert parse_dn('O="Acme, Inc.", CN="  x "').get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Acme, Inc."
    )
    assert parse_dn('CN="  x "').get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "  x "


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty distinguished name"),
        ("   ", "empty distinguished name"),
        ("XX=foo", "unknown attribute 'XX' in 'XX=foo'"),
        ("C=CH, XX=foo, CN=x", "unknown attribute 'XX' in 'XX=foo'"),
        ("C=CH, CN=", "empty value in 'CN='"),
        ('C=CH, CN=""', "empty value in 'CN=\"\"'"),
        ("C=CHE, CN=x", "country must be two letters in 'C=CHE'"),
        ("C=C1", "country must be two letters in 'C=C1'"),
        ("C=ÄB", "country must be two letters"),
        ("C=CH, foo", "missing '=' in 'foo'"),
        ("strongSwan Root CA", "missing '=' in 'strongSwan Root CA'"),
        ("C=CH,,CN=x", "empty part in"),
        ("C=CH, CN=x,", "empty part at the end"),
        ("/C=CH/CN=x/", "empty part at the end"),
        ('CN="abc', "unterminated quote in '\"abc'"),
        ('CN="a" b, O=x', "unexpected text after the closing quote"),
        ("CN=" + "x" * 65, "CN=xxx"),
        ("serialNumber=a_b", "serialNumber may only hold"),
        ("E=jürg@example.com", "only ASCII"),
        ("DC=exämple", "only ASCII"),
    ],
)
def test_parse_dn_errors(text: str, message: str) -> None:
    with pytest.raises(DNError) as info:
        parse_dn(text)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


# Any value a CN or O may hold: at most 64 characters, no control characters or lone surrogates.
_DN_VALUES = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=64)


@given(value=_DN_VALUES)
def test_dn_value_round_trips_through_parse_dn(value: str) -> None:
    """The public DN value formatter (the CA screen writes DNs with it) gives back exactly the value."""
    text = f"C=CH, O={dn_value(value)}, CN=x"
    name = parse_dn(text)
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == value
    assert format_dn(name) == text


def test_dn_value_quotes_only_when_it_must() -> None:
    assert dn_value("strongSwan Root CA") == "strongSwan Root CA"
    assert dn_value("Acme, Inc.") == '"Acme, Inc."'
    assert dn_value(' "x\\" ') == '" \\"x\\\\\\" "'


def test_format_dn_unknown_attribute_uses_the_oid() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.TITLE, "Boss"), x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    assert format_dn(name) == "2.5.4.12=Boss, CN=x"


def test_host_dn_takes_country_and_organisation(ca_dn: x509.Name) -> None:
    assert format_dn(host_dn(ca_dn, "vpn.example.com")) == "C=CH, O=strongSwan, CN=vpn.example.com"
    only_cn = parse_dn("CN=My CA")
    assert format_dn(host_dn(only_cn, "203.0.113.10")) == "CN=203.0.113.10"
    rich = parse_dn("O=Org, OU=Unit, C=DE, L=Berlin, CN=CA")
    assert format_dn(host_dn(rich, "h")) == "O=Org, C=DE, CN=h"


@needs_pki
def test_strongswan_reads_format_dn_output(tmp_pem, keys: dict[KeyType, PrivateKey]) -> None:
    """pki --self --dn parses our formatted DN into exactly the Name parse_dn builds."""
    text = (
        "C=CH, ST=Zurich, L=Rapperswil, O=strongSwan, OU=VPN, CN=ca, E=ca@example.com, DC=example,"
        " SN=Smith, GN=John, serialNumber=42"
    )
    name = parse_dn(text)
    key = tmp_pem("key.pem", key_to_pem(keys[KeyType.ECDSA_P256]))
    made = run_pki("--self", "--in", key, "--dn", format_dn(name), "--outform", "pem")
    assert made.returncode == 0, made.stdout
    assert load_cert_pem(made.stdout.encode()).subject == name


# ---------------------------------------------------------------------------------------------------------
# CA certificates
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_ca_certificate(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey], ca_dn: x509.Name, kind: KeyType
) -> None:
    cert = load_cert_pem(cert_to_pem(cas[kind]))
    key = keys[kind]
    assert cert.version is x509.Version.v3
    assert cert.subject == ca_dn
    assert cert.issuer == ca_dn
    assert public_keys_equal(cert.public_key(), key)
    assert cert.serial_number > 0
    assert cert.serial_number.bit_length() >= 64
    assert cert.not_valid_before_utc == NOW - issue.BACKDATE
    assert cert.not_valid_after_utc == NOW - issue.BACKDATE + timedelta(days=3650)

    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    assert constraints.value.path_length is None

    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature and not usage.value.key_encipherment

    ski = ext(cert, x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = ext(cert, x509.AuthorityKeyIdentifier)
    assert not aki.critical
    assert aki.value.key_identifier == ski.value.digest

    with pytest.raises(x509.ExtensionNotFound):  # reference §3.3: no EKU on the CA
        ext(cert, x509.ExtendedKeyUsage)
    assert {e.oid for e in cert.extensions} == {
        x509.BasicConstraints.oid,
        x509.KeyUsage.oid,
        x509.SubjectKeyIdentifier.oid,
        x509.AuthorityKeyIdentifier.oid,
    }
    assert san_names(cert) == []

    cert.verify_directly_issued_by(cert)
    expected_hash = signature_hash(key)
    if expected_hash is None:
        assert cert.signature_hash_algorithm is None
    else:
        assert isinstance(cert.signature_hash_algorithm, type(expected_hash))


def test_ca_serials_are_random(keys: dict[KeyType, PrivateKey], ca_dn: x509.Name) -> None:
    key = keys[KeyType.ED25519]
    assert issue_ca(key, ca_dn, 10).serial_number != issue_ca(key, ca_dn, 10).serial_number


def test_lifetime_must_be_positive(keys: dict[KeyType, PrivateKey], ca_dn: x509.Name) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        issue_ca(keys[KeyType.ED25519], ca_dn, 0)


def test_naive_now_is_utc(keys: dict[KeyType, PrivateKey], ca_dn: x509.Name) -> None:
    naive = datetime(2030, 1, 2, 3, 4, 5, 678)
    cert = issue_ca(keys[KeyType.ED25519], ca_dn, 1, now=naive)
    assert cert.not_valid_before_utc == datetime(2030, 1, 2, 2, 4, 5, tzinfo=UTC)


@needs_pki
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_strongswan_accepts_ca(tmp_pem, cas: dict[KeyType, x509.Certificate], kind: KeyType) -> None:
    path = tmp_pem("ca.pem", cert_to_pem(cas[kind]))
    printed = run_pki("--print", "--in", path)
    assert printed.returncode == 0, printed.stdout
    assert f'subject:  "{CA_DN_TEXT}"' in printed.stdout
    assert "flags:     CA CRLSign self-signed" in printed.stdout
    verified = run_pki("--verify", "--in", path, "--cacert", path)
    assert verified.returncode == 0, verified.stdout
    assert "certificate trusted" in verified.stdout


# ---------------------------------------------------------------------------------------------------------
# Host certificates
# ---------------------------------------------------------------------------------------------------------


def check_end_entity(
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    key: PrivateKey,
    usages: list[x509.ObjectIdentifier],
) -> None:
    """What host and client certificates share: issuer, key, KU, EKU, SKI/AKI, signature."""
    assert cert.version is x509.Version.v3
    assert cert.issuer == ca_cert.subject
    assert public_keys_equal(cert.public_key(), key)
    cert.verify_directly_issued_by(ca_cert)
    expected_hash = signature_hash(ca_key)
    if expected_hash is None:
        assert cert.signature_hash_algorithm is None
    else:
        assert isinstance(cert.signature_hash_algorithm, type(expected_hash))

    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False

    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    # keyEncipherment only makes sense for RSA keys.
    assert usage.value.key_encipherment is isinstance(key, rsa.RSAPrivateKey)
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.content_commitment)

    eku = ext(cert, x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == usages

    assert not ext(cert, x509.SubjectAlternativeName).critical
    ski = ext(cert, x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = ext(cert, x509.AuthorityKeyIdentifier)
    assert not aki.critical
    assert aki.value.key_identifier == ext(ca_cert, x509.SubjectKeyIdentifier).value.digest
    assert len(list(cert.extensions)) == 6


@pytest.mark.parametrize("ca_kind, host_kind", PAIRS)
def test_host_certificate(
    cas: dict[KeyType, x509.Certificate],
    keys: dict[KeyType, PrivateKey],
    ca_kind: KeyType,
    host_kind: KeyType,
) -> None:
    ca_cert, ca_key, key = cas[ca_kind], keys[ca_kind], keys[host_kind]
    cert = issue_host(ca_key, ca_cert, key.public_key(), "vpn.example.com", ["alt.example.com"], 825, now=NOW)
    cert = load_cert_pem(cert_to_pem(cert))
    check_end_entity(cert, ca_cert, ca_key, key, [ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE])
    assert format_dn(cert.subject) == "C=CH, O=strongSwan, CN=vpn.example.com"
    assert san_names(cert) == ["dns:vpn.example.com", "dns:alt.example.com"]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=825)
    assert host_cert_problems(cert, ca_cert, key, "vpn.example.com", ["alt.example.com"]) == []


def test_ike_intermediate_is_not_cryptographys_ipsec_ike() -> None:
    assert IKE_INTERMEDIATE.dotted_string == "1.3.6.1.5.5.8.2.2"
    assert IKE_INTERMEDIATE != ExtendedKeyUsageOID.IPSEC_IKE


def test_host_ip_address_gets_both_san_types(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]
) -> None:
    ca_cert, ca_key = cas[KeyType.ECDSA_P256], keys[KeyType.ECDSA_P256]
    cert = issue_host(ca_key, ca_cert, keys[KeyType.RSA_2048], "203.0.113.10", ["vpn.example.com"], 825)
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("203.0.113.10")]
    assert san.get_values_for_type(x509.DNSName) == ["203.0.113.10", "vpn.example.com"]
    assert san_names(cert) == ["ip:203.0.113.10", "dns:203.0.113.10", "dns:vpn.example.com"]
    assert format_dn(cert.subject) == "C=CH, O=strongSwan, CN=203.0.113.10"


def test_host_ipv6_alt_name(cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]) -> None:
    ca_cert, ca_key = cas[KeyType.ED25519], keys[KeyType.ED25519]
    cert = issue_host(ca_key, ca_cert, keys[KeyType.ED25519], "vpn.example.com", ["2001:0DB8:0:0::10"], 825)
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv6Address("2001:db8::10")]
    # The dNSName form is the canonical (compressed) text, as clients type and print it.
    assert san.get_values_for_type(x509.DNSName) == ["vpn.example.com", "2001:db8::10"]


def test_host_san_has_no_duplicates(cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]) -> None:
    ca_cert, ca_key = cas[KeyType.ED25519], keys[KeyType.ED25519]
    alt_names = ["203.0.113.10", "VPN.example.com", "vpn.example.com", " 203.0.113.10 ", "other.example.com"]
    cert = issue_host(ca_key, ca_cert, keys[KeyType.ED25519], "vpn.example.com", alt_names, 825)
    assert san_names(cert) == [
        "dns:vpn.example.com",
        "ip:203.0.113.10",
        "dns:203.0.113.10",
        "dns:other.example.com",
    ]


@pytest.mark.parametrize("bad", ["bad name", "", "-x.-", "a..b", "jürg.example.com", "x" * 64 + ".com"])
def test_host_rejects_invalid_names(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey], bad: str
) -> None:
    ca_cert, ca_key = cas[KeyType.ED25519], keys[KeyType.ED25519]
    with pytest.raises(ValueError, match="not a valid DNS name"):
        issue_host(ca_key, ca_cert, keys[KeyType.ED25519], "vpn.example.com", [bad], 825)


def test_host_accepts_wildcard_and_single_label(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]
) -> None:
    ca_cert, ca_key = cas[KeyType.ED25519], keys[KeyType.ED25519]
    cert = issue_host(ca_key, ca_cert, keys[KeyType.ED25519], "gateway", ["*.example.com", "xn--zrich-kva.ch"], 9)
    assert san_names(cert) == ["dns:gateway", "dns:*.example.com", "dns:xn--zrich-kva.ch"]


def test_issuing_needs_the_matching_ca_key(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]
) -> None:
    with pytest.raises(ValueError, match="CA key does not belong"):
        issue_host(keys[KeyType.ED25519], cas[KeyType.ECDSA_P256], keys[KeyType.ED25519], "h", [], 9)
    with pytest.raises(ValueError, match="CA key does not belong"):
        issue_client(keys[KeyType.ED25519], cas[KeyType.ECDSA_P256], keys[KeyType.ED25519], "c", 9)


def test_end_entity_does_not_outlive_the_ca(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]
) -> None:
    ca_cert, ca_key = cas[KeyType.ED25519], keys[KeyType.ED25519]
    cert = issue_host(ca_key, ca_cert, keys[KeyType.ED25519], "h", [], 20_000, now=NOW)
    assert cert.not_valid_after_utc == ca_cert.not_valid_after_utc


@needs_pki
@pytest.mark.parametrize("ca_kind, host_kind", PAIRS)
def test_strongswan_accepts_host(
    tmp_pem, cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey], ca_kind, host_kind
) -> None:
    ca_cert, ca_key = cas[ca_kind], keys[ca_kind]
    cert = issue_host(ca_key, ca_cert, keys[host_kind], "203.0.113.10", ["vpn.example.com", "2001:db8::1"], 825)
    ca_path = tmp_pem("ca.pem", cert_to_pem(ca_cert))
    path = tmp_pem("host.pem", cert_to_pem(cert))
    printed = run_pki("--print", "--in", path)
    assert printed.returncode == 0, printed.stdout
    assert 'subject:  "C=CH, O=strongSwan, CN=203.0.113.10"' in printed.stdout
    # strongSwan 5.9.8 prints "ikeIntermediate"; older releases (the Arch Wiki) printed "iKEIntermediate".
    flags = next(line for line in printed.stdout.splitlines() if line.strip().startswith("flags:"))
    assert flags.split()[1:] == ["serverAuth", "ikeIntermediate"]
    alt = next(line for line in printed.stdout.splitlines() if line.strip().startswith("altNames:"))
    assert alt.split(None, 1)[1].strip() == ("203.0.113.10, 203.0.113.10, vpn.example.com, 2001:db8::1, 2001:db8::1")
    verified = run_pki("--verify", "--in", path, "--cacert", ca_path)
    assert verified.returncode == 0, verified.stdout
    assert "certificate trusted, lifetimes valid" in verified.stdout


@needs_openssl
def test_openssl_text_shows_both_san_types(
    tmp_pem, cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]
) -> None:
    ca_cert, ca_key = cas[KeyType.RSA_2048], keys[KeyType.RSA_2048]
    cert = issue_host(ca_key, ca_cert, keys[KeyType.RSA_2048], "vpn.example.com", ["203.0.113.10"], 825)
    path = tmp_pem("host.pem", cert_to_pem(cert))
    text = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-text"], capture_output=True, text=True, check=True
    ).stdout
    assert "DNS:vpn.example.com, IP Address:203.0.113.10, DNS:203.0.113.10" in text
    assert "TLS Web Server Authentication, 1.3.6.1.5.5.8.2.2" in text
    assert "Digital Signature, Key Encipherment" in text


# ---------------------------------------------------------------------------------------------------------
# Client certificates
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ca_kind, client_kind", PAIRS)
def test_client_certificate(
    cas: dict[KeyType, x509.Certificate],
    keys: dict[KeyType, PrivateKey],
    ca_kind: KeyType,
    client_kind: KeyType,
) -> None:
    ca_cert, ca_key, key = cas[ca_kind], keys[ca_kind], keys[client_kind]
    cert = issue_client(ca_key, ca_cert, key.public_key(), "alice@example.com", 730, now=NOW)
    cert = load_cert_pem(cert_to_pem(cert))
    check_end_entity(cert, ca_cert, ca_key, key, [ExtendedKeyUsageOID.CLIENT_AUTH])
    assert format_dn(cert.subject) == "C=CH, O=strongSwan, CN=alice@example.com"
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["alice@example.com"]
    assert san_names(cert) == ["email:alice@example.com"]
    assert client_cert_problems(cert, ca_cert, key, "alice@example.com") == []


@pytest.mark.parametrize("name", ["laptop", "alice.example.com", "bob_phone"])
def test_client_without_at_gets_a_dns_san(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey], name: str
) -> None:
    cert = issue_client(keys[KeyType.ED25519], cas[KeyType.ED25519], keys[KeyType.ED25519], name, 30)
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [name]
    assert san.get_values_for_type(x509.RFC822Name) == []
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name


@pytest.mark.parametrize("name", ["Alice Smith", "@example.com", "alice@", "a b@example.com", "x" * 65])
def test_client_rejects_unusable_names(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey], name: str
) -> None:
    with pytest.raises(ValueError):
        issue_client(keys[KeyType.ED25519], cas[KeyType.ED25519], keys[KeyType.ED25519], name, 30)


@needs_pki
@pytest.mark.parametrize("ca_kind, client_kind", PAIRS)
def test_strongswan_accepts_client(
    tmp_pem, cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey], ca_kind, client_kind
) -> None:
    cert = issue_client(keys[ca_kind], cas[ca_kind], keys[client_kind], "alice@example.com", 730)
    ca_path = tmp_pem("ca.pem", cert_to_pem(cas[ca_kind]))
    path = tmp_pem("client.pem", cert_to_pem(cert))
    printed = run_pki("--print", "--in", path)
    assert printed.returncode == 0, printed.stdout
    assert "altNames:  alice@example.com" in printed.stdout
    flags = next(line for line in printed.stdout.splitlines() if line.strip().startswith("flags:"))
    assert flags.split()[1:] == ["clientAuth"]
    verified = run_pki("--verify", "--in", path, "--cacert", ca_path)
    assert verified.returncode == 0, verified.stdout
    assert "certificate trusted" in verified.stdout


# ---------------------------------------------------------------------------------------------------------
# CRL
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [KeyType.RSA_2048, KeyType.ECDSA_P384, KeyType.ED25519])
def test_crl(cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey], kind: KeyType) -> None:
    ca_cert, ca_key = cas[kind], keys[kind]
    when = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    crl = issue_crl(ca_key, ca_cert, [(1234, when), (99, when + timedelta(days=1))], 7, now=NOW)
    crl = x509.load_pem_x509_crl(crl_to_pem(crl))
    assert crl.issuer == ca_cert.subject
    assert crl.is_signature_valid(ca_cert.public_key())
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + timedelta(days=7)
    revoked = crl.get_revoked_certificate_by_serial_number(1234)
    assert revoked is not None and revoked.revocation_date_utc == when
    assert crl.get_revoked_certificate_by_serial_number(99) is not None
    assert crl.get_revoked_certificate_by_serial_number(5) is None
    number = ext(crl, x509.CRLNumber)
    assert not number.critical and number.value.crl_number == int(NOW.timestamp())
    aki = ext(crl, x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier == ext(ca_cert, x509.SubjectKeyIdentifier).value.digest


def test_crl_number_can_be_given_and_list_empty(
    cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]
) -> None:
    crl = issue_crl(keys[KeyType.ED25519], cas[KeyType.ED25519], [], crl_number=17)
    assert ext(crl, x509.CRLNumber).value.crl_number == 17
    assert len(crl) == 0


@needs_pki
def test_strongswan_honours_the_crl(
    tmp_pem, cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]
) -> None:
    ca_cert, ca_key = cas[KeyType.ECDSA_P256], keys[KeyType.ECDSA_P256]
    revoked = issue_client(ca_key, ca_cert, keys[KeyType.ED25519], "eve@example.com", 30)
    kept = issue_client(ca_key, ca_cert, keys[KeyType.ED25519], "bob@example.com", 30)
    crl = issue_crl(ca_key, ca_cert, [(revoked.serial_number, datetime.now(UTC))])
    ca_path = tmp_pem("ca.pem", cert_to_pem(ca_cert))
    crl_path = tmp_pem("crl.pem", crl_to_pem(crl))
    printed = run_pki("--print", "--type", "crl", "--in", crl_path)
    assert printed.returncode == 0 and "1 revoked certificate" in printed.stdout
    bad = run_pki("--verify", "--in", tmp_pem("eve.pem", cert_to_pem(revoked)), "--cacert", ca_path, "--crl", crl_path)
    assert bad.returncode != 0
    good = run_pki("--verify", "--in", tmp_pem("bob.pem", cert_to_pem(kept)), "--cacert", ca_path, "--crl", crl_path)
    assert good.returncode == 0 and "certificate not revoked" in good.stdout


# ---------------------------------------------------------------------------------------------------------
# PKCS#12
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client_bundle_parts(cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]):
    ca_cert, ca_key = cas[KeyType.RSA_4096], keys[KeyType.RSA_4096]
    key = keys[KeyType.RSA_2048]
    cert = issue_client(ca_key, ca_cert, key, "alice@example.com", 730)
    return key, cert, ca_cert


def openssl_p12_info(path: Path, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "pkcs12", "-info", "-in", str(path), "-passin", f"pass:{password}", "-nodes"],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("encryption", ["legacy", "aes256"])
def test_pkcs12_loads_with_the_right_password_only(client_bundle_parts, encryption: str) -> None:
    key, cert, ca_cert = client_bundle_parts
    data = pkcs12_bundle("Alice's VPN", key, cert, ca_cert, b"s3cret", encryption)  # type: ignore[arg-type]
    loaded = pkcs12.load_pkcs12(data, b"s3cret")
    assert loaded.key is not None and public_keys_equal(loaded.key, key)
    assert loaded.cert is not None and loaded.cert.certificate == cert
    assert loaded.cert.friendly_name == b"Alice's VPN"
    assert [extra.certificate for extra in loaded.additional_certs] == [ca_cert]
    assert loaded.additional_certs[0].friendly_name == b"strongSwan Root CA"
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(data, b"wrong")


@needs_openssl
def test_pkcs12_legacy_is_3des_with_sha1_mac(tmp_pem, client_bundle_parts) -> None:
    key, cert, ca_cert = client_bundle_parts
    path = tmp_pem("alice.p12", pkcs12_bundle("alice", key, cert, ca_cert, b"pw"))
    info = openssl_p12_info(path, "pw")
    assert info.returncode == 0, info.stderr
    details = info.stderr  # openssl writes the -info lines to stderr
    assert "MAC: sha1, Iteration 2048" in details
    # Both the certificate bag and the key bag: Apple rejects RC2 or AES (reference §3.2).
    assert details.count("pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048") == 2
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in details
    assert "AES" not in details and "RC2" not in details
    # The friendly name is on the key bag (the attributes printed right before the key).
    key_attributes = info.stdout.split("-----BEGIN PRIVATE" " KEY-----")[0].rsplit("Bag Attributes", 1)[1]
    assert "friendlyName: alice" in key_attributes
    assert openssl_p12_info(path, "wrong").returncode != 0


@needs_openssl
def test_pkcs12_aes256_is_pbes2_with_sha256_mac(tmp_pem, client_bundle_parts) -> None:
    key, cert, ca_cert = client_bundle_parts
    path = tmp_pem("alice.p12", pkcs12_bundle("alice", key, cert, ca_cert, b"pw", "aes256"))
    info = openssl_p12_info(path, "pw")
    assert info.returncode == 0, info.stderr
    details = info.stderr
    assert "MAC: sha256" in details
    assert details.count("PBES2, PBKDF2, AES-256-CBC") == 2
    assert "PRF hmacWithSHA256" in details
    assert "TripleDES" not in details


def test_pkcs12_rejects_empty_password_and_unknown_encryption(client_bundle_parts) -> None:
    key, cert, ca_cert = client_bundle_parts
    with pytest.raises(ValueError, match="non-empty password"):
        pkcs12_bundle("a", key, cert, ca_cert, b"")
    with pytest.raises(ValueError, match="unknown PKCS#12 encryption"):
        pkcs12_bundle("a", key, cert, ca_cert, b"pw", "rc2")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [KeyType.ECDSA_P384, KeyType.ED25519])
def test_pkcs12_other_key_types(cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey], kind):
    cert = issue_client(keys[KeyType.ED25519], cas[KeyType.ED25519], keys[kind], "bob", 30)
    loaded = pkcs12.load_pkcs12(pkcs12_bundle("bob", keys[kind], cert, cas[KeyType.ED25519], b"pw"), b"pw")
    assert loaded.key is not None and public_keys_equal(loaded.key, keys[kind])


# ---------------------------------------------------------------------------------------------------------
# PEM
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_key_pem_round_trip(keys: dict[KeyType, PrivateKey], kind: KeyType) -> None:
    key = keys[kind]
    plain = key_to_pem(key)
    assert plain.startswith(b"-----BEGIN PRIVATE" b" KEY-----")
    assert public_keys_equal(load_key_pem(plain), key)
    assert key_to_pem(key, b"") == plain  # an empty passphrase means no encryption


def test_encrypted_key_pem(keys: dict[KeyType, PrivateKey]) -> None:
    key = keys[KeyType.ECDSA_P256]
    encrypted = key_to_pem(key, b"passphrase")
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE" b" KEY-----")
    assert public_keys_equal(load_key_pem(encrypted, b"passphrase"), key)
    with pytest.raises(ValueError, match="wrong passphrase"):
        load_key_pem(encrypted, b"nope")
    with pytest.raises(ValueError, match="encrypted and needs a passphrase"):
        load_key_pem(encrypted)
    with pytest.raises(ValueError, match="not encrypted, but a passphrase was given"):
        load_key_pem(key_to_pem(key), b"passphrase")
    with pytest.raises(ValueError, match="not a readable PEM private key"):
        load_key_pem(b"garbage")


def test_load_key_pem_rejects_unsupported_types() -> None:
    data = ed448.Ed448PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="unsupported private key type"):
        load_key_pem(data)


@needs_pki
@pytest.mark.parametrize("kind", [KeyType.RSA_2048, KeyType.ECDSA_P256, KeyType.ECDSA_P384, KeyType.ED25519])
def test_strongswan_reads_our_keys_and_we_read_its_keys(
    tmp_pem, keys: dict[KeyType, PrivateKey], kind: KeyType
) -> None:
    path = tmp_pem("key.pem", key_to_pem(keys[kind]))
    printed = run_pki("--print", "--type", "priv", "--in", path)
    assert printed.returncode == 0, printed.stdout
    label = {"rsa": "RSA", "ecdsa": "ECDSA", "ed25519": "ED25519"}[kind.value.split("-")[0]]
    assert f"privkey:   {label}" in printed.stdout
    # pki --gen writes the traditional formats ("BEGIN RSA/EC PRIVATE KEY"); the wizard must reuse those.
    gen_args = {
        KeyType.RSA_2048: ["--type", "rsa", "--size", "2048"],
        KeyType.ECDSA_P256: ["--type", "ecdsa", "--size", "256"],
        KeyType.ECDSA_P384: ["--type", "ecdsa", "--size", "384"],
        KeyType.ED25519: ["--type", "ed25519"],
    }[kind]
    generated = run_pki("--gen", *gen_args, "--outform", "pem")
    assert generated.returncode == 0
    assert key_type_of(load_key_pem(generated.stdout.encode())) is kind


def test_cert_pem_round_trip(cas: dict[KeyType, x509.Certificate]) -> None:
    cert = cas[KeyType.ED25519]
    data = cert_to_pem(cert)
    assert data.startswith(b"-----BEGIN CERTIFICATE-----")
    assert load_cert_pem(data) == cert
    with pytest.raises(ValueError, match="not a readable PEM certificate"):
        load_cert_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


# ---------------------------------------------------------------------------------------------------------
# san_names
# ---------------------------------------------------------------------------------------------------------


def test_san_names_renders_every_type(keys: dict[KeyType, PrivateKey]) -> None:
    key = keys[KeyType.ED25519]
    names = [
        x509.DNSName("a.example"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("fd00::1")),
        x509.RFC822Name("a@b.example"),
        x509.UniformResourceIdentifier("https://x.example/"),
        x509.DirectoryName(parse_dn("C=CH, CN=dir")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(parse_dn("CN=x"))
        .issuer_name(parse_dn("CN=x"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, None)
    )
    assert san_names(cert) == [
        "dns:a.example",
        "ip:10.0.0.1",
        "ip:fd00::1",
        "email:a@b.example",
        "uri:https://x.example/",
        "dirname:C=CH, CN=dir",
    ]


# ---------------------------------------------------------------------------------------------------------
# *_problems
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_setup(cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]):
    ca_cert, ca_key = cas[KeyType.ECDSA_P256], keys[KeyType.ECDSA_P256]
    key = keys[KeyType.RSA_2048]
    cert = issue_host(ca_key, ca_cert, key, "203.0.113.10", ["vpn.example.com"], 825, now=NOW)
    return ca_cert, ca_key, key, cert


def test_host_problems_none_for_a_fitting_cert(host_setup) -> None:
    ca_cert, _, key, cert = host_setup
    assert host_cert_problems(cert, ca_cert, key, "203.0.113.10", ["vpn.example.com"]) == []
    # Order and case of the names do not matter; the public key alone is enough.
    assert host_cert_problems(cert, ca_cert, key.public_key(), "VPN.example.com", ["203.0.113.10"]) == []


def test_host_problems_other_ca(host_setup, cas: dict[KeyType, x509.Certificate]) -> None:
    _, _, key, cert = host_setup
    other_ca = issue_ca(generate_key(KeyType.ED25519), parse_dn("CN=Other CA"), 10)
    assert host_cert_problems(cert, other_ca, key, "203.0.113.10", ["vpn.example.com"]) == [
        f"issuer is '{CA_DN_TEXT}', not the CA 'CN=Other CA'"
    ]
    # Same name, different key: only the signature tells them apart.
    impostor = cas[KeyType.ECDSA_P384]
    assert host_cert_problems(cert, impostor, key, "203.0.113.10", ["vpn.example.com"]) == [
        "signature does not verify with the CA's public key (issued by another CA of the same name)"
    ]


def test_host_problems_key_mismatch(host_setup, other_keys: dict[KeyType, PrivateKey]) -> None:
    ca_cert, _, _, cert = host_setup
    assert host_cert_problems(cert, ca_cert, other_keys[KeyType.RSA_2048], "203.0.113.10", ["vpn.example.com"]) == [
        "public key does not match the private key"
    ]


def test_host_problems_san(host_setup) -> None:
    ca_cert, _, key, cert = host_setup
    assert host_cert_problems(cert, ca_cert, key, "203.0.113.10", ["vpn.example.com", "new.example.com"]) == [
        "subjectAltName lacks dns:new.example.com"
    ]
    assert host_cert_problems(cert, ca_cert, key, "203.0.113.10", []) == [
        "subjectAltName has unexpected dns:vpn.example.com"
    ]
    assert host_cert_problems(cert, ca_cert, key, "198.51.100.7", ["vpn.example.com"]) == [
        "subjectAltName lacks ip:198.51.100.7, dns:198.51.100.7",
        "subjectAltName has unexpected ip:203.0.113.10, dns:203.0.113.10",
    ]
    assert host_cert_problems(cert, ca_cert, key, "bad name", []) == [
        "subjectAltName cannot be checked: 'bad name' is not a valid DNS name "
        "(internationalised names must be given as xn--)"
    ]


def test_host_problems_missing_ekus(host_setup) -> None:
    ca_cert, ca_key, key, _ = host_setup
    san = names.host_san("203.0.113.10", [])
    subject = host_dn(ca_cert.subject, "203.0.113.10")
    only_server = issue._issue_end_entity(ca_key, ca_cert, key, subject, san, [ExtendedKeyUsageOID.SERVER_AUTH], 30,
                                           None)
    assert host_cert_problems(only_server, ca_cert, key, "203.0.113.10", []) == [
        "extendedKeyUsage lacks ikeIntermediate"
    ]
    client_only = issue._issue_end_entity(ca_key, ca_cert, key, subject, san, [ExtendedKeyUsageOID.CLIENT_AUTH], 30,
                                           None)
    assert host_cert_problems(client_only, ca_cert, key, "203.0.113.10", []) == [
        "extendedKeyUsage lacks serverAuth",
        "extendedKeyUsage lacks ikeIntermediate",
    ]


def test_host_problems_validity(host_setup) -> None:
    ca_cert, _, key, cert = host_setup
    after = cert.not_valid_after_utc
    assert host_cert_problems(cert, ca_cert, key, "203.0.113.10", ["vpn.example.com"], now=after) == []
    later = after + timedelta(seconds=1)
    assert host_cert_problems(cert, ca_cert, key, "203.0.113.10", ["vpn.example.com"], now=later) == [
        f"the certificate expired on {after:%Y-%m-%d}"
    ]
    early = cert.not_valid_before_utc - timedelta(days=1)
    assert host_cert_problems(cert, ca_cert, key, "203.0.113.10", ["vpn.example.com"], now=early) == [
        f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    ]


def test_host_problems_key_usage_without_digital_signature(host_setup) -> None:
    ca_cert, ca_key, key, cert = host_setup
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(issue._key_usage(key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names.host_san("vpn.example.com", [])), critical=False)
    )
    odd = builder.sign(ca_key, hashes.SHA256())
    assert host_cert_problems(odd, ca_cert, key, "vpn.example.com", [], now=NOW) == ["keyUsage lacks digitalSignature"]


def test_host_problems_all_at_once(host_setup, other_keys: dict[KeyType, PrivateKey]) -> None:
    ca_cert, _, _, cert = host_setup
    problems = host_cert_problems(
        cert, ca_cert, other_keys[KeyType.RSA_2048], "vpn.example.com", [], now=NOW + timedelta(days=9000)
    )
    assert [problem.split(" ")[0] for problem in problems] == ["public", "subjectAltName", "the"]


@pytest.fixture(scope="module")
def client_setup(cas: dict[KeyType, x509.Certificate], keys: dict[KeyType, PrivateKey]):
    ca_cert, ca_key = cas[KeyType.ED25519], keys[KeyType.ED25519]
    key = keys[KeyType.ECDSA_P256]
    cert = issue_client(ca_key, ca_cert, key, "alice@example.com", 730, now=NOW)
    return ca_cert, ca_key, key, cert


def test_client_problems(
    client_setup, host_setup, other_keys: dict[KeyType, PrivateKey], cas: dict[KeyType, x509.Certificate]
) -> None:
    ca_cert, ca_key, key, cert = client_setup
    assert client_cert_problems(cert, ca_cert, key, "alice@example.com") == []
    assert client_cert_problems(cert, ca_cert, key, "ALICE@example.com") == []
    assert client_cert_problems(cert, ca_cert, key, "bob@example.com") == [
        "subjectAltName lacks email:bob@example.com",
        "subjectAltName has unexpected email:alice@example.com",
    ]
    assert client_cert_problems(cert, ca_cert, other_keys[KeyType.ECDSA_P256], "alice@example.com") == [
        "public key does not match the private key"
    ]
    assert client_cert_problems(cert, cas[KeyType.RSA_2048], key, "alice@example.com") == [
        "signature does not verify with the CA's public key (issued by another CA of the same name)"
    ]
    expired_at = cert.not_valid_after_utc + timedelta(days=1)
    assert client_cert_problems(cert, ca_cert, key, "alice@example.com", now=expired_at) == [
        f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    ]
    server = issue._issue_end_entity(
        ca_key,
        ca_cert,
        key,
        cert.subject,
        names.client_san("alice@example.com"),
        [ExtendedKeyUsageOID.SERVER_AUTH],
        30,
        None,
    )
    assert client_cert_problems(server, ca_cert, key, "alice@example.com") == ["extendedKeyUsage lacks clientAuth"]
    host_ca, _, host_key, host_cert = host_setup
    # A server certificate is no client certificate, even where one SAN happens to match.
    assert client_cert_problems(host_cert, host_ca, host_key, "203.0.113.10") == [
        "subjectAltName has unexpected ip:203.0.113.10, dns:vpn.example.com",
        "extendedKeyUsage lacks clientAuth",
    ]


def test_ca_problems(
    cas: dict[KeyType, x509.Certificate],
    keys: dict[KeyType, PrivateKey],
    other_keys: dict[KeyType, PrivateKey],
    ca_dn: x509.Name,
    host_setup,
) -> None:
    cert, key = cas[KeyType.ED25519], keys[KeyType.ED25519]
    assert ca_cert_problems(cert, key, ca_dn) == []
    assert ca_cert_problems(cert, key.public_key(), parse_dn(CA_DN_TEXT)) == []
    assert ca_cert_problems(cert, key, parse_dn("C=CH, O=strongSwan, CN=New CA")) == [
        f"subject is '{CA_DN_TEXT}', expected 'C=CH, O=strongSwan, CN=New CA'"
    ]
    # The same attributes in another order are a different DN.
    assert ca_cert_problems(cert, key, parse_dn("CN=strongSwan Root CA, O=strongSwan, C=CH")) == [
        f"subject is '{CA_DN_TEXT}', expected 'CN=strongSwan Root CA, O=strongSwan, C=CH'"
    ]
    assert ca_cert_problems(cert, other_keys[KeyType.ED25519], ca_dn) == ["public key does not match the private key"]
    expired_at = cert.not_valid_after_utc + timedelta(days=1)
    assert ca_cert_problems(cert, key, ca_dn, now=expired_at) == [
        f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    ]
    _, _, host_key, host_cert = host_setup
    assert ca_cert_problems(host_cert, host_key, host_cert.subject) == [
        "basicConstraints does not mark it as a CA",
        "keyUsage lacks keyCertSign",
    ]


def test_client_bundles_in_bulk_use_worker_processes_and_keep_order() -> None:
    ca_key = generate_key(KeyType.ECDSA_P256)
    ca = issue.issue_ca(ca_key, names.parse_dn("CN=Bulk CA"), 30)
    requests = [bundles.ClientRequest(f"c{i}@example.com", KeyType.ECDSA_P256, 30, b"pw") for i in range(130)]
    seen: list[int] = []
    made = bundles.issue_client_bundles(ca_key, ca, requests, progress=lambda done, total: seen.append(done),
                                    workers=2)
    assert seen[-1] == 130 and len(seen) > 2  # chunks came back one by one
    for request, issued in zip(requests, made, strict=True):
        cert = encode.load_cert_pem(issued.cert_pem)
        assert f"email:{request.name}" in names.san_names(cert)
        assert not reuse.client_cert_problems(cert, ca, encode.load_key_pem(issued.key_pem), request.name)
        bundle = pkcs12.load_pkcs12(issued.p12, b"pw")
        assert bundle.cert is not None and bundle.cert.certificate == cert


def test_client_bundles_finish_in_process_when_workers_die(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bundles share the key generation's pool helper, and so its fallback: what the pool did not deliver."""

    class DeadPool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.submitted = 0

        def submit(self, fn, chunk: list[bundles.ClientRequest]) -> Future[list[bundles.IssuedClient]]:
            future: Future[list[bundles.IssuedClient]] = Future()
            self.submitted += 1
            if self.submitted == 1:  # the first chunk arrives, then the pool breaks
                future.set_result(fn(chunk))
            else:
                future.set_exception(BrokenProcessPool("killed"))
            return future

        def shutdown(self, wait: bool, cancel_futures: bool) -> None:
            pass

    monkeypatch.setattr(pool, "ProcessPoolExecutor", DeadPool)
    ca_key = generate_key(KeyType.ED25519)
    ca = issue_ca(ca_key, parse_dn("CN=Bulk CA"), 30)
    requests = [bundles.ClientRequest(f"c{i}.example.com", KeyType.ED25519, 30, b"pw") for i in range(128)]
    seen: list[int] = []
    made = bundles.issue_client_bundles(ca_key, ca, requests, progress=lambda done, total: seen.append(done),
                                        workers=2)
    assert seen == sorted(set(seen)) and seen[-1] == 128  # the pool's chunk (if it came first), then the rest
    assert [san_names(load_cert_pem(issued.cert_pem)) for issued in made] == [[f"dns:{r.name}"] for r in requests]


def test_the_pki_package_reexports_nothing() -> None:
    """Callers import the module that owns a name (wizard.pki.keys.generate_key), never wizard.pki.x."""
    tree = ast.parse((Path(__file__).parent.parent / "wizard/pki/__init__.py").read_text())
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)  # the docstring alone


def test_workers_start_while_stderr_is_the_terminal_uis_capture(tmp_path: Path) -> None:
    """Under the terminal UI sys.stderr is Textual's capture, whose fileno() is -1: multiprocessing's resource
    tracker could not start ('bad value(s) in fds_to_keep') and a plan of many clients failed on the review
    screen. In a fresh process, as the UI is: the tracker starts only once per process."""
    script = tmp_path / "capture.py"
    script.write_text(
        "import sys\n"
        "class Capture:\n"
        "    def write(self, text): return len(text)\n"
        "    def flush(self): pass\n"
        "    def fileno(self): return -1\n"
        "if __name__ == '__main__':\n"
        "    from wizard.pki import keys, pool\n"
        "    from wizard.pki.keytypes import KeyType\n"
        "    real, sys.stderr = sys.stderr, Capture()\n"
        "    try:\n"
        "        made = pool.run_chunks([KeyType('ecdsa-p256')] * 4, workers=2, chunk_size=1,\n"
        "                               remote=keys._generate_chunk, accept=lambda w: w, local=lambda k: b'here',\n"
        "                               progress=None, what='test')\n"
        "    except Exception as exc:\n"
        "        sys.stderr = real\n"
        "        raise\n"
        "    print(sum(m != b'here' for m in made))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "4"  # made by the workers, none in-process
