"""The wizard's PKI: keys, CA/host/client certificates, CRLs and PKCS#12 bundles.

Built on the ``cryptography`` library only, never the ``openssl`` or ``pki`` command line tools, so the
results do not depend on which tool versions a server has. The certificate layout follows what strongSwan's
own ``pki --self --ca`` / ``pki --issue`` produce, plus what Windows and Apple clients require (see the
reference, sections 1.0 and 3).
"""

from __future__ import annotations

import ipaddress
import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, get_args, overload

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from wizard.pki.keytypes import KeyType

if TYPE_CHECKING:
    from typing_extensions import TypeIs

log = logging.getLogger(__name__)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
AnyKey = PrivateKey | PublicKey
# A key read back from a certificate or a file may be of any kind; the checks name the ones the wizard refuses.
ReadKey = PrivateKeyTypes | PublicKeyTypes

# "IP Security IKE Intermediate" as strongSwan's `pki --flag ikeIntermediate` writes it. Not the same as
# cryptography's ExtendedKeyUsageOID.IPSEC_IKE, which is RFC 4945's id-kp-ipsecIKE (1.3.6.1.5.5.7.3.17).
IKE_INTERMEDIATE = ObjectIdentifier("1.3.6.1.5.5.8.2.2")

RSA_PUBLIC_EXPONENT = 65537

# A fresh certificate starts this far in the past so that clients whose clock lags a little accept it at
# once; the lifetime is counted from this start, so Apple's 825-day limit still holds.
BACKDATE = timedelta(hours=1)

# PKCS#12 parameters (reference §3.2): Apple and older Windows import only 3DES + SHA-1 MAC.
LEGACY_P12_ROUNDS = 2048
AES_P12_ROUNDS = 100_000


class DNError(ValueError):
    """A distinguished name that cannot be parsed; the message names the bad part."""


# ---------------------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------------------

_CURVES: dict[KeyType, type[ec.EllipticCurve]] = {
    KeyType.ECDSA_P256: ec.SECP256R1,
    KeyType.ECDSA_P384: ec.SECP384R1,
}


def generate_key(kind: KeyType) -> PrivateKey:
    kind = KeyType(kind)
    if kind.is_rsa:
        return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=kind.rsa_bits)
    if kind.is_ecdsa:
        return ec.generate_private_key(_CURVES[kind]())
    return ed25519.Ed25519PrivateKey.generate()


def key_type_of(key: ReadKey) -> KeyType:
    """The KeyType of a private or public key; ValueError for keys the wizard does not support."""
    public = _public(key)
    if isinstance(public, rsa.RSAPublicKey):
        try:
            return KeyType(f"rsa-{public.key_size}")
        except ValueError:
            raise ValueError(f"unsupported RSA key size {public.key_size} bits") from None
    if isinstance(public, ec.EllipticCurvePublicKey):
        for kind, curve in _CURVES.items():
            if isinstance(public.curve, curve):
                return kind
        raise ValueError(f"unsupported elliptic curve {public.curve.name}")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    raise ValueError(f"unsupported key type {type(key).__name__}")


# Rough relative cost of generating one key (RSA-2048 = 1, about 80 ms); EC and Ed25519 keys take microseconds.
_KEY_COST: dict[KeyType, int] = {KeyType.RSA_2048: 1, KeyType.RSA_3072: 4, KeyType.RSA_4096: 9}
# Starting the forkserver and letting each worker import cryptography costs about this much, in the same unit.
_POOL_OVERHEAD = 3


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def pool_workers(kinds: Sequence[KeyType], workers: int | None = None) -> int:
    """How many worker processes generate_keys would start for `kinds` (0 = it works in-process).

    A pool is used only when the time it saves beats its start-up cost: the slowest key bounds the
    parallel run, so one RSA-4096 key with a few cheap ones stays in-process.
    """
    costs = [_KEY_COST.get(KeyType(kind), 0) for kind in kinds]
    expensive = [cost for cost in costs if cost > 0]
    wanted = min(workers if workers is not None else _available_cpus(), len(expensive))
    if wanted < 2:
        return 0
    total = sum(expensive)
    parallel = max(total / wanted, max(expensive))
    return wanted if total - parallel >= _POOL_OVERHEAD else 0


