"""The wizard's session: the answers so far and the step to come back to, saved after every screen.

``/var/lib/swan-wizard/session.yaml`` under the root, mode 0600, holds no plaintext secret: the answers
reference a password the admin typed as ``{file: /etc/swan-wizard/secrets/typed/KEY}`` (see
``wizard.model.secrets``), exactly as a hand-written answers file would (``answers_file.dumps`` refuses
literal secrets too). The typed values stay in memory (``Session.typed``); so that a session resumed after
a dropped SSH link still has them, ``save`` keeps them in ONE 0600 file, ``session-secrets.json`` beside
it, holding only the secrets the answers still reference, rewritten atomically with the session and
removed with it (after a successful apply, which writes each typed secret to its own file under
/etc/swan-wizard/secrets/typed/). If the SSH connection drops, the next ``swan-wizard`` finds the session
and offers to resume it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers
from wizard.model.answers_file import literal_secret_fields
from wizard.model.secrets import TYPED_KEY, check_one_line, secret_refs, typed_key, typed_ref
from wizard.model.yamlsource import YamlProblem
from wizard.model.yamlsource import load as load_yaml
from wizard.plan.apply import make_dirs, remove_under, write_atomic, write_under
from wizard.problems import InvalidAnswers, Problem

SESSION_FILE = paths.WIZARD_STATE / "session.yaml"
# The typed secrets the session's answers reference, by key: only while the session is unfinished.
SESSION_SECRETS = paths.WIZARD_STATE / "session-secrets.json"
# Where the review screen saves the answers by default, and where "modify" finds them again.
SAVED_ANSWERS = paths.WIZARD_ETC / "answers.yaml"

Mode = Literal["new", "modify", "start-over"]
SECRET_KEY = TYPED_KEY
_PRIVATE = {paths.WIZARD_STATE: 0o700}


@dataclass(frozen=True)
class CaImport:
    """An existing CA the admin imports: its certificate and key files (real paths, read at apply)."""

    cert: str
    key: str


@dataclass(frozen=True)
class Session:
    answers: Answers
    step: str
    mode: Mode = "new"
    ca_import: CaImport | None = None
    base_dir: str | None = None  # where relative {file: ...} references resolve (a loaded answers file's dir)
    # Typed secrets by key (wizard.model.secrets.typed_ref); never in session.yaml. See with_typed.
    typed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionInfo:
    path: Path
    step: str | None
    saved: str | None
    problem: str | None = None  # set when the file exists but cannot be resumed


def _path_parts(field: str) -> list[str | int]:
    """"variants.ikev2-eap.users[0].password" -> ["variants", "ikev2-eap", "users", 0, "password"]."""
    parts: list[str | int] = []
    for piece in field.split("."):
        name, *indexes = piece.split("[")
        parts.append(name)
        parts += [int(i.rstrip("]")) for i in indexes]
    return parts


def externalize_literals(answers: Answers) -> tuple[Answers, list[str], dict[str, str]]:
    """Turn every plaintext secret of (hand-written) answers into a typed secret, so the session and the
    saved answers can hold the answers. Returns the new answers, the fields that were moved and the
    secrets by key (for ``Session.typed``)."""
    fields = literal_secret_fields(answers)
    if not fields:
        return answers, [], {}
    data = answers.model_dump(by_alias=True, exclude_none=True, mode="json")
    typed: dict[str, str] = {}
    for name in fields:
        *parents, last = _path_parts(name)
        node: Any = data
        for part in parents:
            node = node[part]
        key = "literal-" + re.sub(r"[^A-Za-z0-9@._+-]", "-", name)
        check_one_line(str(node[last]))
        typed[key] = str(node[last])
        node[last] = typed_ref(key).model_dump(exclude_none=True)
    return Answers.model_validate(data), fields, typed


def referenced_typed(answers: Answers) -> set[str]:
    """The keys of the typed secrets ``answers`` reference."""
    return {key for _where, ref in secret_refs(answers) if (key := typed_key(ref)) is not None}


def with_typed(current: Session, new: Mapping[str, str] | None = None) -> Session:
    """``current`` with ``new`` typed secrets added and every secret its answers no longer reference
    dropped (a deleted user's password goes at once)."""
    for value in (new or {}).values():
        check_one_line(value)
    wanted = referenced_typed(current.answers)
    merged = {**current.typed, **(new or {})}
    return dataclasses.replace(current, typed={k: v for k, v in merged.items() if k in wanted})


def _check_no_literals(answers: Answers) -> None:
    literal = literal_secret_fields(answers)
    if literal:
        raise InvalidAnswers([Problem("holds a literal secret; saved answers only reference secrets", f)
                              for f in literal])


# libyaml's emitter where PyYAML has it: the pure-Python one took seconds per step with thousands of clients.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def save(root: Root, current: Session, now: datetime | None = None) -> Path:
    """Write the session atomically, 0600, in a 0700 directory."""
    _check_no_literals(current.answers)
    data: dict[str, Any] = {
        "step": current.step,
        "mode": current.mode,
        "saved": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
    if current.ca_import:
        data["ca_import"] = {"cert": current.ca_import.cert, "key": current.ca_import.key}
    if current.base_dir:
        data["base_dir"] = current.base_dir
    data["answers"] = answers_file.to_data(current.answers)
    text = ("# Swan Wizard: an unfinished wizard session; `swan-wizard` offers to resume it.\n"
            + yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=None, width=100))
    _save_typed(root, with_typed(current).typed)
    return write_under(root, SESSION_FILE, text.encode(), 0o600, _PRIVATE)


def _save_typed(root: Root, typed: Mapping[str, str]) -> None:
    """The one file of typed secrets: rewritten atomically (0600, root's, in the 0700 state directory),
    removed when the answers reference none."""
    if typed:
        text = json.dumps(dict(sorted(typed.items())), indent=1) + "\n"
        write_under(root, SESSION_SECRETS, text.encode(), 0o600, _PRIVATE)
    elif root(SESSION_SECRETS).exists():
        remove_under(root, SESSION_SECRETS)


def _load_typed(root: Root) -> dict[str, str]:
    path = root(SESSION_SECRETS)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidAnswers([Problem(f"cannot read the typed secrets: {exc}", "", str(path))]) from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and TYPED_KEY.match(k)
                                             for k, v in data.items()):
        raise InvalidAnswers([Problem("is not a file of typed secrets", "", str(path))])
    return data


