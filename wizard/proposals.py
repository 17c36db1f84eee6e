"""Cipher proposals: the presets, and validation of custom lists against strongSwan's keywords.

A proposal is a dash-joined list of algorithm keywords (``aes256-sha256-modp2048``); a list of
proposals is offered in order. Sources for each preset: shared reference §2 (strongSwan 5.9.8
``proposal.c`` and ``proposal_keywords_static.txt``, the strongSwan interop pages per client OS).
"""

from __future__ import annotations

import re
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

# The Arch Wiki article's exact lists (ipsec.conf adds the "!" that suppresses charon's defaults).
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

# IKEv1 negotiates one algorithm of each kind per proposal (extra ones are silently dropped), so
# these list several single-algorithm proposals (reference §1.3, §2.4).
IKEV1_IKE = (
    "aes256-sha256-modp2048", "aes128-sha256-modp2048", "aes256-sha1-modp2048", "aes128-sha1-modp2048",
)
IKEV1_ESP = ("aes256-sha256", "aes128-sha256", "aes256-sha1", "aes128-sha1")

_AES_SIZES = ("128", "192", "256")
ENCRYPTION = frozenset(
    [f"aes{s}" for s in _AES_SIZES]
    + [f"aes{s}ctr" for s in _AES_SIZES]
    + [f"aes{s}{mode}{icv}" for s in _AES_SIZES for mode in ("gcm", "ccm") for icv in ("8", "12", "16")]
    + [f"aes{s}{mode}{icv}" for s in _AES_SIZES for mode in ("gcm", "ccm") for icv in ("64", "96", "128")]
    + [f"aes{s}gmac" for s in _AES_SIZES]
    + [f"camellia{s}" for s in _AES_SIZES]
    + [f"camellia{s}ctr" for s in _AES_SIZES]
    + ["aes", "camellia", "chacha20poly1305", "3des", "des", "cast128", "blowfish", "null",
       "blowfish128", "blowfish192", "blowfish256", "twofish", "serpent"]
)
AEAD = frozenset(e for e in ENCRYPTION if "gcm" in e or "ccm" in e or e == "chacha20poly1305")
INTEGRITY = frozenset(
    ["md5", "md5_128", "sha1", "sha", "sha1_160", "sha256", "sha2_256", "sha256_96", "sha2_256_96",
     "sha384", "sha2_384", "sha512", "sha2_512", "aesxcbc", "aescmac", "aes128gmac", "aes192gmac",
     "aes256gmac"]
)
PRF = frozenset(
    ["prfmd5", "prfsha1", "prfsha256", "prfsha384", "prfsha512", "prfaesxcbc", "prfaescmac"]
)
KEY_EXCHANGE = frozenset(
    ["modp768", "modp1024", "modp1536", "modp2048", "modp3072", "modp4096", "modp6144", "modp8192",
     "modp1024s160", "modp2048s224", "modp2048s256", "ecp192", "ecp224", "ecp256", "ecp384", "ecp521",
     "ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp", "curve25519", "x25519", "curve448", "x448",
     "none", "modpnone"]
)
ESN = frozenset(["esn", "noesn"])

WEAK = {
    "des": "DES is broken",
    "3des": "3DES has a 64-bit block and less than 128-bit strength",
    "null": "null encryption sends traffic in the clear",
    "md5": "MD5 is broken",
    "md5_128": "MD5 is broken",
    "prfmd5": "MD5 is broken",
    "modp768": "768-bit MODP is broken",
    "modp1024": "modp1024 (group 2) is weak and excluded from strongSwan's defaults",
    "modp1536": "modp1536 (group 5) is weak and excluded from strongSwan's defaults",
    "modp1024s160": "RFC 5114 groups are of questionable origin",
    "modp2048s224": "RFC 5114 groups are of questionable origin",
    "modp2048s256": "RFC 5114 groups are of questionable origin",
    "ecp192": "ECP-192 is below 128-bit strength",
    "ecp224": "ECP-224 is below 128-bit strength",
}

_TOKEN = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class ProposalCheck:
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def check_proposal(proposal: str, kind: str) -> ProposalCheck:
    """Check one proposal for ``kind`` "ike" or "esp" against the keywords strongSwan 5.9 knows."""
    errors: list[str] = []
    warnings: list[str] = []
    tokens = proposal.strip().lower().split("-")
    if not proposal.strip() or any(not t for t in tokens):
        return ProposalCheck((f"'{proposal}' is not a proposal (empty algorithm between dashes)",), ())
    allowed = ENCRYPTION | INTEGRITY | KEY_EXCHANGE | (PRF if kind == "ike" else ESN)
    for token in tokens:
        if not _TOKEN.match(token) or token not in allowed:
            hint = " (PRF keywords only belong in IKE proposals)" if token in PRF else ""
            errors.append(f"unknown algorithm '{token}' in '{proposal}'{hint}")
        elif token in WEAK:
            warnings.append(f"'{proposal}' offers {token}: {WEAK[token]}")
    if not errors:
        has_enc = any(t in ENCRYPTION for t in tokens)
        aead = any(t in AEAD for t in tokens)
        has_integ = any(t in INTEGRITY for t in tokens)
        if not has_enc:
            errors.append(f"'{proposal}' names no encryption algorithm")
        if kind == "ike" and not aead and not has_integ:
            errors.append(f"'{proposal}' names no integrity algorithm (needed without an AEAD cipher)")
        if kind == "ike" and not any(t in KEY_EXCHANGE and t not in ("none", "modpnone") for t in tokens):
            errors.append(f"'{proposal}' names no key exchange group (IKE needs one)")
    return ProposalCheck(tuple(errors), tuple(dict.fromkeys(warnings)))


def preset(name: str, kind: str, ike_version: int = 2) -> tuple[str, ...]:
    if ike_version == 1:
        return IKEV1_IKE if kind == "ike" else IKEV1_ESP
    table = {("modern", "ike"): MODERN_IKE, ("modern", "esp"): MODERN_ESP,
             ("seed", "ike"): SEED_IKE, ("seed", "esp"): SEED_ESP}
    return table[(name, kind)]