def _generate_der(kind: str) -> bytes:
    # Runs in a worker process: keys go back as plain bytes because key objects cannot be pickled.
    return generate_key(KeyType(kind)).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_der(data: bytes) -> PrivateKey:
    # These keys were generated a moment ago by our own worker processes: re-checking each RSA key here
    # (~35 ms, about as long as generating it) would undo the parallel speed-up.
    key = serialization.load_der_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, PrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def _mp_context() -> multiprocessing.context.BaseContext:
    # The caller is typically a UI worker thread; forking a multi-threaded process can deadlock in the
    # child, so fork from the single-threaded forkserver instead (still much cheaper than spawn).
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has imported cryptography once, instead of each importing it.
        # worker_guard first: the forkserver dies with this process (see wizard.system.worker_guard).
        os.environ[_PARENT_ENV] = str(os.getpid())
        context.set_forkserver_preload(["wizard.system.worker_guard", "wizard.pki"])
        return context
    return multiprocessing.get_context()


_PARENT_ENV = "SWAN_WIZARD_POOL_PARENT"  # wizard.system.worker_guard.PARENT_ENV (not imported here: see there)


def _worker_init() -> None:
    # Runs first in every worker: killed with its parent, so a killed run leaves no worker behind.
    from wizard.system import worker_guard

    worker_guard.worker_init()


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_worker_init)


def _generate_in_pool(
    kinds: Sequence[KeyType], progress: Callable[[int, int], None] | None, workers: int
) -> list[PrivateKey]:
    total = len(kinds)
    keys: dict[int, PrivateKey] = {}
    try:
        pool = _pool(workers)
    except OSError as exc:
        log.warning("cannot start key generation workers (%s); generating keys in-process", exc)
        pool = None
    if pool is not None:
        try:
            futures: dict[Future[bytes], int] = {
                pool.submit(_generate_der, kind.value): index for index, kind in enumerate(kinds)
            }
            for future in as_completed(futures):
                keys[futures[future]] = _load_der(future.result())
                if progress is not None:
                    progress(len(keys), total)
        except (OSError, BrokenProcessPool) as exc:
            # No usable worker processes (no /dev/shm, a worker was killed): finish below in-process.
            log.warning("key generation workers failed (%r); generating the rest in-process", exc)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    for index, kind in enumerate(kinds):
        if index not in keys:
            keys[index] = generate_key(kind)
            if progress is not None:
                progress(len(keys), total)
    return [keys[index] for index in range(total)]


