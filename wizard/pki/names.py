"""Names in certificates: distinguished names (parsing and printing them as strongSwan does) and the
subjectAltName entries of the host and client certificates."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier


class DNError(ValueError):
    """A distinguished name that cannot be parsed; the message names the bad part."""


# Accepted attribute names, lower-cased: strongSwan's and OpenSSL's spellings of the common ones.
# strongSwan 5.9 reads SN as surname and G (not GN) as givenName; GN is OpenSSL's spelling.
_DN_ATTRIBUTES: dict[str, ObjectIdentifier] = {
    "c": NameOID.COUNTRY_NAME,
    "st": NameOID.STATE_OR_PROVINCE_NAME,
    "l": NameOID.LOCALITY_NAME,
    "o": NameOID.ORGANIZATION_NAME,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "cn": NameOID.COMMON_NAME,
    "e": NameOID.EMAIL_ADDRESS,
    "email": NameOID.EMAIL_ADDRESS,
    "emailaddress": NameOID.EMAIL_ADDRESS,
    "dc": NameOID.DOMAIN_COMPONENT,
    "sn": NameOID.SURNAME,
    "gn": NameOID.GIVEN_NAME,
    "g": NameOID.GIVEN_NAME,
    "serialnumber": NameOID.SERIAL_NUMBER,
}

# How format_dn writes each attribute: the names strongSwan prints and parses back (it rejects "GN").
_DN_LABELS: dict[ObjectIdentifier, str] = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "G",
    NameOID.SERIAL_NUMBER: "serialNumber",
}

# serialNumber is encoded as a PrintableString, emailAddress and DC as IA5String (ASCII).
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")
_IA5_OIDS = {NameOID.EMAIL_ADDRESS, NameOID.DOMAIN_COMPONENT}


def _split_dn(text: str) -> list[tuple[str, str, str]]:
    """Split a DN into (attribute, value, original text of the part) triples."""
    sep = "/" if text.startswith("/") else ","
    pos = 1 if sep == "/" else 0
    end = len(text)
    parts: list[tuple[str, str, str]] = []
    while True:
        start = pos
        while pos < end and text[pos] not in ("=", sep):
            pos += 1
        if pos == end or text[pos] == sep:
            raw = text[start:pos].strip()
            if not raw:
                raise DNError(f"empty part in {text!r}")
            raise DNError(f"missing '=' in {raw!r}")
        attribute = text[start:pos].strip()
        pos += 1
        while pos < end and text[pos].isspace():
            pos += 1
        if pos < end and text[pos] == '"':
            value, pos = _read_quoted(text, pos, sep)
        else:
            stop = text.find(sep, pos)
            stop = end if stop == -1 else stop
            value, pos = text[pos:stop].strip(), stop
        parts.append((attribute, value, text[start:pos].strip()))
        if pos == end:
            return parts
        pos += 1  # the separator
        if pos == end or not text[pos:].strip():
            raise DNError(f"empty part at the end of {text!r}")


def _read_quoted(text: str, pos: int, sep: str) -> tuple[str, int]:
    """Read a "..." value starting at text[pos] == '"'; a backslash escapes the next character."""
    start = pos
    pos += 1
    chars: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            chars.append(text[pos + 1])
            pos += 2
            continue
        if char == '"':
            pos += 1
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos < len(text) and text[pos] != sep:
                raise DNError(f"unexpected text after the closing quote in {text[start:].strip()!r}")
            return "".join(chars), pos
        chars.append(char)
        pos += 1
    raise DNError(f"unterminated quote in {text[start:].strip()!r}")


def _dn_attribute(attribute: str, value: str, raw: str) -> x509.NameAttribute:
    oid = _DN_ATTRIBUTES.get(attribute.lower())
    if oid is None:
        raise DNError(f"unknown attribute {attribute!r} in {raw!r}")
    if not value:
        raise DNError(f"empty value in {raw!r}")
    if oid == NameOID.COUNTRY_NAME:
        if not (len(value) == 2 and value.isascii() and value.isalpha()):
            raise DNError(f"country must be two letters in {raw!r}")
        value = value.upper()
    if oid == NameOID.SERIAL_NUMBER and not _PRINTABLE.fullmatch(value):
        raise DNError(f"serialNumber may only hold letters, digits, spaces and '()+,-./:=? in {raw!r}")
    if oid in _IA5_OIDS and not value.isascii():
        raise DNError(f"only ASCII characters are allowed in {raw!r}")
    try:
        return x509.NameAttribute(oid, value)
    except ValueError as exc:  # length limits, e.g. CN at most 64 characters (RFC 5280 ub-common-name)
        raise DNError(f"{exc} in {raw!r}") from None


def parse_dn(text: str) -> x509.Name:
    """Parse "C=CH, O=strongSwan, CN=..." (or "/C=CH/O=.../CN=...") keeping the order given.

    Values may be quoted ("...", backslash escapes inside) to hold commas or slashes.
    """
    if not text or not text.strip():
        raise DNError("empty distinguished name")
    return x509.Name([_dn_attribute(*part) for part in _split_dn(text.strip())])


def dn_value(value: str) -> str:
    """A DN value as format_dn (and the answers file) spells it: quoted, with backslash escapes, only when
    it must be."""
    # Quote only when parse_dn would otherwise split, strip or mis-read the value: strongSwan itself
    # knows no quoting, so plain values stay plain.
    if value != value.strip() or "," in value or value.startswith('"'):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return value


def format_dn(name: x509.Name) -> str:
    """Format a Name the way strongSwan prints it: first RDN first, "C=CH, O=strongSwan, CN=..."."""
    parts: list[str] = []
    for rdn in name.rdns:
        for attribute in rdn:
            label = _DN_LABELS.get(attribute.oid, attribute.oid.dotted_string)
            value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
            parts.append(f"{label}={dn_value(value)}")
    return ", ".join(parts)


def _subject_for(ca_dn: x509.Name, common_name: str) -> x509.Name:
    kept = [attr for attr in ca_dn if attr.oid in (NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME)]
    try:
        return x509.Name([*kept, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    except ValueError as exc:
        raise ValueError(f"{common_name!r} cannot be a subject CN: {exc}") from None


def host_dn(ca_dn: x509.Name, address: str) -> x509.Name:
    """The VPN server's subject: the CA's C and O (if any) plus CN=address, as in the Arch Wiki."""
    return _subject_for(ca_dn, address)


def client_dn(ca_dn: x509.Name, name: str) -> x509.Name:
    """A client's subject: the CA's C and O (if any) plus CN=name."""
    return _subject_for(ca_dn, name)


# Subject alternative names

_DNS_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DNS_NAME = re.compile(rf"(?:\*\.)?(?:{_DNS_LABEL}\.)*{_DNS_LABEL}")


def _check_dns_name(name: str) -> str:
    if not name or len(name) > 253 or not _DNS_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid DNS name (internationalised names must be given as xn--)")
    return name


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _looks_like_email(name: str) -> bool:
    return "@" in name


def _check_email(name: str) -> str:
    local, _, domain = name.rpartition("@")
    if not local or not local.isascii() or any(char.isspace() for char in local):
        raise ValueError(f"{name!r} is not a valid e-mail address")
    try:
        _check_dns_name(domain)
    except ValueError:
        raise ValueError(f"{name!r} is not a valid e-mail address") from None
    return name


def name_key(general_name: x509.GeneralName) -> tuple[str, str]:
    # DNS names and e-mail domains compare case-insensitively, like strongSwan's identity matching.
    text = general_name_text(general_name)
    kind, _, value = text.partition(":")
    return kind, value.lower() if kind in ("dns", "email") else value


def host_san(address: str, alt_names: Sequence[str]) -> list[x509.GeneralName]:
    """The server certificate's SAN entries: address first, then alt_names, without duplicates.

    An IP address goes in twice: as iPAddress for strongSwan clients (they match identity types
    strictly) and as dNSName for Windows, which ignores iPAddress entries (reference §3.1).
    """
    entries: list[x509.GeneralName] = []
    seen: set[tuple[str, str]] = set()
    for raw in [address, *alt_names]:
        name = raw.strip()
        ip = _ip(name)
        candidates: list[x509.GeneralName] = (
            [x509.IPAddress(ip), x509.DNSName(str(ip))] if ip else [x509.DNSName(_check_dns_name(name))]
        )
        for entry in candidates:
            key = name_key(entry)
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    return entries


def client_san(name: str) -> list[x509.GeneralName]:
    """The client certificate's SAN: its IKE identity, as rfc822Name for e-mails, else dNSName.

    Apple clients send their LocalIdentifier as FQDN or e-mail identity, never as a DN (reference §3.2).
    """
    name = name.strip()
    if _looks_like_email(name):
        return [x509.RFC822Name(_check_email(name))]
    return [x509.DNSName(_check_dns_name(name))]


def general_name_text(general_name: x509.GeneralName) -> str:
    if isinstance(general_name, x509.DNSName):
        return f"dns:{general_name.value}"
    if isinstance(general_name, x509.IPAddress):
        return f"ip:{general_name.value}"
    if isinstance(general_name, x509.RFC822Name):
        return f"email:{general_name.value}"
    if isinstance(general_name, x509.UniformResourceIdentifier):
        return f"uri:{general_name.value}"
    if isinstance(general_name, x509.DirectoryName):
        return f"dirname:{format_dn(general_name.value)}"
    if isinstance(general_name, x509.RegisteredID):
        return f"rid:{general_name.value.dotted_string}"
    if isinstance(general_name, x509.OtherName):
        return f"othername:{general_name.type_id.dotted_string}"
    return f"unknown:{general_name!r}"


def san_names(cert: x509.Certificate) -> list[str]:
    """Every SAN entry as text: "dns:x", "ip:1.2.3.4", "email:a@b", ... (empty without a SAN)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [general_name_text(entry) for entry in san]
