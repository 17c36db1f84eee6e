"""Certificate checks: the server certificate as clients will judge it, and the keys charon needs.

The most common "IKE authentication credentials are unacceptable" (Windows error 13801) is a server
certificate that does not name the address clients dial; strongSwan-based clients compare identities
type-strictly, Windows wants an IP as a DNS entry (reference §3.1). So the names are checked the way
each client family checks them, against what clients dial: ``server.address`` and ``alt_names`` from
the answers when given, else the connections' local identities.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path, PurePosixPath

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from wizard.checks.doctor.confparse import KEY_KINDS
from wizard.checks.doctor.context import Context
from wizard.checks.doctor.findings import DoctorFinding
from wizard.checks.doctor.installed import Conn
from wizard.findings import Evidence, Severity
from wizard.fs import paths
from wizard.pki import certinfo
from wizard.pki.issue import IKE_INTERMEDIATE
from wizard.pki.keys import key_type_of, public_keys_equal
from wizard.pki.names import format_dn, parse_dn, san_names

EXPIRY_WARNING = timedelta(days=30)
APPLE_MAX_DAYS = 825
_KEY_DIRS_SWANCTL = ("private", "rsa", "ecdsa", "pkcs8")


def load_certs(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM file (or the one in a DER file)."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            return []
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        return []


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def trust_anchors(ctx: Context) -> list[tuple[PurePosixPath, x509.Certificate]]:
    directory = paths.SWANCTL_X509CA if ctx.installed.layout != "ipsec" else paths.IPSEC_CACERTS
    out = []
    for real in _files(ctx.root(directory)):
        for cert in load_certs(real.read_bytes()):
            out.append((directory / real.name, cert))
    return out


def private_keys(ctx: Context) -> list[tuple[PurePosixPath, PrivateKeyTypes | None, str]]:
    """(logical path, key or None, why not loadable) for every key file charon would load."""
    logical: list[PurePosixPath] = []
    if ctx.installed.layout == "ipsec":
        for entry in ctx.installed.secret_entries:
            if entry.kind in KEY_KINDS and entry.kind != "P12":
                name = entry.value.split()[0].strip('"')
                logical.append(PurePosixPath(name) if name.startswith("/") else paths.IPSEC_PRIVATE / name)
    else:
        for sub in _KEY_DIRS_SWANCTL:
            directory = paths.SWANCTL_DIR / sub
            logical += [directory / p.name for p in _files(ctx.root(directory))]
    out: list[tuple[PurePosixPath, PrivateKeyTypes | None, str]] = []
    for path in dict.fromkeys(logical):
        try:
            data = ctx.root(path).read_bytes()
        except OSError as exc:
            out.append((path, None, exc.strerror or "unreadable"))
            continue
        try:
            key = serialization.load_pem_private_key(data, password=None) if b"-----BEGIN" in data \
                else serialization.load_der_private_key(data, password=None)
            out.append((path, key, ""))
        except TypeError:
            out.append((path, None, "encrypted (charon needs its passphrase)"))
        except Exception as exc:  # any unreadable key is a finding, never a crash of the doctor
            out.append((path, None, f"not a readable private key ({type(exc).__name__})"))
    return out


def apple_expected(ctx: Context) -> bool:
    """Apple clients are expected when profiles for them exist or an IKEv2 road-warrior connection does."""
    if any(ctx.root(paths.CLIENTS_DIR).glob("*/*.mobileconfig")):
        return True
    return any(c.road_warrior and c.version in (0, 2) for c in ctx.installed.conns)


# ---------------------------------------------------------------------------------------------- names


def _sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _dns_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:]
    return False


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def name_coverage(cert: x509.Certificate, name: str) -> dict[str, bool]:
    """Which client families accept ``name`` as the server identity in this certificate."""
    sans = _sans(cert)
    ip = _ip(name)
    dns = any(isinstance(s, x509.DNSName) and _dns_matches(s.value, name) for s in sans)
    if ip is not None:
        ip_san = any(isinstance(s, x509.IPAddress) and s.value == ip for s in sans)
        # strongSwan clients (Android app, NetworkManager, swanctl) match an IP identity only against an
        # iPAddress SAN; Windows only looks at dNSName entries, also for IPs (reference §3.1).
        return {"strongSwan clients (Android app, NetworkManager, Linux)": ip_san, "Windows": dns}
    return {"all clients": dns}


def contains_identity(cert: x509.Certificate, identity: str) -> bool:
    """Whether charon finds ``identity`` in the certificate (subject DN or a SAN of the same type)."""
    if "=" in identity:
        try:
            return cert.subject == parse_dn(identity)
        except ValueError:
            return False
    if "@" in identity:
        return any(isinstance(s, x509.RFC822Name) and s.value.lower() == identity.lower() for s in _sans(cert))
    ip = _ip(identity)
    if ip is not None:
        return any(isinstance(s, x509.IPAddress) and s.value == ip for s in _sans(cert))
    return any(isinstance(s, x509.DNSName) and _dns_matches(s.value, identity) for s in _sans(cert))


# How an identity can sit in a certificate, as the client must then send it.
_SAN_TYPES: tuple[tuple[type[x509.GeneralName], str], ...] = (
    (x509.RFC822Name, "an e-mail address (RFC822 identity, rfc822Name SAN)"),
    (x509.DNSName, "a host name (FQDN identity, dNSName SAN)"),
    (x509.IPAddress, "an IP address (IP identity, iPAddress SAN)"),
)


def identity_forms(cert: x509.Certificate, identity: str) -> list[str]:
    """Every type under which ``identity`` (as charon prints it: the text without its type) is in ``cert``."""
    text = identity.lower()
    forms = [label for kind, label in _SAN_TYPES
             if any(isinstance(s, kind) and str(s.value).lower() == text for s in _sans(cert))]
    if "=" in identity and has_subject(cert, identity):
        forms.append("its subject (a DN identity)")
    return forms


def has_subject(cert: x509.Certificate, dn: str) -> bool:
    """Whether ``cert``'s subject is the DN charon printed as ``dn``."""
    try:
        return cert.subject == parse_dn(dn)
    except ValueError:
        return False


