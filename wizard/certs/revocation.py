"""Revoked client certificates: the CRL charon checks, and throwing a revoked client out at once.

The list of revoked serials lives in the answers (``revoked:``), so every later apply publishes the
same CRL. A CRL is only re-signed when its contents change or it gets old: an unchanged one is kept
byte for byte, which keeps a re-run of the same answers silent. The CRL goes where each layout's charon
loads CRLs from (swanctl: x509crl/, legacy: ipsec.d/crls/); a running charon gets it over vici at once,
and the revoked client's IKE_SAs are terminated over vici, since charon checks revocation only when a
client authenticates.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from wizard.certs.materials import KeyPair
from wizard.fs import paths
from wizard.fs.changes import FileAction
from wizard.fs.paths import Root
from wizard.model.answers import Answers
from wizard.pki import encode, issue, keys, names

# nextUpdate of a new CRL. charon's default revocation policy ("relaxed") still refuses a certificate
# listed in a stale CRL, but a fresh one keeps `pki --print` and strict peers happy; every apply and
# client command re-signs it once less than REFRESH remains.
CRL_DAYS = 90
REFRESH = timedelta(days=45)


def crl_path(layout: str) -> PurePosixPath:
    return paths.SWANCTL_CRL if layout == "swanctl" else paths.IPSEC_CRL


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def wanted_entries(answers: Answers) -> dict[int, datetime]:
    """serial -> revocation time (the earliest, should a serial be listed twice)."""
    out: dict[int, datetime] = {}
    for entry in answers.revoked:
        serial, when = int(entry.serial, 16), _utc(entry.revoked_at).replace(microsecond=0)
        out[serial] = min(when, out.get(serial, when))
    return out


def _load_crl(data: bytes) -> x509.CertificateRevocationList | None:
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError:
        try:
            return x509.load_der_x509_crl(data)
        except ValueError:
            return None


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def _fits(crl: x509.CertificateRevocationList, ca: KeyPair, wanted: dict[int, datetime], now: datetime) -> bool:
    issuer_key = ca.cert.public_key()
    if not isinstance(issuer_key, keys.PublicKey):  # a CA the wizard cannot sign with has signed no CRL of ours
        return False
    if crl.issuer != ca.cert.subject or not crl.is_signature_valid(issuer_key):
        return False
    listed = {r.serial_number: r.revocation_date_utc for r in crl}
    next_update = crl.next_update_utc
    return listed == wanted and next_update is not None and next_update - now >= REFRESH


def crl_files(answers: Answers, root: Root, ca: KeyPair, now: datetime | None = None) -> list[FileAction]:
    """The CRL to write for the answers' layout (or none), and removals of CRLs no longer wanted."""
    now = _utc(now or datetime.now(UTC))
    target = crl_path(answers.layout)
    wanted = wanted_entries(answers)
    actions: list[FileAction] = []
    if wanted:
        current = root(target).read_bytes() if root(target).is_file() else None
        current_crl = _load_crl(current) if current is not None else None
        others = [c for p in (paths.SWANCTL_CRL, paths.IPSEC_CRL) if p != target and root(p).is_file()
                  and (c := _load_crl(root(p).read_bytes())) is not None]
        if current is not None and current_crl is not None and _fits(current_crl, ca, wanted, now):
            pem = current
        else:
            # charon keeps the CRL with the higher crlNumber: never go back, even within the same second.
            previous = [c for c in (current_crl, *others) if c is not None]
            number = max([int(now.timestamp())] + [_crl_number(c) + 1 for c in previous])
            crl = issue.issue_crl(ca.key, ca.cert, sorted(wanted.items()), CRL_DAYS, now=now, crl_number=number)
            pem = encode.crl_to_pem(crl)
        actions.append(FileAction(target, pem, 0o644, why=f"CRL: {len(wanted)} revoked client certificate(s)"))
    for path in (paths.SWANCTL_CRL, paths.IPSEC_CRL):
        if (path != target or not wanted) and root(path).is_file():
            actions.append(FileAction(path, None, why="no longer part of the answers"))
    return actions


# ---------------------------------------------------------------------------------------------------
# the running charon, over a vici session (wizard.system.vici)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


# vici carries a value of at most 65535 bytes: a CRL of more than some 2,700 entries does not fit.
VICI_VALUE_MAX = 0xFFFF


def crl_uri(live_path: PurePosixPath) -> str:
    return f"file://{live_path}"


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_crl(pem).public_bytes(serialization.Encoding.DER)


def too_big_for_vici(pem: bytes) -> bool:
    return len(_der(pem)) > VICI_VALUE_MAX


def load_crl(session: Any, pem: bytes, ca_cert_pem: bytes, live_path: PurePosixPath) -> str:
    """Hand the CRL to charon now (what `swanctl --load-creds` does from x509crl/, in either layout); returns
    how. A CRL too big for one vici value (DER over 64 KiB) cannot be handed over: charon is told where to
    fetch it (an authority for the CA with a file:// CRL URI, fetched by the curl plugin) and forgets the
    CRLs it fetched before, so the next authentication reads this one."""
    der = _der(pem)
    if len(der) <= VICI_VALUE_MAX:
        session.load_cert({"type": "X509_CRL", "flag": "NONE", "data": der})
        return "loaded"
    session.load_authority({paths.CRL_AUTHORITY: {"cacert": ca_cert_pem, "crl_uris": [crl_uri(live_path)]}})
    session.flush_certs({"type": "X509_CRL"})
    return "fetched"


@dataclass(frozen=True)
class Terminated:
    conn: str
    ike_id: str
    remote_id: str
    remote_host: str


def identities_of(name: str, cert: x509.Certificate | None) -> set[str]:
    """The IKE identities a client may have used: its name, or (Windows machine certificates) its subject DN."""
    out = {name}
    if cert is not None:
        out.add(names.format_dn(cert.subject))
    return out


def matching_sas(sas: Iterable[dict[str, Any]], identities: Collection[str]) -> list[Terminated]:
    wanted = {i.lower() for i in identities}
    found = []
    for entry in sas:
        for conn, ike in entry.items():
            ids = {_text(ike.get(k)) for k in ("remote-id", "remote-eap-id", "remote-xauth-id")}
            if wanted & {i.lower() for i in ids if i}:
                found.append(Terminated(conn, _text(ike.get("uniqueid")), _text(ike.get("remote-id")),
                                        _text(ike.get("remote-host"))))
    return found


def terminate(session: Any, identities: Collection[str], timeout_ms: int = 5000) -> list[Terminated]:
    """Close every IKE_SA (and its CHILD_SAs) whose peer authenticated as one of ``identities``.

    5.9's vici terminates by configuration name or unique id only, so the SAs are found with list-sas
    first (read to its end: one command at a time per session), then ended one by one. ``force`` drops
    the SA locally even when the client never answers the DELETE.
    """
    from vici.exception import CommandException

    found = matching_sas(list(session.list_sas()), identities)
    done = []
    for sa in found:
        try:
            for _log in session.terminate({"ike-id": sa.ike_id, "force": "yes", "timeout": timeout_ms}):
                pass
        except CommandException:
            continue  # gone meanwhile (the client left, or DPD removed it)
        done.append(sa)
    return done
