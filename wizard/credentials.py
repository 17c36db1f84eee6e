"""Passwords and pre-shared keys of the VPN variants: resolved from the answers, or generated once.

A generated secret is stored 0600 under /etc/swan-wizard/secrets/ the first time and read back on
every later run, so re-applying the same answers gives the same configuration. Each secret has a key
that names it there (``eap-alice``, ``l2tp-psk``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from wizard import paths
from wizard.answers import GENERATE, Answers, Secret
from wizard.paths import Root
from wizard.secrets import SecretSource, generate_password


@dataclass(frozen=True)
class Credential:
    key: str  # file name under /etc/swan-wizard/secrets when generated
    field: str  # where it comes from in the answers, for messages
    value: bytes
    generated: bool

    @property
    def text(self) -> str:
        return self.value.decode("utf-8")


def secret_file(key: str) -> PurePosixPath:
    return paths.SECRETS_DIR / key


def _resolve(root: Root, source: SecretSource, secret: Secret | None, key: str, field: str,
             psk: bool = False) -> Credential:
    value = source.resolve(secret if secret is not None else GENERATE, field)
    if value is not None:
        return Credential(key, field, value, False)
    stored = root(secret_file(key))
    if stored.is_file():
        text = stored.read_text().strip()
        if text:
            return Credential(key, field, text.encode(), True)
    # PSKs are typed once into each client: longer than a login password, same readable alphabet.
    generated = generate_password(groups=6) if psk else generate_password()
    return Credential(key, field, generated.encode(), True)


def resolve(answers: Answers, root: Root, source: SecretSource) -> dict[str, Credential]:
    """Every credential the enabled variants need, by key."""
    out: dict[str, Credential] = {}
    v = answers.variants

    def add(secret: Secret | None, key: str, field: str, psk: bool = False) -> None:
        out[key] = _resolve(root, source, secret, key, field, psk)

    if v.ikev2_eap is not None:
        for i, user in enumerate(v.ikev2_eap.users):
            add(user.password, f"eap-{user.name}", f"variants.ikev2-eap.users[{i}].password")
    if v.ikev1_xauth is not None:
        if v.ikev1_xauth.auth == "psk":
            add(v.ikev1_xauth.psk, "xauth-psk", "variants.ikev1-xauth.psk", psk=True)
        for i, user in enumerate(v.ikev1_xauth.users):
            add(user.password, f"xauth-{user.name}", f"variants.ikev1-xauth.users[{i}].password")
    if v.transport is not None:
        for i, peer in enumerate(v.transport.peers):
            if peer.auth == "psk":
                add(peer.psk, f"transport-{peer.name}", f"variants.transport.peers[{i}].psk", psk=True)
    if v.l2tp is not None:
        if v.l2tp.auth == "psk":
            add(v.l2tp.psk, "l2tp-psk", "variants.l2tp.psk", psk=True)
        for i, user in enumerate(v.l2tp.users):
            add(user.password, f"l2tp-{user.name}", f"variants.l2tp.users[{i}].password")
    return out
