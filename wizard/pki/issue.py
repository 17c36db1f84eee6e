"""Issuing certificates and CRLs: the CA, the VPN host, clients, shaped like strongSwan's own
``pki --self --ca`` / ``pki --issue`` output plus what Windows and Apple clients require (reference §1.0, §3).

Built on the ``cryptography`` library only, never the ``openssl`` or ``pki`` command line tools, so the
results do not depend on which tool versions a server has.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from wizard.pki.keys import AnyKey, PrivateKey, PublicKey, key_type_of, public_keys_equal, public_of, signature_hash
from wizard.pki.names import client_dn, client_san, host_dn, host_san

# "IP Security IKE Intermediate" as strongSwan's `pki --flag ikeIntermediate` writes it. Not the same as
# cryptography's ExtendedKeyUsageOID.IPSEC_IKE, which is RFC 4945's id-kp-ipsecIKE (1.3.6.1.5.5.7.3.17).
IKE_INTERMEDIATE = ObjectIdentifier("1.3.6.1.5.5.8.2.2")
HOST_USAGES = (ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE)
CLIENT_USAGES = (ExtendedKeyUsageOID.CLIENT_AUTH,)

# A fresh certificate starts this far in the past so that clients whose clock lags a little accept it at
# once; the lifetime is counted from this start, so Apple's 825-day limit still holds.
BACKDATE = timedelta(hours=1)


def utc(moment: datetime | None) -> datetime:
    """``moment`` (default: now) in UTC, to the second."""
    # Naive datetimes are taken as UTC, as cryptography does; certificates carry whole seconds.
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _validity(now: datetime | None, lifetime_days: int, limit: datetime | None = None) -> tuple[datetime, datetime]:
    if lifetime_days < 1:
        raise ValueError(f"lifetime must be at least one day, not {lifetime_days}")
    not_before = utc(now) - BACKDATE
    not_after = not_before + timedelta(days=lifetime_days)
    if limit is not None:
        # A certificate cannot be trusted beyond its issuer's lifetime, so do not promise more.
        not_after = min(not_after, limit)
    return not_before, not_after


def _key_usage(*, digital_signature: bool = False, key_encipherment: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    # Reuse the CA's own SKI so that chain building matches even for CAs made by other tools.
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        public = ca_cert.public_key()
        if not isinstance(public, PublicKey):  # callers matched it to the CA private key first
            raise ValueError("the CA certificate's key is of a kind the wizard does not sign with") from None
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(public)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _check_ca_pair(ca_key: PrivateKey, ca_cert: x509.Certificate) -> None:
    if not public_keys_equal(ca_key, ca_cert.public_key()):
        raise ValueError("the CA key does not belong to the CA certificate")


def issue_ca(key: PrivateKey, dn: x509.Name, lifetime_days: int, now: datetime | None = None) -> x509.Certificate:
    """A self-signed CA certificate shaped like `pki --self --ca` (no EKU: it would restrict the CA)."""
    not_before, not_after = _validity(now, lifetime_days)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(dn)
        .issuer_name(dn)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    )
    return builder.sign(key, signature_hash(key))


def _issue_end_entity(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public_key: AnyKey,
    subject: x509.Name,
    san: list[x509.GeneralName],
    usages: list[ObjectIdentifier],
    lifetime_days: int,
    now: datetime | None,
) -> x509.Certificate:
    _check_ca_pair(ca_key, ca_cert)
    public = public_of(public_key)
    key_type_of(public)  # rejects unsupported keys early with a clear message
    not_before, not_after = _validity(now, lifetime_days, ca_cert.not_valid_after_utc)
    usage = _key_usage(digital_signature=True, key_encipherment=isinstance(public, rsa.RSAPublicKey))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(_authority_key_id(ca_cert), critical=False)
    )
    return builder.sign(ca_key, signature_hash(ca_key))


def issue_host(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public_key: AnyKey,
    address: str,
    alt_names: Sequence[str],
    lifetime_days: int,
    now: datetime | None = None,
) -> x509.Certificate:
    """The VPN server's certificate: SAN address + alt_names, EKU serverAuth + ikeIntermediate."""
    return _issue_end_entity(
        ca_key,
        ca_cert,
        public_key,
        host_dn(ca_cert.subject, address.strip()),
        host_san(address, alt_names),
        list(HOST_USAGES),
        lifetime_days,
        now,
    )


def issue_client(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public_key: AnyKey,
    name: str,
    lifetime_days: int,
    now: datetime | None = None,
) -> x509.Certificate:
    """A client certificate: subject CN=name, the name as SAN (e-mail or DNS), EKU clientAuth."""
    return _issue_end_entity(
        ca_key,
        ca_cert,
        public_key,
        client_dn(ca_cert.subject, name.strip()),
        client_san(name),
        list(CLIENT_USAGES),
        lifetime_days,
        now,
    )


def issue_crl(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    revoked: Sequence[tuple[int, datetime]],
    next_update_days: int = 30,
    now: datetime | None = None,
    crl_number: int | None = None,
) -> x509.CertificateRevocationList:
    """A CRL listing (serial, revocation date) pairs.

    crlNumber defaults to the issue time in Unix seconds: it grows with every CRL without keeping state.
    """
    _check_ca_pair(ca_key, ca_cert)
    if next_update_days < 1:
        raise ValueError(f"next update must be at least one day away, not {next_update_days}")
    last_update = utc(now)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(last_update)
        .next_update(last_update + timedelta(days=next_update_days))
        .add_extension(
            x509.CRLNumber(int(last_update.timestamp()) if crl_number is None else crl_number), critical=False
        )
        .add_extension(_authority_key_id(ca_cert), critical=False)
    )
    for serial, revoked_at in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(utc(revoked_at)).build()
        )
    return builder.sign(ca_key, signature_hash(ca_key))

