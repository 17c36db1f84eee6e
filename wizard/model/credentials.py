"""Passwords and pre-shared keys of the VPN variants: resolved from the answers, or generated once.

A generated secret is stored 0600 under /etc/swan-wizard/secrets/ the first time and read back on
every later run, so re-applying the same answers gives the same configuration. ``secret_key`` alone
names each secret there, from its variant and its owner, so that no two secrets can share a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model.answers import GENERATE, Answers, Ikev1Xauth, L2tp, Secret
from wizard.model.secrets import SecretSource, generate_password, read_secret_file, remember

Variant = Literal["eap", "xauth", "l2tp", "transport", "radius"]


@dataclass(frozen=True)
class Credential:
    key: str  # file name under /etc/swan-wizard/secrets when generated
    field: str  # where it comes from in the answers, for messages
    value: bytes
    generated: bool
    migrated_from: str | None = None  # the old file name a stored secret was read from (moved by the plan)

    @property
    def text(self) -> str:
        return self.value.decode("utf-8")


def secret_key(variant: Variant, owner: str | None = None) -> str:
    """The name of a secret: ``xauth.psk`` for a variant's group PSK, ``xauth.user.NAME`` for a user's
    password, ``transport.peer.NAME`` for a peer's PSK.

    The role sits between variant and owner, so a user called "psk" (``xauth.user.psk``) can never be
    the group PSK; and no key has the old ``variant-owner`` form, so an old file is never read as a new one.
    """
    if owner is None:
        return f"{variant}.psk"
    role = {"transport": "peer", "radius": "server"}.get(variant, "user")
    return f"{variant}.{role}.{owner}"


def legacy_key(variant: Variant, owner: str | None = None) -> str | None:
    """The file name older versions stored the secret under, when it was the secret's alone.

    "xauth-psk" and "l2tp-psk" were both the group PSK and the password of a user called "psk": that
    file is the group's, never handed to the user.
    """
    if owner is None:
        return f"{variant}-psk"
    if variant == "radius":
        return None  # new with this version: no older file to carry over
    if variant in ("xauth", "l2tp") and owner == "psk":
        return None
    return f"{variant}-{owner}"


def secret_file(key: str) -> PurePosixPath:
    return paths.SECRETS_DIR / key


def _stored(root: Root, key: str, field: str) -> bytes | None:
    path = root(secret_file(key))
    if not path.is_file():
        return None
    return remember(read_secret_file(path, field).strip().encode())


def _resolve(root: Root, source: SecretSource, secret: Secret | None, variant: Variant, owner: str | None,
             field: str, warnings: list[tuple[str, str]]) -> Credential:
    key = secret_key(variant, owner)
    value = source.resolve(secret if secret is not None else GENERATE, field)
    if value is not None:
        return Credential(key, field, value, False)
    stored = _stored(root, key, field)
    if stored:
        return Credential(key, field, stored, True)
    old = legacy_key(variant, owner)
    stored = _stored(root, old, field) if old is not None else None
    if stored:
        # An upgrade keeps the password: the plan writes it under the new name and removes the old file.
        return Credential(key, field, stored, True, migrated_from=old)
    if old is None and variant != "radius" and root(secret_file(f"{variant}-{owner}")).is_file():
        warnings.append((field, f"the stored password of '{owner}' was the file of the group PSK "
                                f"({secret_file(f'{variant}-{owner}')}); '{owner}' gets a new generated password"))
    psk = owner is None or variant in ("transport", "radius")
    # PSKs are typed once into each client: longer than a login password, same readable alphabet.
    generated = generate_password(groups=6) if psk else generate_password()
    return Credential(key, field, generated.encode(), True)


def resolve(answers: Answers, root: Root, source: SecretSource,
            warnings: list[tuple[str, str]] | None = None) -> dict[str, Credential]:
    """Every credential the enabled variants need, by key (``secret_key``); ``warnings`` collects what an
    upgrade could not carry over."""
    out: dict[str, Credential] = {}
    notes = warnings if warnings is not None else []
    v = answers.variants

    def add(secret: Secret | None, variant: Variant, owner: str | None, field: str) -> None:
        credential = _resolve(root, source, secret, variant, owner, field, notes)
        assert credential.key not in out, credential.key  # secret_key is one-to-one
        out[credential.key] = credential

    if v.ikev2_eap is not None:
        for i, user in enumerate(v.ikev2_eap.users):
            add(user.password, "eap", user.name, f"variants.ikev2-eap.users[{i}].password")
    if v.transport is not None:
        for i, peer in enumerate(v.transport.peers):
            if peer.auth == "psk":
                add(peer.psk, "transport", peer.name, f"variants.transport.peers[{i}].psk")
    if v.users_in_radius() and answers.radius is not None:
        for i, server in enumerate(answers.radius.servers):
            add(server.secret, "radius", server.address, f"radius.servers[{i}].secret")
    typed: tuple[tuple[Variant, str, Ikev1Xauth | L2tp | None], ...] = (
        ("xauth", "ikev1-xauth", v.ikev1_xauth), ("l2tp", "l2tp", v.l2tp))
    for variant, section, ikev1 in typed:
        if ikev1 is None:
            continue
        if ikev1.auth == "psk":
            add(ikev1.psk, variant, None, f"variants.{section}.psk")
        for i, user in enumerate(ikev1.users):
            add(user.password, variant, user.name, f"variants.{section}.users[{i}].password")
    return out
