"""Validating what a wizard screen holds, with the answers loader's own rules and messages.

A screen hands in the sections it edits as plain data (what the YAML would say); they are validated
inside the whole answers, so cross-section rules (unique client names, at least one variant) apply
too, and every problem comes back under the same dotted field name and with the same sentence
``swan-wizard validate`` prints for a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from wizard.model import answers_file
from wizard.model.answers import Answers, answers_warnings


@dataclass(frozen=True)
class Checked:
    answers: Answers | None  # the validated answers, None when there are problems
    problems: dict[str, str] = field(default_factory=dict)  # dotted field -> loader's message
    warnings: dict[str, str] = field(default_factory=dict)  # dotted field -> advice (answers_warnings)

    @property
    def ok(self) -> bool:
        return self.answers is not None

    def for_field(self, name: str) -> str | None:
        """The problem for a field or anything inside it (``clients`` matches ``clients[1].name``)."""
        for where, message in self.problems.items():
            if where == name or where.startswith((name + ".", name + "[")):
                return message
        return None

    def warning_for(self, name: str) -> str | None:
        for where, message in self.warnings.items():
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
        problems: dict[str, str] = {}
        for problem in answers_file.problems_from(exc, None, ""):
            problems.setdefault(problem.field, problem.message)
        return Checked(None, problems)
    return Checked(result, {}, {f: m for f, m in answers_warnings(result)})


def check_value(answers: Answers, section: str, value: Any, field_name: str) -> str | None:
    """The loader's message for one field of ``section`` holding ``value``, or None when it is fine."""
    return check(answers, {section: value}).for_field(field_name)