def _read(root: Root) -> dict[str, Any]:
    path = root(SESSION_FILE)
    try:
        loaded = load_yaml(path.read_bytes())
    except OSError as exc:
        raise InvalidAnswers([Problem(f"cannot read: {exc.strerror}", "", str(path))]) from None
    except YamlProblem as exc:
        raise InvalidAnswers([Problem(str(exc), "", str(path), exc.line)]) from None
    if not isinstance(loaded.data, dict):
        raise InvalidAnswers([Problem("is not a session file", "", str(path))])
    return loaded.data


def load(root: Root) -> Session:
    """The saved session. Raises InvalidAnswers (naming the field) when it cannot be resumed."""
    data = _read(root)
    source = str(root(SESSION_FILE))
    try:
        answers = Answers.model_validate(data.get("answers") or {})
    except ValidationError as exc:
        problems = answers_file.problems_from(exc, None, source)
        raise InvalidAnswers([Problem(p.message, f"answers.{p.field}", source) for p in problems]) from None
    mode = data.get("mode", "new")
    if mode not in ("new", "modify", "start-over"):
        raise InvalidAnswers([Problem(f"unknown mode {mode!r}", "mode", source)])
    imported = data.get("ca_import")
    ca_import = CaImport(str(imported["cert"]), str(imported["key"])) if isinstance(imported, dict) else None
    return with_typed(Session(answers=answers, step=str(data.get("step") or "welcome"), mode=mode,
                              ca_import=ca_import, base_dir=data.get("base_dir"), typed=_load_typed(root)))


def info(root: Root) -> SessionInfo | None:
    """What the welcome screen says about a saved session, or None when there is none."""
    path = root(SESSION_FILE)
    if not path.is_file():
        return None
    try:
        data = _read(root)
        load(root)
    except InvalidAnswers as exc:
        return SessionInfo(path, None, None, "; ".join(str(p) for p in exc.problems))
    return SessionInfo(path, str(data.get("step")), str(data.get("saved") or "") or None)


def discard(root: Root) -> None:
    """The session is over (applied, or dropped): its file and its typed secrets go."""
    remove_under(root, SESSION_FILE)
    remove_under(root, SESSION_SECRETS)


def is_typed_ref(secret: object) -> bool:
    """Whether a secret reference names a typed secret."""
    return typed_key(secret) is not None


def save_answers(answers: Answers, target: str | Path, text: str | None = None) -> Path:
    """Write the answers file ``swan-wizard apply`` replays (the review screen's and the client commands'):
    atomically, 0600 (it names secret files), never with a plaintext secret (``dumps`` refuses them).

    The file is re-serialised, so comments do not survive: a changed file keeps its previous text as
    ``<file>.bak`` (0600 too). Unchanged answers in a 0600 file are not written again.
    """
    data = (text if text is not None else answers_file.dumps(answers)).encode()  # text: dumps(answers) already
    target = Path(target)
    make_dirs(target.parent)
    old = target.read_bytes() if target.is_file() else None
    if old == data and stat.S_IMODE(target.stat().st_mode) == 0o600:
        return target
    if old is not None and old != data:
        write_atomic(target.with_name(target.name + ".bak"), old, 0o600)
    write_atomic(target, data, 0o600)
    return target
