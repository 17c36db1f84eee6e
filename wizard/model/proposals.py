"""Cipher proposals: the presets, and validation of custom lists against strongSwan's keywords.

A proposal is a dash-joined list of algorithm keywords (``aes256-sha256-modp2048``); a list of
proposals is offered in order. Sources for each preset: shared reference §2 (strongSwan 5.9.8
``proposal.c`` and ``proposal_keywords_static.txt``, the strongSwan interop pages per client OS).
The keyword tables below are what a 5.9.8 charon accepts; ``tests/test_proposals.py`` loads every one
of them into a real charon to keep it that way.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# IKEv2 "modern": one AEAD and one classic proposal, each listing every group some common client needs.
#  - aes256gcm16 + prfsha384 + ecp384: what the generated Windows PowerShell profile configures
#    (Set-VpnConnectionIPsecConfiguration GCMAES256/SHA384/ECP384).
#  - aes256-sha256-modp2048 and -ecp256: iOS/macOS offers (iOS 14+ supports SHA2 and group 14).
#  - x25519, modp3072, modp2048: Android's native client offers no ECP group at all.
#  - aes128 variants: NetworkManager and the strongSwan app fall back to charon's defaults.
#  - no modp1024/modp1536 (weak, excluded from strongSwan's own defaults), no SHA1, no 3DES.
MODERN_IKE = (
    "aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-ecp256-x25519-modp3072-modp2048",
    "aes256-aes128-sha384-sha256-ecp384-ecp256-x25519-modp3072-modp2048",
)
# ESP: the trailing "none" makes PFS optional on CHILD_SA rekey, so clients that rekey with a DH group
# (iOS, Windows with -PfsGroup) and those that rekey without one (macOS) both keep their tunnel.
MODERN_ESP = (
    "aes256gcm16-aes128gcm16-ecp384-ecp256-x25519-modp3072-modp2048-none",
    "aes256-aes128-sha384-sha256-ecp384-ecp256-x25519-modp3072-modp2048-none",
)

# The Arch Wiki article's exact lists (ipsec.conf adds the "!" that suppresses charon's defaults). The
# article's conn %default gives them to every conn, its IKEv1 CiscoIPSec included: each entry already
# names one algorithm of each kind, so they are valid IKEv1 proposals as they stand.
SEED_IKE = (
    "aes128-sha256-ecp256", "aes256-sha384-ecp384", "aes128-sha256-modp2048", "aes128-sha1-modp2048",
    "aes256-sha384-modp4096", "aes256-sha256-modp4096", "aes256-sha1-modp4096", "aes128-sha256-modp1536",
    "aes128-sha1-modp1536", "aes256-sha384-modp2048", "aes256-sha256-modp2048", "aes256-sha1-modp2048",
    "aes128-sha256-modp1024", "aes128-sha1-modp1024", "aes256-sha384-modp1536", "aes256-sha256-modp1536",
    "aes256-sha1-modp1536", "aes256-sha384-modp1024", "aes256-sha256-modp1024", "aes256-sha1-modp1024",
)
SEED_ESP = (
    "aes128gcm16-ecp256", "aes256gcm16-ecp384", "aes128-sha256-ecp256", "aes256-sha384-ecp384",
    "aes128-sha256-modp2048", "aes128-sha1-modp2048", "aes256-sha384-modp4096", "aes256-sha256-modp4096",
    "aes256-sha1-modp4096", "aes128-sha256-modp1536", "aes128-sha1-modp1536", "aes256-sha384-modp2048",
    "aes256-sha256-modp2048", "aes256-sha1-modp2048", "aes128-sha256-modp1024", "aes128-sha1-modp1024",
    "aes256-sha384-modp1536", "aes256-sha256-modp1536", "aes256-sha1-modp1536", "aes256-sha384-modp1024",
    "aes256-sha256-modp1024", "aes256-sha1-modp1024", "aes128gcm16", "aes256gcm16", "aes128-sha256",
    "aes128-sha1", "aes256-sha384", "aes256-sha256", "aes256-sha1",
)

# IKEv1 "modern" (ikev1-xauth, l2tp): IKEv1 negotiates one algorithm of each kind per proposal (extra
# ones are silently dropped), so these are several single-algorithm proposals (reference §1.3, §2.4):
#  - AES-CBC with SHA2-256 first, MODP-2048 (group 14): what current iOS/macOS "Cisco IPSec" and
#    Windows L2TP clients offer and what hwdsl2's widely used L2TP/XAuth server accepts.
#  - the SHA1 variants stay because Windows' and Android's IKEv1 clients still offer SHA1 only; the IKE
#    SA keeps MODP-2048, never modp1024.
#  - no AEAD in the IKE SA: IKEv1 phase 1 has CBC ciphers only.
IKEV1_IKE = (
    "aes256-sha256-modp2048", "aes128-sha256-modp2048", "aes256-sha1-modp2048", "aes128-sha1-modp2048",
)
IKEV1_ESP = ("aes256-sha256", "aes128-sha256", "aes256-sha1", "aes128-sha1")

_SIZES = ("128", "192", "256")
# Classic (non-AEAD) ciphers. The CBC ones are the only ciphers IKEv1 knows for its IKE SA.
CBC = frozenset(
    ["des", "3des", "aes", "camellia", "blowfish", "cast128", "serpent", "twofish"]
    + [f"{name}{s}" for name in ("aes", "camellia", "blowfish", "serpent", "twofish") for s in _SIZES]
)
CTR = frozenset(f"{name}{s}ctr" for name in ("aes", "camellia") for s in _SIZES)
# ICV length in bytes (8/12/16) or bits (64/96/128); no suffix is the 16-byte ICV.
AEAD = frozenset(
    [f"aes{s}{mode}{icv}" for s in _SIZES for mode in ("gcm", "ccm") for icv in ("8", "12", "16", "64", "96",
                                                                                    "128", "")]
    + [f"camellia{s}ccm{icv}" for s in _SIZES for icv in ("8", "12", "16", "64", "96", "128")]
    + ["chacha20poly1305", "chacha20poly1305compat"]
)
# GMAC authenticates without encrypting: strongSwan counts it as an encryption algorithm (ENCR_NULL_AUTH).
GMAC = frozenset(f"aes{s}gmac" for s in _SIZES)
ENCRYPTION = frozenset(CBC | CTR | AEAD | GMAC | {"null"})
INTEGRITY = frozenset(
    ["md5", "md5_128", "sha", "sha1", "sha1_160", "sha256", "sha2_256", "sha256_96", "sha2_256_96",
     "sha384", "sha2_384", "sha512", "sha2_512", "aesxcbc", "camelliaxcbc", "aescmac"]
)
# The truncated SHA-256 (an old Linux kernel's bug, kept for compatibility) exists for ESP only.
ESP_ONLY_INTEGRITY = frozenset(["sha256_96", "sha2_256_96"])
# IKEv1's IKE SA names a hash, not an integrity algorithm: only these have one.
IKEV1_HASH = frozenset(["md5", "sha", "sha1", "sha256", "sha2_256", "sha384", "sha2_384", "sha512", "sha2_512"])
PRF = frozenset(
    ["prfmd5", "prfsha1", "prfsha256", "prfsha384", "prfsha512", "prfaesxcbc", "prfcamelliaxcbc", "prfaescmac"]
)
NO_KE = frozenset(["none", "modpnone"])  # "no PFS": ESP only
KEY_EXCHANGE = frozenset(
    ["modp768", "modp1024", "modp1536", "modp2048", "modp3072", "modp4096", "modp6144", "modp8192",
     "modp1024s160", "modp2048s224", "modp2048s256", "ecp192", "ecp224", "ecp256", "ecp384", "ecp521",
     "ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp", "curve25519", "x25519", "curve448", "x448"]
) | NO_KE
ESN = frozenset(["esn", "noesn"])

WEAK = {
    "des": "DES is broken",
    "3des": "3DES has a 64-bit block and less than 128-bit strength",
    "blowfish": "Blowfish has a 64-bit block",
    "cast128": "CAST-128 has a 64-bit block",
    "null": "null encryption sends traffic in the clear",
    "md5": "MD5 is broken",
    "md5_128": "MD5 is broken",
    "prfmd5": "MD5 is broken",
    "sha": "SHA-1 is below 128-bit strength; keep it only for old clients",
    "sha1": "SHA-1 is below 128-bit strength; keep it only for old clients",
    "sha1_160": "SHA-1 is below 128-bit strength; keep it only for old clients",
    "prfsha1": "SHA-1 is below 128-bit strength; keep it only for old clients",
    "modp768": "768-bit MODP is broken",
    "modp1024": "modp1024 (group 2) is weak and excluded from strongSwan's defaults",
    "modp1536": "modp1536 (group 5) is weak and excluded from strongSwan's defaults",
    "modp1024s160": "RFC 5114 groups are of questionable origin",
    "modp2048s224": "RFC 5114 groups are of questionable origin",
    "modp2048s256": "RFC 5114 groups are of questionable origin",
    "ecp192": "ECP-192 is below 128-bit strength",
    "ecp224": "ECP-224 is below 128-bit strength",
}
for _name in ("blowfish128", "blowfish192", "blowfish256"):
    WEAK[_name] = WEAK["blowfish"]
for _name in GMAC:
    WEAK[_name] = "GMAC authenticates but does not encrypt"

_TOKEN = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class ProposalCheck:
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Parts:
    """A proposal's keywords sorted by kind, in the order given."""

    encryption: tuple[str, ...]
    integrity: tuple[str, ...]
    prf: tuple[str, ...]
    key_exchange: tuple[str, ...]
    esn: tuple[str, ...]
    unknown: tuple[str, ...]


