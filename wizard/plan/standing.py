"""Which client folders stand as the last apply left them: those a plan need not open at all.

A client's folder (key, certificate, PKCS#12, password, profiles, README) is made from that client's own
answers (its entry, its logins in each variant, its revocations, the secrets they resolve to) and from what
all clients share (the rest of the answers, the CA and host certificates, the wizard's code: the context of
``planner.client_context``). ``folder_inputs`` digests both per folder; an apply records that digest with
the stamps of the folder and its files (``fs.stamps``). A later plan leaves a folder out when its digest
is the same, every stamp still matches, and its certificate is still valid: it plans only the others, like
a client command does. A no-op re-apply of ten thousand clients is an lstat per file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Mapping
from datetime import datetime

from wizard.certs.ledger import Ledger
from wizard.fs import paths, stamps
from wizard.fs.paths import Root
from wizard.fs.stamps import FolderStamps
from wizard.model import credentials
from wizard.model.answers import Answers
from wizard.model.credentials import Credential
from wizard.model.secrets import SecretSource
from wizard.problems import WizardError


def _part(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def _dump(model: object) -> bytes:
    return json.dumps(model.model_dump(mode="json"), sort_keys=True).encode()  # type: ignore[attr-defined]


def folder_names(answers: Answers) -> frozenset[str]:
    """Every name ``folder_inputs`` digests: clients, revoked certificates' owners, users of each variant."""
    v = answers.variants
    return frozenset({c.name for c in answers.clients} | {r.name for r in answers.revoked}
                     | {u.name for section in (v.ikev2_eap, v.ikev1_xauth, v.l2tp) if section is not None
                        for u in section.users})


def folder_inputs(answers: Answers, creds: Mapping[str, Credential], source: SecretSource, salt: str,
                  context: str, only: Collection[str] | None = None) -> dict[str, str]:
    """For every client and user name of the answers (``only`` these: a client command plans no others), a
    salted digest of everything its folder is made from.

    Secrets enter by value (an environment variable or a file may change while the answers stay the same),
    after the salt, like the profile cache they share it with. A generated PKCS#12 password is the one file
    in the folder that holds it: its stamp stands for it."""
    wanted = None if only is None else set(only)
    parts: dict[str, list[bytes]] = {}
    for i, client in enumerate(answers.clients):
        if wanted is not None and client.name not in wanted:
            continue
        password = source.resolve(client.p12_password, f"clients[{i}].p12_password")
        parts.setdefault(client.name, []).extend((b"client", _dump(client), password or b""))
    for entry in answers.revoked:
        if wanted is None or entry.name in wanted:
            parts.setdefault(entry.name, []).extend((b"revoked", _dump(entry)))
    v = answers.variants
    logins: tuple[tuple[credentials.Variant, object], ...] = (
        ("eap", v.ikev2_eap), ("xauth", v.ikev1_xauth), ("l2tp", v.l2tp))
    for variant, section in logins:
        for user in getattr(section, "users", None) or ():
            if wanted is not None and user.name not in wanted:
                continue
            credential = creds.get(credentials.secret_key(variant, user.name))
            parts.setdefault(user.name, []).extend(
                (variant.encode(), _dump(user), credential.value if credential else b""))
    # Shared secrets (pre-shared keys) reach the READMEs only as hints, yet a folder is cheap to plan again
    # once: every secret that is no user's own enters every digest.
    shared = hashlib.sha256()
    for key in sorted(creds):
        if ".user." not in key:
            shared.update(_part(key.encode()) + _part(creds[key].value))
    head = hashlib.sha256(bytes.fromhex(salt))
    head.update(_part(context.encode()) + _part(shared.digest()))
    out = {}
    for name, values in parts.items():
        h = head.copy()
        h.update(_part(name.encode()))
        for value in values:
            h.update(_part(value))
        out[name] = h.hexdigest()
    return out


def folders_on_disk(root: Root) -> set[str]:
    """The names of the folders under the clients directory (a removed client's folder is planned: emptied)."""
    try:
        with os.scandir(root(paths.CLIENTS_DIR)) as entries:
            return {e.name for e in entries if e.is_dir(follow_symlinks=False)}
    except (OSError, WizardError):
        return set()


def standing(root: Root, inputs: Mapping[str, str], records: Mapping[str, FolderStamps], book: Ledger,
             certified: Collection[str], now: datetime) -> dict[str, FolderStamps]:
    """The folders that stand as recorded: same inputs, every stamp unchanged, and for a client with a
    certificate (``certified``), a ledger record whose certificate is valid ``now`` (else the plan renews it)."""
    try:
        # root() refuses a link on the way; the descriptor keeps this very directory, below it nothing is followed
        fd = os.open(root(paths.CLIENTS_DIR), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, WizardError):
        return {}  # the full plan says what is wrong
    try:
        return _standing(fd, inputs, records, book, certified, now)
    finally:
        os.close(fd)


def _standing(fd: int, inputs: Mapping[str, str], records: Mapping[str, FolderStamps], book: Ledger,
              certified: Collection[str], now: datetime) -> dict[str, FolderStamps]:
    out = {}
    for name, digest in inputs.items():
        record = records.get(name)
        if record is None:
            continue
        if name in certified:
            entry = book.records.get(name)
            if entry is None or not entry.not_before <= now <= entry.not_after:
                continue
        if stamps.holds(fd, name, record, digest):
            out[name] = record
    return out
