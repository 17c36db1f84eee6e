"""Reading and writing the answers YAML file, with errors that name the field and the line."""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from wizard.findings import field_path
from wizard.fs.boundedread import UnreadableFile, read_regular
from wizard.model import wording, yamlemit
from wizard.model.answers import Answers, SecretRef
from wizard.model.secrets import ref_fields
from wizard.model.yamlsource import MAX_BYTES, DataMemo, LoadedYaml, YamlProblem
from wizard.model.yamlsource import load as load_yaml
from wizard.problems import InvalidAnswers, Problem, visible


class MemoLike(DataMemo, Protocol):
    """A memo that can drop what it was offered (wizard.fs.answersmemo.AnswersMemo)."""

    pending: Any

    def forget(self) -> None: ...


# Tags pydantic puts into an error's location for the branches of discriminated unions.
_UNION_TAGS = {"reference", "literal", "custom", "preset"}


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    return tuple(p for p in loc if not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p)))


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete classes an annotation can hold (through Optional, Union, Annotated, list)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [c for arg in typing.get_args(annotation) for c in _unwrap(arg)]
    return [annotation]


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class whose fields live at ``loc`` (for "did you mean" suggestions)."""
    current: Any = Answers
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        candidates = []
        for cls in _unwrap(field.annotation):
            if typing.get_origin(cls) is list:
                candidates += _unwrap(typing.get_args(cls)[0])
            else:
                candidates.append(cls)
        models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        current = models[0] if models else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _message(error: ErrorDetails, loc: tuple[str | int, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1])
        names = [f.alias or n for n, f in model.model_fields.items()] if model else []
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else (f" (known: {', '.join(names)})" if names else "")
        return f"unknown key '{key}'{hint}"
    if kind == "missing":
        return "is required"
    message = error["msg"]
    if kind in ("literal_error", "enum"):
        expected = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        got = error.get("input")
        message = f"'{got}' is not one of: {', '.join(expected)}"
        if loc and loc[-1] == "proposals":
            message += ", or a mapping {ike: [...], esp: [...]}"
        close = difflib.get_close_matches(str(got), expected, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
        return message
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def problems_from(exc: ValidationError, source: LoadedYaml | None, source_name: str,
                  screen: bool = False) -> list[Problem]:
    """One problem per error; ``screen``: each message in the screens' words (wizard.model.wording)."""
    problems = []
    for error in exc.errors():
        loc = _clean_loc(error["loc"])
        if error["type"] == "extra_forbidden":
            # The unknown key is the input's own, whatever it holds ("[" included): never dropped as a tag.
            loc = (*_clean_loc(error["loc"][:-1]), error["loc"][-1])
        message = _message(error, loc)
        if screen:
            message = wording.plain(error["type"], message, error.get("ctx"))
        line = source.line_of(loc) if source else None
        shown_loc = loc[:-1] if error["type"] == "extra_forbidden" else loc
        field = field_path(loc) if error["type"] == "extra_forbidden" else field_path(shown_loc)
        # A key of the input may hold anything: messages and field names stay on one line, escapes shown.
        problems.append(Problem(visible(message), visible(field) or "(top level)", source_name, line))
    # One line per problem: union branches can report the same place twice.
    return list(dict.fromkeys(problems))


def parse(text: str | bytes, source_name: str = "answers", memo: MemoLike | None = None) -> Answers:
    """Parse answers YAML. Raises InvalidAnswers listing every problem found. ``memo``: see yamlsource.load;
    the data of answers holding a literal secret is not offered to it."""
    try:
        loaded = load_yaml(text, memo)
    except YamlProblem as exc:
        raise InvalidAnswers([Problem(str(exc), "", source_name, exc.line)]) from None
    version = loaded.data.get("version")
    if version is None:
        raise InvalidAnswers([Problem("is required (this format is version 1)", "version", source_name, 1)])
    if version != 1:
        raise InvalidAnswers([Problem(f"unsupported version {version!r}; this Swan Wizard reads version 1",
                                      "version", source_name, loaded.line_of(("version",)))])
    try:
        answers = Answers.model_validate(loaded.data)
    except ValidationError as exc:
        if memo is not None:
            memo.forget()
        raise InvalidAnswers(problems_from(exc, loaded, source_name)) from None
    if memo is not None and memo.pending is not None and literal_secret_fields(answers):
        memo.forget()
    return answers


def read(path: str | Path) -> bytes:
    """The answers file's bytes, or InvalidAnswers naming the file."""
    try:
        # One byte over the limit is enough for yamlsource to say "too big"; /dev/zero or a FIFO is refused.
        return read_regular(Path(path), MAX_BYTES + 1)
    except UnreadableFile as exc:
        raise InvalidAnswers([Problem(str(exc), "", str(path))]) from None
    except OSError as exc:
        raise InvalidAnswers([Problem(f"cannot read: {exc.strerror}", "", str(path))]) from None


def load(path: str | Path, memo: MemoLike | None = None) -> Answers:
    return parse(read(path), str(path), memo)


def reload(path: str | Path, before: tuple[bytes, Answers], memo: MemoLike | None = None) -> Answers:
    """The answers in ``path`` now: those parsed ``before`` when the file still holds the same bytes (parsing
    thousands of clients is not free), else the file parsed again (another run may have saved it meanwhile)."""
    data = read(path)
    return before[1] if data == before[0] else parse(data, str(path), memo)


def to_data(answers: Answers) -> dict[str, Any]:
    """The answers as plain data for YAML: defaults left out where they add nothing."""
    data = answers.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


@cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, str, bool], ...]:
    """(name, shown name, holds a secret) per field of a model class that can hold a secret at any depth:
    asked per object of thousands, and the others' fields are not walked at all."""
    can_hold = {name for name, _shown in ref_fields(model)}
    return tuple((name, info.alias or name, "SecretRef" in str(info.annotation))
                 for name, info in model.model_fields.items() if name in can_hold)


def literal_secret_fields(answers: Answers) -> list[str]:
    """Every field holding a plaintext secret, anywhere in the answers (users' passwords and PSKs too)."""
    found: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, BaseModel):
            for name, shown, secret in _fields(type(value)):
                child = getattr(value, name)
                if secret and isinstance(child, str):
                    found.append(f"{where}.{shown}" if where else shown)
                elif isinstance(child, (BaseModel, list)):
                    walk(child, f"{where}.{shown}" if where else shown)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, (BaseModel, list)):
                    walk(item, f"{where}[{i}]")

    walk(answers, "")
    return found


def dumps(answers: Answers) -> str:
    """YAML text of the answers. Refuses to write a plaintext secret: the caller stores typed secrets
    in a 0600 file first and references it with ``{file: PATH}``."""
    literal = literal_secret_fields(answers)
    if literal:
        raise InvalidAnswers([Problem("holds a literal secret; saved answers only reference secrets", f)
                              for f in literal])
    return "# Swan Wizard answers: replay with `swan-wizard apply FILE`\n" + yamlemit.dump(to_data(answers))


def json_schema() -> dict[str, Any]:
    schema = Answers.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://swan-wizard.invalid/answers.schema.json"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


__all__ = ["SecretRef", "dumps", "field_path", "json_schema", "json_schema_text", "load", "parse"]