def client_certs(ctx: Context) -> list[tuple[str, PurePosixPath, x509.Certificate]]:
    """(client name, logical path, certificate) of every client certificate Swan Wizard wrote."""
    out = []
    for real in sorted(ctx.root(paths.CLIENTS_DIR).glob("*/cert.pem")):
        certs = load_certs(real.read_bytes())
        if certs:
            out.append((real.parent.name, paths.CLIENTS_DIR / real.parent.name / "cert.pem", certs[0]))
    return out


def _summary_evidence(where: str, cert: x509.Certificate, *fields: str) -> tuple[Evidence, ...]:
    lines = certinfo.summary(cert)
    chosen = [line for line in lines if not fields or line.split(":", 1)[0].strip() in fields]
    return tuple(Evidence(where, line) for line in chosen)


# ---------------------------------------------------------------------------------------------- checks


def check(ctx: Context) -> list[DoctorFinding]:
    if ctx.installed.layout is None:
        return [DoctorFinding("cert.no-config", "skipped", message="no installed configuration to take the "
                              "certificates from: skipped")]
    findings: list[DoctorFinding] = []
    anchors = trust_anchors(ctx)
    keys = private_keys(ctx)
    host_certs: dict[PurePosixPath, list[Conn]] = {}
    for conn in ctx.installed.conns:
        if conn.local_auth == "pubkey":
            for cert_path in conn.local_certs:
                host_certs.setdefault(cert_path, []).append(conn)
    if not anchors:
        directory = paths.SWANCTL_X509CA if ctx.installed.layout != "ipsec" else paths.IPSEC_CACERTS
        findings.append(DoctorFinding("cert.no-ca", "error", message=f"no CA certificate in {ctx.shown(directory)}: "
                                      "charon trusts no client certificate", fix="Re-run apply: it installs the CA "
                                      "certificate there.", command=ctx.apply_command()))
    for ca_path, ca in anchors:
        findings += _validity(ctx, ca_path, ca, "CA certificate", "cert.ca")
    for logical, conns in host_certs.items():
        findings += _host(ctx, logical, conns, anchors, keys)
    findings += _clients(ctx, anchors)
    if not any(f.is_problem for f in findings):
        findings.append(DoctorFinding(
            "cert.ok", "ok",
            message=f"{len(host_certs)} server certificate(s) and {len(anchors)} CA certificate(s) fit"))
    return findings


