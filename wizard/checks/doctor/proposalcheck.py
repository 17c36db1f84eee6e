"""Whether common clients can negotiate the configured proposals at all.

What each client sends comes from the shared reference §2.2 (AOSP's VpnIkev2Utils for Android's built-in
client, strongSwan's interop pages for iOS and Windows). Clients configured by Swan Wizard's profiles
(Windows .ps1, Apple .mobileconfig) pick a suite from the server's own proposals with
``wizard.render.profiles.suites``; this module asks the same code whether such a suite exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.render.profiles import suites

_CBC = frozenset({"aes128", "aes192", "aes256"})
_CTR = frozenset({"aes128ctr", "aes192ctr", "aes256ctr"})
_GCM = frozenset(f"aes{s}gcm{icv}" for s in ("128", "192", "256") for icv in ("8", "12", "16"))
WEAK_GROUPS = frozenset({"modp768", "modp1024", "modp1536"})


@dataclass(frozen=True)
class Offer:
    """One proposal a client sends: the algorithms it accepts of each kind (strongSwan keywords)."""

    encryption: frozenset[str]
    integrity: frozenset[str] = frozenset()
    prf: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Client:
    name: str
    ike: tuple[Offer, ...]
    esp: tuple[Offer, ...]
    offers_ike: str  # how a finding describes what it sends
    offers_esp: str
    profile: suites.Platform | None = None  # configured from a generated profile instead of fixed offers


_ANDROID_GROUPS = frozenset({"modp4096", "curve25519", "modp3072", "modp2048"})
_ANDROID_PRF = frozenset({"sha512", "sha384", "sha256", "aesxcbc", "aescmac", "sha1"})
CLIENTS: tuple[Client, ...] = (
    Client("Android's built-in IKEv2 client", ike=(
        Offer(_CBC | _CTR, frozenset({"sha512", "sha384", "sha256", "aesxcbc", "aescmac"}), _ANDROID_PRF,
              _ANDROID_GROUPS),
        Offer(_GCM | {"chacha20poly1305"}, frozenset(), _ANDROID_PRF, _ANDROID_GROUPS)),
        esp=(Offer(_CBC | _CTR, frozenset({"sha512", "sha384", "sha256", "aesxcbc", "aescmac"})),
             Offer(_GCM | {"chacha20poly1305"})),
        offers_ike="DH only MODP-4096/3072/2048 and Curve25519 (no ECP), AES-CBC/CTR with SHA-2 or AES-GCM",
        offers_esp="AES-CBC/CTR with SHA-2, AES-XCBC/CMAC, or AES-GCM/ChaCha20-Poly1305"),
    Client("iOS/macOS set up by hand (no profile)", ike=(
        Offer(frozenset({"aes256"}), frozenset({"sha256"}), frozenset({"sha256"}),
              frozenset({"modp2048", "ecp256", "modp1536"})),
        Offer(frozenset({"aes128"}), frozenset({"sha1"}), frozenset({"sha1"}), frozenset({"modp1024"})),
        Offer(frozenset({"3des"}), frozenset({"sha1"}), frozenset({"sha1"}), frozenset({"modp1024"}))),
        esp=(Offer(frozenset({"aes256"}), frozenset({"sha256"})), Offer(frozenset({"aes128"}), frozenset({"sha1"})),
             Offer(frozenset({"3des"}), frozenset({"sha1"}))),
        offers_ike="AES-CBC-256/SHA2-256 with MODP-2048 or ECP-256 (else only MODP-1024 suites)",
        offers_esp="AES-CBC-256/SHA2-256 (else AES-128 or 3DES with SHA-1)"),
    Client("Apple devices with the generated .mobileconfig", (), (), "one suite Apple can name",
           "one suite Apple can name", profile=suites.APPLE),
    Client("Windows with the generated .ps1 (Set-VpnConnectionIPsecConfiguration)", (), (),
           "one suite Windows can name (AES-CBC/GCM, SHA-1/2, MODP-2048 or ECP-256/384)",
           "one suite Windows can name (AES-CBC with SHA-1 or SHA2-256, or AES-GCM)", profile=suites.WINDOWS),
)
# Without the .ps1, Windows offers only MODP-1024 suites: expected to fail against modern proposals.
WINDOWS_DEFAULT = Client("Windows without the generated .ps1 (built-in defaults)", ike=(
    Offer(frozenset({"3des", "aes128", "aes192", "aes256"}), frozenset({"sha1", "sha256", "sha384"}),
          frozenset({"sha1", "sha256", "sha384"}), frozenset({"modp1024"})),),
    esp=(Offer(frozenset({"aes256", "aes128", "3des"}), frozenset({"sha1"})),),
    offers_ike="only MODP-1024 (DH group 2)", offers_esp="only SHA-1 integrity")

# strongSwan's "default" keyword (reference §2.1): everything modern, no MODP < 2048.
_DEFAULT_GROUPS = frozenset({"ecp256", "ecp384", "ecp521", "curve25519", "curve448", "modp2048", "modp3072",
                             "modp4096", "modp6144", "modp8192", "ecp256bp", "ecp384bp", "ecp512bp"})


def _ike_matches(proposal: str, offer: Offer) -> bool:
    if proposal.strip().lower() == "default":
        return bool(offer.groups & _DEFAULT_GROUPS)
    p = suites.parse(proposal)
    groups = {"curve25519" if g == "x25519" else g for g in p.groups}
    if not groups & offer.groups:
        return False
    for enc in set(p.encryption) & offer.encryption:
        if suites.is_aead(enc):
            # A missing PRF in an AEAD proposal: charon's own choice, assume the client can follow.
            if not p.prf or set(p.prf) & offer.prf:
                return True
        elif set(p.integrity) & offer.integrity and set(p.prf or p.integrity) & offer.prf:
            return True
    return False


def _esp_matches(proposal: str, offer: Offer) -> bool:
    if proposal.strip().lower() == "default":
        return True
    p = suites.parse(proposal)
    for enc in set(p.encryption) & offer.encryption:
        if suites.is_aead(enc) or set(p.integrity) & offer.integrity:
            return True
    return False


def accepts(client: Client, ike: tuple[str, ...], esp: tuple[str, ...]) -> tuple[bool, bool]:
    """(IKE negotiable, ESP negotiable) for ``client`` against the configured proposal lists."""
    if client.profile is not None:
        real_ike = [p for p in ike if p.lower() != "default"]
        real_esp = [p for p in esp if p.lower() != "default"]
        ike_ok = "default" in (p.lower() for p in ike) or suites.choose_ike(real_ike, client.profile) is not None
        esp_ok = "default" in (p.lower() for p in esp) or suites.choose_esp(real_esp, client.profile) is not None
        return ike_ok, esp_ok
    return (any(_ike_matches(p, o) for p in ike for o in client.ike),
            any(_esp_matches(p, o) for p in esp for o in client.esp))


def only_weak_groups(ike: tuple[str, ...]) -> bool:
    groups = {g for p in ike if p.lower() != "default" for g in suites.parse(p).groups}
    return bool(groups) and groups <= WEAK_GROUPS and not any(p.lower() == "default" for p in ike)
