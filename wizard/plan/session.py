"""The wizard's session: the answers so far and the step to come back to, saved after every screen.

``/var/lib/swan-wizard/session.yaml`` under the root, mode 0600, holds no plaintext secret: a password
the admin typed is stored on its own in a 0600 file and the answers reference it as ``{file: PATH}``,
exactly as a hand-written answers file would (``answers_file.dumps`` refuses literal secrets too).
If the SSH connection drops, the next ``swan-wizard`` finds the session and offers to resume it.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers, SecretRef
from wizard.model.answers_file import literal_secret_fields
from wizard.model.yamlsource import YamlProblem
from wizard.model.yamlsource import load as load_yaml
from wizard.plan.apply import make_dirs, remove_under, write_atomic, write_under
from wizard.problems import InvalidAnswers, Problem

SESSION_FILE = paths.WIZARD_STATE / "session.yaml"
# Typed secrets outlive the session: the saved answers keep referencing them for every later replay.
TYPED_SECRETS_DIR = paths.WIZARD_STATE / "typed-secrets"
# Where the review screen saves the answers by default, and where "modify" finds them again.
SAVED_ANSWERS = paths.WIZARD_ETC / "answers.yaml"

Mode = Literal["new", "modify", "start-over"]
SECRET_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._+-]{0,160}$")
_PRIVATE = {paths.WIZARD_STATE: 0o700, TYPED_SECRETS_DIR: 0o700}


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


def externalize_literals(root: Root, answers: Answers) -> tuple[Answers, list[str]]:
    """Move every plaintext secret of (hand-written) answers into its own 0600 file, referenced by
    ``{file: PATH}``, so the session and the saved answers can hold the answers. Returns the new
    answers and the fields that were moved."""
    fields = literal_secret_fields(answers)
    if not fields:
        return answers, []
    data = answers.model_dump(by_alias=True, exclude_none=True, mode="json")
    for field in fields:
        *parents, last = _path_parts(field)
        node: Any = data
        for part in parents:
            node = node[part]
        key = "literal-" + re.sub(r"[^A-Za-z0-9@._+-]", "-", field)
        node[last] = store_typed_secret(root, key, str(node[last])).model_dump(exclude_none=True)
    return Answers.model_validate(data), fields


def _check_no_literals(answers: Answers) -> None:
    literal = literal_secret_fields(answers)
    if literal:
        raise InvalidAnswers([Problem("holds a literal secret; saved answers only reference secrets", f)
                              for f in literal])


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
            + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100))
    return write_under(root, SESSION_FILE, text.encode(), 0o600, _PRIVATE)


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
    return Session(answers=answers, step=str(data.get("step") or "welcome"), mode=mode,
                   ca_import=ca_import, base_dir=data.get("base_dir"))


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
    remove_under(root, SESSION_FILE)


def typed_secret_logical(key: str) -> PurePosixPath:
    if not SECRET_KEY.match(key):
        raise ValueError(f"not a usable secret key: {key!r}")
    return TYPED_SECRETS_DIR / f"typed-{key}"


def typed_secret_ref(root: Root, key: str) -> SecretRef:
    """The reference the answers hold for a typed secret: the real path, so a replay reads the same file."""
    return SecretRef(file=str(root(typed_secret_logical(key))))


def is_typed_ref(root: Root, secret: object) -> bool:
    """Whether a secret reference points at a file this module stored."""
    if not isinstance(secret, SecretRef) or secret.file is None:
        return False
    return Path(secret.file).parent == root(TYPED_SECRETS_DIR)


def store_typed_secret(root: Root, key: str, value: str) -> SecretRef:
    """Keep a typed password in its own 0600 file and return the reference to it."""
    if not value or "\n" in value or "\r" in value:
        # secrets.SecretSource reads the first line: a line break would silently cut the secret.
        raise ValueError("a secret must be one non-empty line")
    logical = typed_secret_logical(key)
    write_under(root, logical, value.encode() + b"\n", 0o600, _PRIVATE)
    return typed_secret_ref(root, key)


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