def _validity(ctx: Context, logical: PurePosixPath, cert: x509.Certificate, what: str, code: str,
              expired_severity: Severity = "error") -> list[DoctorFinding]:
    where = ctx.shown(logical)
    evidence = _summary_evidence(where, cert, "subject", "validity")
    if ctx.now > cert.not_valid_after_utc:
        return [DoctorFinding(
            f"{code}-expired", expired_severity,
            message=f"the {what} {where} expired on {cert.not_valid_after_utc:%Y-%m-%d}: clients refuse it "
            "(charon logs 'certificate invalid (valid from ... to ...)')", evidence=evidence,
            fix="Re-run apply: an expired certificate is re-issued with the same key; then reload "
                "charon (apply does) and, for a CA, re-distribute the client profiles.",
            command=ctx.apply_command())]
    if ctx.now < cert.not_valid_before_utc:
        return [DoctorFinding(
            f"{code}-not-yet-valid", "error",
            message=f"the {what} {where} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: "
            "this machine's clock (or the one that issued it) is wrong", evidence=evidence,
            fix="Fix the clock (NTP: timedatectl set-ntp true), then re-run apply to re-issue it.",
            command=ctx.apply_command())]
    if cert.not_valid_after_utc - ctx.now < EXPIRY_WARNING:
        return [DoctorFinding(
            f"{code}-expiring", "warning",
            message=f"the {what} {where} expires on {cert.not_valid_after_utc:%Y-%m-%d}, in less than "
            f"{EXPIRY_WARNING.days} days", evidence=evidence,
            fix="Re-run apply after it expires, or raise the lifetime in the answers and re-run apply.",
            command=ctx.apply_command())]
    return []


def _dialed_names(ctx: Context, conns: list[Conn]) -> list[tuple[str, str]]:
    """(name, where it comes from) for every name clients dial."""
    if ctx.answers is not None:
        return [(ctx.answers.server.address, f"server.address in {ctx.answers_path}"),
                *((n, f"server.alt_names in {ctx.answers_path}") for n in ctx.answers.server.alt_names)]
    ids = [c.local_id.value for c in conns if c.local_id and c.road_warrior and "=" not in c.local_id.value]
    return [(i, "the connection's local id") for i in dict.fromkeys(ids)]


def _host(ctx: Context, logical: PurePosixPath, conns: list[Conn], anchors: list[tuple[PurePosixPath,
          x509.Certificate]], keys: list[tuple[PurePosixPath, PrivateKeyTypes | None, str]]) -> list[DoctorFinding]:
    where = ctx.shown(logical)
    conn_where = ", ".join(f"{c.name} ({c.certs_loc})" for c in conns)
    real = ctx.root(logical)
    if not real.is_file():
        return [DoctorFinding("cert.host-missing", "error",
                              message=f"the server certificate {where} named by {conn_where} does not exist",
                              evidence=(Evidence(str(conns[0].certs_loc or conns[0].loc), f"certs = {logical.name}"),),
                              fix="Re-run apply to write it, or name an existing file.", command=ctx.apply_command())]
    certs = load_certs(real.read_bytes())
    if not certs:
        return [DoctorFinding("cert.host-unreadable", "error", message=f"{where} holds no readable certificate",
                              evidence=(Evidence(where, "not PEM or DER X.509"),), fix="Re-run apply to re-issue it.",
                              command=ctx.apply_command())]
    cert = certs[0]
    findings = _validity(ctx, logical, cert, "server certificate", "cert.host")
    findings += _names(ctx, logical, cert, conns)
    findings += _eku(ctx, where, cert)
    findings += _key_match(ctx, where, cert, keys)
    findings += _chain(ctx, where, cert, anchors)
    findings += _apple(ctx, where, cert)
    return findings


