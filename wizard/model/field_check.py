"""Validating what a wizard screen holds, with the answers loader's own rules and messages.

A screen hands in the sections it edits as plain data (what the YAML would say); they are validated
inside the whole answers, so cross-section rules (unique client names, at least one variant) apply
too, and every problem comes back under the same dotted field name as ``swan-wizard validate`` prints
for a file, its sentence in the screens' words (``wizard.model.wording``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from wizard.findings import Finding
from wizard.model import answers_file, wording
from wizard.model.answers import Answers, answers_warnings


@dataclass(frozen=True)
class Checked:
    answers: Answers | None  # the validated answers, None when there are problems
    # The loader's problems (errors, each named by its dotted field) and, once valid, answers_warnings.
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return self.answers is not None

    @property
    def problems(self) -> dict[str, str]:
        """Dotted field -> the loader's message (the first per field)."""
        return _by_field(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> dict[str, str]:
        """Dotted field -> advice (answers_warnings; the last per field, as the screens always showed)."""
        return {f.field: f.message for f in self.findings if f.severity == "warning"}

    def for_field(self, name: str) -> str | None:
        """The problem for a field or anything inside it (``clients`` matches ``clients[1].name``)."""
        return _within(self.problems, name)

    def warning_for(self, name: str) -> str | None:
        return _within(self.warnings, name)


def _by_field(findings: Iterable[Finding]) -> dict[str, str]:
    """The first message per field (union branches can report one place twice)."""
    out: dict[str, str] = {}
    for f in findings:
        out.setdefault(f.field, f.message)
    return out


def _within(messages: dict[str, str], name: str) -> str | None:
    for where, message in messages.items():
        if where == name or where.startswith((name + ".", name + "[")):
            return message
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(name: str) -> str:
    """The YAML key of a top-level section given by field name or alias."""
    info = Answers.model_fields.get(name)
    return (info.alias or name) if info else name


def check(answers: Answers, changes: Mapping[str, Any]) -> Checked:
    """Validate ``answers`` with ``changes`` (section -> model or plain data) applied."""
    data = answers.model_dump(by_alias=True, exclude_none=True, mode="json")
    for name, value in changes.items():
        if value is None:
            data.pop(_key(name), None)
        else:
            data[_key(name)] = _plain(value)
    try:
        result = Answers.model_validate(data)
    except ValidationError as exc:
        # The screens' words: on-screen labels and plain sentences, not pydantic's or the YAML's.
        return Checked(None, tuple(Finding("answers.invalid", "error", p.field, p.message)
                                   for p in answers_file.problems_from(exc, None, "", screen=True)))
    return Checked(result, tuple(replace(f, message=wording.on_screen(f.message)) for f in answers_warnings(result)))