def split(proposal: str) -> Parts:
    kinds: dict[str, list[str]] = {"enc": [], "integ": [], "prf": [], "ke": [], "esn": [], "unknown": []}
    for token in proposal.strip().lower().split("-"):
        kind = ("enc" if token in ENCRYPTION else "integ" if token in INTEGRITY else "prf" if token in PRF
                else "ke" if token in KEY_EXCHANGE else "esn" if token in ESN else "unknown")
        kinds[kind].append(token)
    return Parts(*(tuple(kinds[k]) for k in ("enc", "integ", "prf", "ke", "esn", "unknown")))


def _unknown_errors(proposal: str, parts: Parts, kind: str) -> list[str]:
    errors = []
    for token in parts.unknown:
        errors.append(f"unknown algorithm '{token}' in '{proposal}'")
    if kind == "esp":
        errors += [f"'{proposal}': '{t}' is an IKE PRF; ESP proposals have none" for t in parts.prf]
    else:
        errors += [f"'{proposal}': '{t}' only exists for ESP" for t in parts.esn + tuple(
            i for i in parts.integrity if i in ESP_ONLY_INTEGRITY)]
        if any(k in NO_KE for k in parts.key_exchange):
            errors.append(f"'{proposal}': 'none' (no key exchange) only exists for ESP; IKE always needs a group")
    return errors