def _names(ctx: Context, logical: PurePosixPath, cert: x509.Certificate, conns: list[Conn]) -> list[DoctorFinding]:
    where = ctx.shown(logical)
    findings: list[DoctorFinding] = []
    sans = Evidence(where, f"altNames: {', '.join(san_names(cert)) or '-'}")
    for name, source in _dialed_names(ctx, conns):
        coverage = name_coverage(cert, name)
        refused = [family for family, ok in coverage.items() if not ok]
        if not refused:
            continue
        in_answers = ctx.answers is not None
        how = ("Re-run apply with these answers: it re-issues the host certificate with the same key and CA, so "
               "clients need nothing new" if in_answers else
               f"Add {name} to server.alt_names (or make it server.address) in the answers and re-run apply: "
               "the certificate is re-issued with the same key and CA, so clients need nothing new")
        kind = "IP address" if _ip(name) else "name"
        detail = ("" if len(refused) == len(coverage)
                  else f" ({' and '.join(refused)} refuse it: an IP must be both an IP and a DNS entry)")
        findings.append(DoctorFinding(
            "cert.san-missing", "error",
            message=f"the server certificate {where} does not name {name}, the {kind} clients dial ({source}){detail}: "
            "clients report 'IKE authentication credentials are unacceptable' (Windows 13801) or "
            "'constraint check failed'", evidence=(sans,),
            fix=how + ".", command=ctx.apply_command(),
            data={"name": name, "refused_by": refused}))
    for conn in conns:
        if conn.local_id is None:
            continue
        identity = conn.local_id.value
        if not contains_identity(cert, identity):
            findings.append(DoctorFinding(
                "cert.identity-not-in-certificate", "error",
                message=f"connection {conn.name} identifies as '{identity}' but {where} does not contain it: "
                f"charon finds no key for that identity ('no private key found for '{identity}'')",
                evidence=(Evidence(str(conn.local_id.loc), f"id = {identity}"), sans),
                fix="Re-run apply: the identity and the certificate are written from the same server.address.",
                command=ctx.apply_command(), data={"identity": identity}))
        if ctx.answers is not None and identity != ctx.answers.server.address and conn.road_warrior:
            findings.append(DoctorFinding(
                "cert.identity-differs-from-answers", "warning",
                message=f"connection {conn.name} identifies as '{identity}' but the answers say server.address "
                f"'{ctx.answers.server.address}': the installed configuration is not the answers' one",
                evidence=(Evidence(str(conn.local_id.loc), f"id = {identity}"),),
                fix="Re-run apply with these answers (or fix the answers if the installed identity is right).",
                command=ctx.apply_command()))
    return findings


def _eku(ctx: Context, where: str, cert: x509.Certificate) -> list[DoctorFinding]:
    try:
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = set()
    evidence = _summary_evidence(where, cert, "flags")
    fix = "Re-run apply: it re-issues the certificate with serverAuth and ikeIntermediate."
    wanted: tuple[tuple[x509.ObjectIdentifier, str, Severity, str], ...] = (
        (ExtendedKeyUsageOID.SERVER_AUTH, "cert.eku-server-auth", "error",
         "serverAuth extended key usage: Windows and macOS refuse it"),
        (IKE_INTERMEDIATE, "cert.eku-ike-intermediate", "warning",
         "ikeIntermediate extended key usage: older macOS releases refuse it"),
    )
    out = [DoctorFinding(code, severity, message=f"the server certificate {where} lacks the {what}",
                         evidence=evidence, fix=fix, command=ctx.apply_command())
           for oid, code, severity, what in wanted if oid not in usages]
    return out