def generate_keys(
    kinds: Sequence[KeyType],
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> list[PrivateKey]:
    """Generate one key per entry of `kinds` (same order), on every core when that pays off.

    progress(done, total) is called in the caller's thread after each key. The worker processes are
    started by a forkserver (safe from a threaded UI), which re-imports the program's main module like any
    non-fork multiprocessing: it must keep its work under ``if __name__ == "__main__"``, as console-script
    entry points and ``python -m`` do. Should the workers fail, the remaining keys are made in-process.
    """
    kinds = [KeyType(kind) for kind in kinds]
    pool_size = pool_workers(kinds, workers)
    if pool_size:
        return _generate_in_pool(kinds, progress, pool_size)
    keys: list[PrivateKey] = []
    for kind in kinds:
        keys.append(generate_key(kind))
        if progress is not None:
            progress(len(keys), len(kinds))
    return keys


def signature_hash(ca_key: AnyKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The digest a CA key signs with; Ed25519 signs the message itself (None)."""
    kind = key_type_of(ca_key)
    if kind is KeyType.ED25519:
        return None
    if kind is KeyType.ECDSA_P384:
        return hashes.SHA384()
    return hashes.SHA256()


@overload
def _public(key: AnyKey) -> PublicKey: ...
@overload
def _public(key: ReadKey) -> PublicKeyTypes: ...
def _public(key: ReadKey) -> PublicKeyTypes:
    # Any private key kind (a DSA key found on the server too), not only the ones the wizard makes.
    return key if _is_public(key) else key.public_key()


def _is_public(key: ReadKey) -> TypeIs[PublicKeyTypes]:
    return isinstance(key, get_args(PublicKeyTypes))


def _spki(key: ReadKey) -> bytes:
    return _public(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_keys_equal(a: ReadKey, b: ReadKey) -> bool:
    """Whether two keys (private or public) have the same public key, by SubjectPublicKeyInfo DER."""
    return _spki(a) == _spki(b)


# ---------------------------------------------------------------------------------------------------------
# Distinguished names
# ---------------------------------------------------------------------------------------------------------

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


def _dn_value(value: str) -> str:
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
            parts.append(f"{label}={_dn_value(value)}")
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


# ---------------------------------------------------------------------------------------------------------
# Subject alternative names
# ---------------------------------------------------------------------------------------------------------

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


def _name_key(general_name: x509.GeneralName) -> tuple[str, str]:
    # DNS names and e-mail domains compare case-insensitively, like strongSwan's identity matching.
    text = _general_name_text(general_name)
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
            key = _name_key(entry)
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


def _general_name_text(general_name: x509.GeneralName) -> str:
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
    return [_general_name_text(entry) for entry in san]


# ---------------------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------------------


def _utc(moment: datetime | None) -> datetime:
    # Naive datetimes are taken as UTC, as cryptography does; certificates carry whole seconds.
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _validity(now: datetime | None, lifetime_days: int, limit: datetime | None = None) -> tuple[datetime, datetime]:
    if lifetime_days < 1:
        raise ValueError(f"lifetime must be at least one day, not {lifetime_days}")
    not_before = _utc(now) - BACKDATE
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
    public = _public(public_key)
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
        [ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE],
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
        [ExtendedKeyUsageOID.CLIENT_AUTH],
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
    last_update = _utc(now)
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
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(_utc(revoked_at)).build()
        )
    return builder.sign(ca_key, signature_hash(ca_key))


# ---------------------------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------------------------


def pkcs12_bundle(
    friendly_name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    password: bytes,
    encryption: Literal["legacy", "aes256"] = "legacy",
) -> bytes:
    """A password-protected PKCS#12 with the key, its certificate and the CA certificate.

    "legacy" (3DES, SHA-1 MAC) is the only kind Apple and older Windows import (reference §3.2).
    """
    if not password:
        raise ValueError("a PKCS#12 bundle needs a non-empty password")
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if encryption == "legacy":
        builder = (
            builder.kdf_rounds(LEGACY_P12_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
        )
    elif encryption == "aes256":
        builder = (
            builder.kdf_rounds(AES_P12_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    else:
        raise ValueError(f"unknown PKCS#12 encryption {encryption!r}")
    ca_names = ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ca_name = str(ca_names[0].value).encode() if ca_names else None
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(),
        key,
        cert,
        [pkcs12.PKCS12Certificate(ca_cert, ca_name)],
        builder.build(password),
    )


def key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available scheme when a (non-empty) passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_key_pem(data: bytes, passphrase: bytes | None = None, fresh: bool = False) -> PrivateKey:
    """Load a PEM private key (PKCS#8 or the traditional RSA/EC forms `pki --gen` writes).

    ``fresh``: the key was generated by this program a moment ago, so its RSA consistency check (about as
    slow as generating it) is skipped.
    """
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None,
                                                 unsafe_skip_rsa_key_validation=fresh)
    except TypeError as exc:
        # cryptography signals a missing or superfluous password with TypeError.
        if passphrase:
            raise ValueError("the private key is not encrypted, but a passphrase was given") from exc
        raise ValueError("the private key is encrypted and needs a passphrase") from exc
    except ValueError as exc:
        if passphrase and b"ENCRYPTED" in data:
            raise ValueError("wrong passphrase for the private key") from exc
        raise ValueError(f"not a readable PEM private key: {exc}") from exc
    except UnsupportedAlgorithm as exc:  # e.g. an exotic key type or PEM encryption
        raise ValueError(f"cannot load the private key: {exc}") from exc
    if not isinstance(key, PrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert_pem(data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ValueError(f"not a readable PEM certificate: {exc}") from exc


def crl_to_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


# ---------------------------------------------------------------------------------------------------------
# Checking existing certificates for reuse
# ---------------------------------------------------------------------------------------------------------


def _validity_problems(cert: x509.Certificate, now: datetime | None) -> list[str]:
    moment = _utc(now)
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


def _key_problems(cert: x509.Certificate, key: ReadKey) -> list[str]:
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
    wanted = {_name_key(entry): _general_name_text(entry) for entry in expected}
    try:
        actual_entries = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        actual_entries = []
    actual = {_name_key(entry): _general_name_text(entry) for entry in actual_entries}
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
        *_eku_problems(cert, [ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE]),
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
        *_eku_problems(cert, [ExtendedKeyUsageOID.CLIENT_AUTH]),
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


# ---------------------------------------------------------------------------------------------------
# Many new clients at once: key, certificate and PKCS#12 per client, on every core.

@dataclass(frozen=True)
class ClientRequest:
    name: str
    kind: KeyType
    lifetime_days: int
    password: bytes
    encryption: Literal["legacy", "aes256"] = "legacy"


@dataclass(frozen=True)
class IssuedClient:
    key_pem: bytes
    cert_pem: bytes
    p12: bytes


# Signing, PKCS#12 encryption and EC key generation cost a few milliseconds per client: a pool pays off only
# for a batch (its workers start in ~0.3 s each).
_BUNDLES_PER_POOL = 64


def _issue_one(ca_key: PrivateKey, ca_cert: x509.Certificate, request: ClientRequest,
               now: datetime | None) -> IssuedClient:
    key = generate_key(request.kind)
    cert = issue_client(ca_key, ca_cert, key.public_key(), request.name, request.lifetime_days, now=now)
    return IssuedClient(key_to_pem(key), cert_to_pem(cert),
                        pkcs12_bundle(request.name, key, cert, ca_cert, request.password, request.encryption))


def _issue_chunk(ca_key_der: bytes, ca_cert_der: bytes, requests: list[ClientRequest],
                 now: datetime | None) -> list[IssuedClient]:
    # Runs in a worker process: the CA travels as DER bytes (key objects cannot be pickled).
    ca_key = _load_der(ca_key_der)
    ca_cert = x509.load_der_x509_certificate(ca_cert_der)
    return [_issue_one(ca_key, ca_cert, r, now) for r in requests]


def issue_client_bundles(ca_key: PrivateKey, ca_cert: x509.Certificate, requests: Sequence[ClientRequest],
                         now: datetime | None = None, progress: Callable[[int, int], None] | None = None,
                         workers: int | None = None) -> list[IssuedClient]:
    """A new key, certificate and PKCS#12 bundle per request (same order), split across the cores."""
    total = len(requests)
    wanted = min(workers if workers is not None else _available_cpus(), total // _BUNDLES_PER_POOL)
    done: dict[int, IssuedClient] = {}
    if wanted >= 2:
        ca_key_der = ca_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        ca_cert_der = ca_cert.public_bytes(serialization.Encoding.DER)
        # Small chunks keep the progress moving and both workers busy to the end.
        size = max(8, total // (wanted * 8))
        chunks = [list(range(start, min(start + size, total))) for start in range(0, total, size)]
        try:
            with _pool(wanted) as pool:
                futures = {pool.submit(_issue_chunk, ca_key_der, ca_cert_der, [requests[i] for i in chunk], now):
                           chunk for chunk in chunks}
                for future in as_completed(futures):
                    for index, issued in zip(futures[future], future.result(), strict=True):
                        done[index] = issued
                    if progress is not None:
                        progress(len(done), total)
        except (OSError, BrokenProcessPool) as exc:
            log.warning("client bundle workers failed (%r); issuing the rest in-process", exc)
    for index, request in enumerate(requests):
        if index not in done:
            done[index] = _issue_one(ca_key, ca_cert, request, now)
            if progress is not None:
                progress(len(done), total)
    return [done[i] for i in range(total)]
