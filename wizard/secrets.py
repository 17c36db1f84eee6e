"""Resolving the secrets an answers file references: ``{env: NAME}``, ``{file: PATH}``, generated.

Secret values only ever live in memory and in 0600 files; nothing here prints or logs them.
"""

from __future__ import annotations

import os
import secrets as _random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wizard.answers import Secret, SecretRef
from wizard.diagnostics import InvalidAnswers, Problem

# Unambiguous characters: generated passwords are often typed on a phone from a screen.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def generate_password(groups: int = 4, group_len: int = 5) -> str:
    """About 99 bits of randomness in a form that is easy to read out and type."""
    return "-".join("".join(_random.choice(_ALPHABET) for _ in range(group_len)) for _ in range(groups))


@dataclass(frozen=True)
class SecretSource:
    """Where {env} and relative {file} references are looked up."""

    base_dir: Path = field(default_factory=Path.cwd)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def resolve(self, secret: Secret | None, field_name: str) -> bytes | None:
        """The secret's bytes, or None for "generate" (the caller decides where a generated one lives)."""
        if secret is None:
            return None
        if isinstance(secret, str):
            return secret.encode()
        assert isinstance(secret, SecretRef)
        if secret.env is not None:
            value = self.environ.get(secret.env)
            if not value:
                raise InvalidAnswers([Problem(f"environment variable {secret.env} is not set or empty",
                                              field_name)])
            return value.encode()
        if secret.file is not None:
            path = Path(secret.file).expanduser()
            if not path.is_absolute():
                path = self.base_dir / path
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise InvalidAnswers([Problem(f"cannot read secret file {path}: {exc.strerror}",
                                              field_name)]) from None
            value = text.splitlines()[0] if text.strip() else ""
            if not value:
                raise InvalidAnswers([Problem(f"secret file {path} is empty", field_name)])
            return value.encode()
        return None
