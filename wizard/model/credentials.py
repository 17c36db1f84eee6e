"""Passwords and pre-shared keys of the VPN variants: resolved from the answers, or generated once.

A generated secret is stored 0600 under /etc/swan-wizard/secrets/ the first time and read back on
every later run, so re-applying the same answers gives the same configuration. ``secret_key`` alone
names each secret there, from its variant and its owner, so that no two secrets can share a name.

A user on several password variants (EAP, XAUTH, L2TP) gets ONE generated password: each variant keeps
its own file, with the same value. A password already stored for one variant is the one a new variant of
that user gets; passwords stored before are never changed (clients already use them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model.answers import GENERATE, Answers, Ikev1Xauth, Ikev2Eap, L2tp, Secret, SecretRef, User
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
             field: str, warnings: list[tuple[str, str]], fresh: bytes | None = None) -> Credential:
    """The credential; ``fresh`` is what a newly generated one takes (the user's password on another variant)."""
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
    if fresh is not None:
        return Credential(key, field, fresh, True)
    psk = owner is None or variant in ("transport", "radius")
    # PSKs are typed once into each client: longer than a login password, same readable alphabet.
    generated = generate_password(groups=6) if psk else generate_password()
    return Credential(key, field, generated.encode(), True)


def _is_generated(secret: Secret | None) -> bool:
    return secret is None or (isinstance(secret, SecretRef) and secret.generate is True)


def _logins(answers: Answers) -> list[tuple[Variant, str, int, User]]:
    """Every local password login: (variant, answers section, index, user)."""
    v = answers.variants
    sections: tuple[tuple[Variant, str, Ikev2Eap | Ikev1Xauth | L2tp | None], ...] = (
        ("eap", "ikev2-eap", v.ikev2_eap), ("xauth", "ikev1-xauth", v.ikev1_xauth), ("l2tp", "l2tp", v.l2tp))
    return [(variant, alias, i, user) for variant, alias, section in sections if section is not None
            for i, user in enumerate(section.users)]


def _stored_user_passwords(answers: Answers, root: Root) -> dict[str, bytes]:
    """The stored generated password of each user (by name, ignoring case, like the answers' rule), from
    the first variant that has one: what the user's other variants get when theirs is new."""
    out: dict[str, bytes] = {}
    for variant, alias, i, user in _logins(answers):
        if user.name.lower() in out or not _is_generated(user.password) or user.own_password:
            continue
        field = f"variants.{alias}.users[{i}].password"
        old = legacy_key(variant, user.name)
        stored = _stored(root, secret_key(variant, user.name), field) or (
            _stored(root, old, field) if old is not None else None)
        if stored:
            out[user.name.lower()] = stored
    return out


def resolve(answers: Answers, root: Root, source: SecretSource,
            warnings: list[tuple[str, str]] | None = None) -> dict[str, Credential]:
    """Every credential the enabled variants need, by key (``secret_key``); ``warnings`` collects what an
    upgrade could not carry over."""
    out: dict[str, Credential] = {}
    notes = warnings if warnings is not None else []
    v = answers.variants
    shared = _stored_user_passwords(answers, root)

    def add(secret: Secret | None, variant: Variant, owner: str | None, field: str, user: bool = False) -> None:
        """``user``: a login that shares one generated password with the user's other variants."""
        fresh = shared.get(owner.lower()) if user and owner is not None else None
        credential = _resolve(root, source, secret, variant, owner, field, notes, fresh)
        assert credential.key not in out, credential.key  # secret_key is one-to-one
        out[credential.key] = credential
        if user and owner is not None and credential.generated:
            shared.setdefault(owner.lower(), credential.value)

    if v.ikev2_eap is not None:
        for i, user in enumerate(v.ikev2_eap.users):
            add(user.password, "eap", user.name, f"variants.ikev2-eap.users[{i}].password", user=not user.own_password)
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
            add(user.password, variant, user.name, f"variants.{section}.users[{i}].password",
                user=not user.own_password)
    return out
