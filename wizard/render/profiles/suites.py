"""Which single cipher suite each client platform should configure so the server accepts it.

Windows and Apple profiles cannot list strongSwan proposals: they name exactly one encryption, one
integrity/PRF hash and one Diffie-Hellman group, from each platform's own vocabulary. This module reads
the server's proposal lists (the same tuples the server configuration is rendered from) and picks, per
platform, the first combination the server accepts and the platform can express, so a profile and the
server cannot disagree. strongSwan-based clients (Android app, NetworkManager, swanctl) take the
proposal strings verbatim and need none of this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wizard.model.proposals import AEAD, ENCRYPTION, INTEGRITY, KEY_EXCHANGE, PRF

# strongSwan accepts several spellings of one algorithm; the platform tables below use these.
_ALIASES = {
    "aes": "aes128",
    "sha": "sha1",
    "sha1_160": "sha1",
    "sha2_256": "sha256",
    "sha2_384": "sha384",
    "sha2_512": "sha512",
    "x25519": "curve25519",
    "x448": "curve448",
    "modpnone": "none",
}
# The ICV length spelled in bits (aes256gcm128) is the same algorithm as in bytes (aes256gcm16).
for _size in ("128", "192", "256"):
    for _mode in ("gcm", "ccm"):
        for _bits, _bytes in (("64", "8"), ("96", "12"), ("128", "16")):
            _ALIASES[f"aes{_size}{_mode}{_bits}"] = f"aes{_size}{_mode}{_bytes}"


@dataclass(frozen=True)
class Parsed:
    encryption: tuple[str, ...]
    integrity: tuple[str, ...]
    prf: tuple[str, ...]  # without the "prf" prefix: "sha384"
    groups: tuple[str, ...]  # "none" when the proposal allows no DH (ESP only)


def parse(proposal: str) -> Parsed:
    enc: list[str] = []
    integ: list[str] = []
    prf: list[str] = []
    groups: list[str] = []
    for raw in proposal.strip().lower().split("-"):
        token = _ALIASES.get(raw, raw)
        if raw in PRF:
            prf.append(_ALIASES.get(raw[3:], raw[3:]))
        elif raw in ENCRYPTION:
            enc.append(token)
        elif raw in INTEGRITY:
            integ.append(token)
        elif raw in KEY_EXCHANGE:
            groups.append(token)
    return Parsed(tuple(enc), tuple(integ), tuple(prf), tuple(groups))


def is_aead(encryption: str) -> bool:
    return encryption in AEAD or _ALIASES.get(encryption, encryption) in AEAD


@dataclass(frozen=True)
class Platform:
    """One platform's names for the algorithms it supports (keys: strongSwan keywords)."""

    name: str
    ike_encryption: Mapping[str, str]
    ike_hash: Mapping[str, str]  # integrity and PRF are one setting on these platforms
    ike_groups: Mapping[str, str | int]
    esp_encryption: Mapping[str, str]
    esp_integrity: Mapping[str, str]  # for non-AEAD ciphers
    esp_groups: Mapping[str, str | int]  # PFS groups


@dataclass(frozen=True)
class IkeChoice:
    encryption: str  # strongSwan keywords
    hash: str
    group: str
    proposal: str  # the server proposal it satisfies


@dataclass(frozen=True)
class EspChoice:
    encryption: str
    integrity: str | None  # None with an AEAD cipher
    group: str | None  # None: no PFS
    proposal: str


def choose_ike(proposals: Sequence[str], platform: Platform) -> IkeChoice | None:
    for proposal in proposals:
        p = parse(proposal)
        group = next((g for g in p.groups if g in platform.ike_groups), None)
        if group is None:
            continue
        for enc in p.encryption:
            if enc not in platform.ike_encryption:
                continue
            if is_aead(enc):
                # An AEAD cipher needs no integrity algorithm; the platform's "integrity" setting is the PRF.
                hashes = [h for h in p.prf if h in platform.ike_hash]
            else:
                # Without an explicit PRF strongSwan derives one from each integrity algorithm.
                prfs = p.prf or p.integrity
                hashes = [h for h in p.integrity if h in prfs and h in platform.ike_hash]
            if hashes:
                return IkeChoice(enc, hashes[0], group, proposal)
    return None