def _shape_errors_v2(proposal: str, parts: Parts, kind: str) -> list[str]:
    errors = []
    aead = [e for e in parts.encryption if e in AEAD or e in GMAC]
    classic = [e for e in parts.encryption if e not in AEAD and e not in GMAC]
    if not parts.encryption:
        errors.append(f"'{proposal}' names no encryption algorithm")
    if aead and classic:
        errors.append(f"'{proposal}' mixes AEAD ({', '.join(aead)}) and classic ciphers ({', '.join(classic)}); "
                      "put them in separate proposals")
    if classic and not parts.integrity:
        errors.append(f"'{proposal}' names no integrity algorithm (needed without an AEAD cipher)")
    if kind == "ike" and not any(k not in NO_KE for k in parts.key_exchange):
        errors.append(f"'{proposal}' names no key exchange group (IKE needs one)")
    return errors


def _shape_errors_v1(proposal: str, parts: Parts, kind: str) -> list[str]:
    """IKEv1: one algorithm of each kind; the IKE SA has CBC ciphers and a hash only."""
    errors = []
    for what, found in (("encryption", parts.encryption), ("integrity", parts.integrity),
                        ("key exchange", parts.key_exchange), ("PRF", parts.prf)):
        if len(found) > 1:
            errors.append(f"'{proposal}' names {len(found)} {what} algorithms; IKEv1 negotiates one of each kind "
                          "per proposal, so list one proposal per combination")
    if not parts.encryption:
        errors.append(f"'{proposal}' names no encryption algorithm")
    if kind == "ike":
        errors += [f"'{proposal}': IKEv1 has no {e} for the IKE SA (CBC ciphers only)"
                   for e in parts.encryption if e not in CBC]
        errors += [f"'{proposal}': IKEv1 has no {i} hash for the IKE SA" for i in parts.integrity
                   if i not in IKEV1_HASH]
        if not parts.integrity:
            errors.append(f"'{proposal}' names no integrity (hash) algorithm; the IKEv1 IKE SA needs one")
        if parts.prf:
            errors.append(f"'{proposal}': IKEv1 derives the PRF from the hash; leave out {parts.prf[0]}")
        if not any(k not in NO_KE for k in parts.key_exchange):
            errors.append(f"'{proposal}' names no key exchange group (IKE needs one)")
    else:
        classic = [e for e in parts.encryption if e not in AEAD and e not in GMAC]
        if classic and not parts.integrity:
            errors.append(f"'{proposal}' names no integrity algorithm (needed without an AEAD cipher)")
    return errors