def _key_match(ctx: Context, where: str, cert: x509.Certificate,
               keys: list[tuple[PurePosixPath, PrivateKeyTypes | None, str]]) -> list[DoctorFinding]:
    public = cert.public_key()
    for _, key, _ in keys:
        if key is not None and public_keys_equal(key, public):
            return []
    evidence = [Evidence(ctx.shown(path), "a different key" if key is not None else why) for path, key, why in keys]
    if not keys:
        evidence = [Evidence(ctx.shown(paths.SWANCTL_PRIVATE if ctx.installed.layout != "ipsec"
                                       else paths.IPSEC_SECRETS), "no private key found")]
    return [DoctorFinding("cert.key-mismatch", "error",
                          message=f"no private key charon loads matches the server certificate {where}: charon logs "
                          "'no private key found for ...' and every client fails", evidence=tuple(evidence),
                          fix="Re-run apply: it re-issues the certificate for the key that is there (a missing key is "
                              "created; restore it from /var/lib/swan-wizard/backups/ if clients pinned it).",
                          command=ctx.apply_command())]


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _chain(ctx: Context, where: str, cert: x509.Certificate,
           anchors: list[tuple[PurePosixPath, x509.Certificate]]) -> list[DoctorFinding]:
    if not anchors or any(_issued_by(cert, ca) for _, ca in anchors):
        return []
    return [DoctorFinding(
        "cert.chain", "error",
        message=f"the server certificate {where} was not issued by the configured CA: clients that trust "
        "that CA refuse the server ('no trusted ... public key found')",
        evidence=(Evidence(where, f"issuer: {format_dn(cert.issuer)}"),
         *(Evidence(ctx.shown(p), f"CA subject: {format_dn(ca.subject)}") for p, ca in anchors)),
        fix="Re-run apply: it re-issues the server certificate from the CA in /etc/swan-wizard/ca.",
        command=ctx.apply_command())]


def _apple(ctx: Context, where: str, cert: x509.Certificate) -> list[DoctorFinding]:
    if not apple_expected(ctx):
        return []
    out = []
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        kind = key_type_of(cert.public_key()).value
        out.append(DoctorFinding(
            "cert.apple-non-rsa", "warning",
            message=f"the server certificate {where} has an {kind} key, and iOS/macOS clients are expected: "
            "they have had trouble with non-RSA server certificates (Always-on VPN accepts only RSA)",
            evidence=_summary_evidence(where, cert, "pubkey"),
            fix="Set host.key: rsa-3072 (or rsa-2048) in the answers, move the current key "
                "(/etc/swanctl/private/vpn-host.key) aside, and re-run apply: apply never replaces "
                "a key of another type by itself.", command=ctx.apply_command()))
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    if lifetime > timedelta(days=APPLE_MAX_DAYS + 1):
        out.append(DoctorFinding(
            "cert.apple-lifetime", "warning",
            message=f"the server certificate {where} is valid for {lifetime.days} days; Apple clients refuse "
            f"server certificates valid for more than {APPLE_MAX_DAYS} days",
            evidence=_summary_evidence(where, cert, "validity"),
            fix=f"Set host.lifetime_days: {APPLE_MAX_DAYS} (or less) and re-run apply.",
            command=ctx.apply_command()))
    return out


def _clients(ctx: Context, anchors: list[tuple[PurePosixPath, x509.Certificate]]) -> list[DoctorFinding]:
    """Client certificates the wizard issued: expired ones, and ones the server would not trust."""
    findings: list[DoctorFinding] = []
    pinned = {p for c in ctx.installed.conns for p in c.remote_cacerts}
    trusted = [(p, ca) for p, ca in anchors if not pinned or p in pinned]
    for name, logical, cert in client_certs(ctx):
        findings += _validity(ctx, logical, cert, f"client certificate of {name}", "cert.client",
                              expired_severity="warning")
        if trusted and not any(_issued_by(cert, ca) for _, ca in trusted):
            findings.append(DoctorFinding(
                "cert.client-chain", "error",
                message=f"the client certificate of {name} was not issued by the CA the server trusts: "
                "that client is refused ('no trusted ... public key found')",
                evidence=(Evidence(ctx.shown(logical), f"issuer: {format_dn(cert.issuer)}"),
                 *(Evidence(ctx.shown(p), f"trusted CA: {format_dn(ca.subject)}") for p, ca in trusted)),
                fix="Re-run apply: the client certificate is re-issued from the server's CA; hand the new "
                    "profile to the user.", command=ctx.apply_command()))
    return findings