def choose_esp(proposals: Sequence[str], platform: Platform, prefer_pfs: bool = True) -> EspChoice | None:
    for proposal in proposals:
        p = parse(proposal)
        optional = not p.groups or "none" in p.groups
        supported = [g for g in p.groups if g in platform.esp_groups and g != "none"]
        if not supported and not optional:
            continue
        group = supported[0] if supported and (prefer_pfs or not optional) else None
        for enc in p.encryption:
            if enc not in platform.esp_encryption:
                continue
            if is_aead(enc):
                return EspChoice(enc, None, group, proposal)
            integ = next((i for i in p.integrity if i in platform.esp_integrity), None)
            if integ is not None:
                return EspChoice(enc, integ, group, proposal)
    return None


# Apple: VPN.IKEv2 IKESecurityAssociationParameters / ChildSecurityAssociationParameters
# (developer.apple.com, devicemanagement/vpn/ikev2-data.dictionary; reference §4.1).
APPLE = Platform(
    name="Apple",
    ike_encryption={"aes256gcm16": "AES-256-GCM", "aes128gcm16": "AES-128-GCM", "aes256": "AES-256",
                    "aes128": "AES-128", "chacha20poly1305": "ChaCha20Poly1305", "3des": "3DES"},
    ike_hash={"sha384": "SHA2-384", "sha256": "SHA2-256", "sha512": "SHA2-512", "sha1": "SHA1-96"},
    ike_groups={"ecp384": 20, "ecp256": 19, "ecp521": 21, "curve25519": 31, "curve448": 32,
                "modp2048": 14, "modp3072": 15, "modp4096": 16, "modp6144": 17, "modp8192": 18,
                "modp1536": 5, "modp1024": 2},
    esp_encryption={"aes256gcm16": "AES-256-GCM", "aes128gcm16": "AES-128-GCM", "aes256": "AES-256",
                    "aes128": "AES-128", "chacha20poly1305": "ChaCha20Poly1305", "3des": "3DES"},
    esp_integrity={"sha384": "SHA2-384", "sha256": "SHA2-256", "sha512": "SHA2-512", "sha1": "SHA1-96"},
    esp_groups={"ecp384": 20, "ecp256": 19, "ecp521": 21, "curve25519": 31, "curve448": 32,
                "modp2048": 14, "modp3072": 15, "modp4096": 16, "modp6144": 17, "modp8192": 18,
                "modp1536": 5, "modp1024": 2},
)

# Windows: Set-VpnConnectionIPsecConfiguration's enumerations (reference §4.2). ESP integrity is SHA-1 or
# SHA-256 only; a GCM cipher is named again as its own "authentication transform".
WINDOWS = Platform(
    name="Windows",
    ike_encryption={"aes256gcm16": "GCMAES256", "aes128gcm16": "GCMAES128", "aes256": "AES256",
                    "aes192": "AES192", "aes128": "AES128", "3des": "DES3"},
    ike_hash={"sha384": "SHA384", "sha256": "SHA256", "sha1": "SHA1"},
    ike_groups={"ecp384": "ECP384", "ecp256": "ECP256", "modp2048": "Group14", "modp1024": "Group2",
                "modp2048s256": "Group24"},
    esp_encryption={"aes256gcm16": "GCMAES256", "aes192gcm16": "GCMAES192", "aes128gcm16": "GCMAES128",
                    "aes256": "AES256", "aes192": "AES192", "aes128": "AES128", "3des": "DES3"},
    esp_integrity={"sha256": "SHA256128", "sha1": "SHA196"},
    esp_groups={"ecp384": "ECP384", "ecp256": "ECP256", "modp2048": "PFS2048", "modp1024": "PFS2",
                "modp2048s256": "PFS24"},
)
