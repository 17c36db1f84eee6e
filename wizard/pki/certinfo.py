"""Readable summaries of certificates: what plan diffs, doctor findings and support bundles show."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from wizard.pki import encode, issue, keys, names

# strongSwan's names for the extended key usages it cares about (as `pki --print` shows them).
EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    issue.IKE_INTERMEDIATE: "iKEIntermediate",
    ExtendedKeyUsageOID.OCSP_SIGNING: "ocspSigning",
}

PEM_CERT = b"-----BEGIN CERTIFICATE-----"


def summary(cert: x509.Certificate) -> list[str]:
    """The fields an admin checks, one per line, in the style of `pki --print`."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        flags = [EKU_NAMES.get(oid, oid.dotted_string) for oid in eku]
    except x509.ExtensionNotFound:
        flags = []
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        flags.insert(0, "CA")
    return [
        f"subject:  {names.format_dn(cert.subject)}",
        f"issuer:   {names.format_dn(cert.issuer)}",
        f"validity: {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
        f"serial:   {cert.serial_number:x}",
        f"altNames: {', '.join(names.san_names(cert)) or '-'}",
        f"flags:    {' '.join(flags) or '-'}",
        f"pubkey:   {keys.key_type_of(cert.public_key()).value}",
    ]


def pem_summary(data: bytes) -> list[str] | None:
    """Summary lines for a PEM certificate file, or None when ``data`` is not one."""
    if not data.lstrip().startswith(PEM_CERT):
        return None
    try:
        return summary(encode.load_cert_pem(data))
    except ValueError:
        return None
