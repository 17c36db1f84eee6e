"""Whether existing certificates can be reused: each function lists why one does not fit the answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from wizard.pki.issue import CLIENT_USAGES, HOST_USAGES, IKE_INTERMEDIATE, utc
from wizard.pki.keys import AnyKey, public_keys_equal
from wizard.pki.names import client_san, format_dn, general_name_text, host_san, name_key


def _validity_problems(cert: x509.Certificate, now: datetime | None) -> list[str]:
    moment = utc(now)
    if moment > cert.not_valid_after_utc:
        return [f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}"]
    if moment < cert.not_valid_before_utc:
        return [f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"]
    return []


def _issuer_problems(cert: x509.Certificate, ca_cert: x509.Certificate) -> list[str]:
    if cert.issuer != ca_cert.subject:
        return [f"issuer is '{format_dn(cert.issuer)}', not the CA '{format_dn(ca_cert.subject)}'"]
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return ["signature does not verify with the CA's public key (issued by another CA of the same name)"]
    return []


def _key_problems(cert: x509.Certificate, key: AnyKey) -> list[str]:
    if public_keys_equal(cert.public_key(), key):
        return []
    return ["public key does not match the private key"]


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


_EKU_LABELS = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    IKE_INTERMEDIATE: "ikeIntermediate",
}


def _eku_problems(cert: x509.Certificate, required: Sequence[ObjectIdentifier]) -> list[str]:
    eku = _extension(cert, x509.ExtendedKeyUsage)
    present = set(eku) if isinstance(eku, x509.ExtendedKeyUsage) else set()
    return [f"extendedKeyUsage lacks {_EKU_LABELS[oid]}" for oid in required if oid not in present]


def _digital_signature_problems(cert: x509.Certificate) -> list[str]:
    usage = _extension(cert, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.digital_signature:
        return ["keyUsage lacks digitalSignature"]
    return []


def _san_problems(cert: x509.Certificate, expected: list[x509.GeneralName]) -> list[str]:
    wanted = {name_key(entry): general_name_text(entry) for entry in expected}
    try:
        actual_entries = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        actual_entries = []
    actual = {name_key(entry): general_name_text(entry) for entry in actual_entries}
    problems: list[str] = []
    missing = [text for key, text in wanted.items() if key not in actual]
    extra = [text for key, text in actual.items() if key not in wanted]
    if missing:
        problems.append(f"subjectAltName lacks {', '.join(missing)}")
    if extra:
        problems.append(f"subjectAltName has unexpected {', '.join(extra)}")
    return problems


def host_cert_problems(
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    key: AnyKey,
    address: str,
    alt_names: Sequence[str],
    now: datetime | None = None,
) -> list[str]:
    """Why an existing server certificate does not fit the answers; empty when it can be reused."""
    try:
        expected = host_san(address, alt_names)
    except ValueError as exc:
        return [f"subjectAltName cannot be checked: {exc}"]
    return [
        *_issuer_problems(cert, ca_cert),
        *_key_problems(cert, key),
        *_san_problems(cert, expected),
        *_eku_problems(cert, HOST_USAGES),
        *_digital_signature_problems(cert),
        *_validity_problems(cert, now),
    ]


def client_cert_problems(
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    key: AnyKey,
    name: str,
    now: datetime | None = None,
) -> list[str]:
    """Why an existing client certificate does not fit the answers; empty when it can be reused."""
    try:
        expected = client_san(name)
    except ValueError as exc:
        return [f"subjectAltName cannot be checked: {exc}"]
    return [
        *_issuer_problems(cert, ca_cert),
        *_key_problems(cert, key),
        *_san_problems(cert, expected),
        *_eku_problems(cert, CLIENT_USAGES),
        *_digital_signature_problems(cert),
        *_validity_problems(cert, now),
    ]


def ca_cert_problems(cert: x509.Certificate, key: AnyKey, dn: x509.Name, now: datetime | None = None) -> list[str]:
    """Why an existing CA certificate does not fit the answers; empty when it can be reused."""
    problems: list[str] = []
    if cert.subject != dn:
        problems.append(f"subject is '{format_dn(cert.subject)}', expected '{format_dn(dn)}'")
    problems += _key_problems(cert, key)
    constraints = _extension(cert, x509.BasicConstraints)
    if not (isinstance(constraints, x509.BasicConstraints) and constraints.ca):
        problems.append("basicConstraints does not mark it as a CA")
    usage = _extension(cert, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.key_cert_sign:
        problems.append("keyUsage lacks keyCertSign")
    problems += _validity_problems(cert, now)
    return problems

