"""Resolving the secrets an answers file references: ``{env: NAME}``, ``{file: PATH}``, generated.

Secret values only ever live in memory and in 0600 files; nothing here prints or logs them.

A password typed in the wizard is referenced as ``{file: /etc/swan-wizard/secrets/typed/KEY}``: a logical
path, read under the run's root (``--root``), so saved answers replay the same on the real system and under
any other root. Until apply writes that file, the wizard hands the value over in memory (``typed``).
"""

from __future__ import annotations

import functools
import os
import re
import secrets as _random
import typing
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel

from wizard.fs import paths
from wizard.fs.boundedread import UnreadableFile, read_regular
from wizard.fs.paths import Root
from wizard.model.answers import Secret, SecretRef
from wizard.problems import InvalidAnswers, Problem

# Unambiguous characters: generated passwords are often typed on a phone from a screen.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
# A secret is one line; a bigger file is a wrong path (a log, an image), never a password.
MAX_SECRET_FILE = 64 * 1024


# Every secret value this process has handled, so that a crash report can be scrubbed of them.
_SEEN: set[str] = set()


def remember(value: bytes) -> bytes:
    _SEEN.add(value.decode("utf-8", errors="replace"))
    return value


def seen() -> frozenset[str]:
    return frozenset(_SEEN)


def generate_password(groups: int = 4, group_len: int = 5) -> str:
    """About 99 bits of randomness in a form that is easy to read out and type."""
    # One draw of the whole number, read out in base len(_ALPHABET): every string equally likely, one read of
    # the system's randomness instead of one per character (a first apply of ten thousand clients makes each).
    number = _random.randbelow(len(_ALPHABET) ** (groups * group_len))
    chars = []
    for _ in range(groups * group_len):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    value = "-".join("".join(chars[g * group_len:(g + 1) * group_len]) for g in range(groups))
    remember(value.encode())
    return value


# The key of a typed secret: its file name under paths.TYPED_SECRETS_DIR.
TYPED_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._+-]{0,160}$")


def typed_secret_path(key: str) -> PurePosixPath:
    if not TYPED_KEY.match(key):
        raise ValueError(f"not a usable secret key: {key!r}")
    return paths.TYPED_SECRETS_DIR / key


def typed_ref(key: str) -> SecretRef:
    """The reference the answers hold for a typed secret: a logical path, never one under a --root."""
    return SecretRef(file=str(typed_secret_path(key)))


def typed_key(secret: object) -> str | None:
    """The key of a typed-secret reference, or None for any other secret."""
    if not isinstance(secret, SecretRef) or secret.file is None:
        return None
    path = PurePosixPath(secret.file)
    return path.name if path.parent == paths.TYPED_SECRETS_DIR and TYPED_KEY.match(path.name) else None


def _types_in(annotation: Any) -> Iterator[Any]:
    """The classes an annotation names, through Optional, unions, Annotated and containers."""
    args = typing.get_args(annotation)
    if not args:
        yield annotation
    for arg in args:
        yield from _types_in(arg)


def _can_hold_ref(annotation: Any) -> bool:
    for kind in _types_in(annotation):
        if kind is Any or kind is object or kind is SecretRef:
            return True
        if isinstance(kind, type) and issubclass(kind, BaseModel) and ref_fields(kind):
            return True
    return False


@functools.cache
def ref_fields(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(attribute, shown name) of each field of ``cls`` that can hold a secret reference at any depth: the
    walk below visits nothing else (ten thousand clients have a dozen fields each, one of them a secret)."""
    return tuple((name, info.alias or name) for name, info in cls.model_fields.items()
                 if _can_hold_ref(info.annotation))


def secret_refs(model: object, where: str = "") -> Iterator[tuple[str, SecretRef]]:
    """Every secret reference in ``model`` with its dotted field path (``variants.ikev2-eap.users[0].password``)."""
    if isinstance(model, SecretRef):
        yield where, model
    elif isinstance(model, BaseModel):
        for name, shown in ref_fields(type(model)):
            yield from secret_refs(getattr(model, name), f"{where}.{shown}" if where else shown)
    elif isinstance(model, list):
        for i, item in enumerate(model):
            yield from secret_refs(item, f"{where}[{i}]")


def check_one_line(value: str) -> None:
    """A typed secret is one non-empty line: secret files are read up to their first line break."""
    if not value or any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("a secret must be one non-empty line without control characters")


@dataclass(frozen=True)
class SecretSource:
    """Where {env} and relative {file} references are looked up; typed secrets (see the module text)
    come from ``typed`` first, then from their file under ``root``."""

    base_dir: Path = field(default_factory=Path.cwd)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    root: Root = field(default_factory=lambda: Root.of(None))
    typed: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, secret: Secret | None, field_name: str) -> bytes | None:
        """The secret's bytes, or None for "generate" (the caller decides where a generated one lives)."""
        if secret is None:
            return None
        if isinstance(secret, str):
            return _checked(secret, field_name, "the value")
        assert isinstance(secret, SecretRef)
        if secret.env is not None:
            value = self.environ.get(secret.env)
            if not value:
                raise InvalidAnswers([Problem(f"environment variable {secret.env} is not set or empty",
                                              field_name)])
            return _checked(value, field_name, f"environment variable {secret.env}")
        key = typed_key(secret)
        if key is not None:
            if key in self.typed:
                return _checked(self.typed[key], field_name, "the typed secret")
            path = self.root(typed_secret_path(key))
            return _checked(read_secret_file(path, field_name), field_name, f"secret file {path}")
        if secret.file is not None:
            path = Path(secret.file).expanduser()
            if not path.is_absolute():
                path = self.base_dir / path
            return _checked(read_secret_file(path, field_name), field_name, f"secret file {path}")
        return None


    def check_all(self, answers: BaseModel) -> None:
        """Resolve every secret the answers reference, so a missing or unreadable one is refused before a
        run takes the lock or writes anything (the plan resolves them again where they are used)."""
        problems: list[Problem] = []
        for where, ref in secret_refs(answers):
            try:
                self.resolve(ref, where)
            except InvalidAnswers as exc:
                problems.extend(exc.problems)
        if problems:
            raise InvalidAnswers(problems)


def _problem(message: str, field_name: str) -> InvalidAnswers:
    return InvalidAnswers([Problem(message, field_name)])


def read_secret_file(path: Path, field_name: str) -> str:
    """The first line of a secret file: a regular UTF-8 text file of at most MAX_SECRET_FILE bytes."""
    try:
        data = read_regular(path, MAX_SECRET_FILE)
    except UnreadableFile as exc:
        raise _problem(f"secret file {path} {exc}", field_name) from None
    except OSError as exc:
        raise _problem(f"cannot read secret file {path}: {exc.strerror}", field_name) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _problem(f"secret file {path} is not UTF-8 text (byte {exc.start})", field_name) from None
    value = text.splitlines()[0] if text.strip() else ""
    if not value:
        raise _problem(f"secret file {path} is empty", field_name)
    return value


def _checked(value: str, field_name: str, what: str) -> bytes:
    """The secret as UTF-8 bytes; control characters (NUL, escapes, line breaks) are refused, since every
    file format a secret lands in would cut or misread it."""
    bad = next((i for i, c in enumerate(value) if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise _problem(f"{what} holds a control character (U+{ord(value[bad]):04X} at position {bad + 1})",
                       field_name)
    try:
        return remember(value.encode("utf-8"))
    except UnicodeEncodeError:
        # os.environ carries undecodable bytes as lone surrogates.
        raise _problem(f"{what} is not UTF-8 text", field_name) from None