def check_proposal(proposal: str, kind: str, ike_version: int = 2) -> ProposalCheck:
    """Check one proposal for ``kind`` "ike" or "esp" against the keywords strongSwan 5.9 knows."""
    text = proposal.strip().lower()
    tokens = text.split("-")
    if not text or any(not t or not _TOKEN.match(t) for t in tokens):
        return ProposalCheck((f"'{proposal}' is not a proposal (algorithm keywords joined by '-')",), ())
    parts = split(text)
    errors = _unknown_errors(proposal, parts, kind)
    if not errors:
        shape = _shape_errors_v1 if ike_version == 1 else _shape_errors_v2
        errors = shape(proposal, parts, kind)
    warnings = [f"'{proposal}' offers {t}: {WEAK[t]}" for t in tokens if t in WEAK]
    return ProposalCheck(tuple(errors), tuple(dict.fromkeys(warnings)))


def ikev1_split(proposals: Iterable[str], kind: str) -> tuple[str, ...]:
    """IKEv1 proposals (one algorithm of each kind) covering what IKEv2 ``proposals`` allow.

    Each IKEv2 proposal becomes the product of its algorithms, in order. What IKEv1 cannot do is left
    out: AEAD/CTR ciphers and PRF-only hashes in the IKE SA, and "none" becomes a proposal without PFS.
    """
    out: list[str] = []
    for proposal in proposals:
        parts = split(proposal)
        if kind == "ike":
            encs = [e for e in parts.encryption if e in CBC]
            integs: Sequence[str | None] = [i for i in parts.integrity if i in IKEV1_HASH]
            groups: Sequence[str | None] = [k for k in parts.key_exchange if k not in NO_KE]
        else:
            encs = list(parts.encryption)
            integs = list(parts.integrity) or [None]
            groups = [None if k in NO_KE else k for k in parts.key_exchange] or [None]
        for enc, integ, group in itertools.product(encs, integs, groups):
            if kind == "esp" and integ is not None and enc in AEAD:
                continue  # an AEAD cipher takes no integrity algorithm
            if kind == "esp" and integ is None and enc not in AEAD and enc not in GMAC:
                continue
            out.append("-".join(t for t in (enc, integ, group) if t))
    return tuple(dict.fromkeys(out))


def preset(name: str, kind: str, ike_version: int = 2) -> tuple[str, ...]:
    """A named preset's list: "modern" or "seed", for "ike" or "esp", for IKEv2 or IKEv1 connections."""
    if ike_version == 1 and name != "seed":
        return IKEV1_IKE if kind == "ike" else IKEV1_ESP
    table = {("modern", "ike"): MODERN_IKE, ("modern", "esp"): MODERN_ESP,
             ("seed", "ike"): SEED_IKE, ("seed", "esp"): SEED_ESP}
    return table[(name, kind)]
