"""The data of the last large answers file a run applied or saved under a root, by the SHA-256 of its text.

libyaml alone takes a quarter of a second to read the answers of ten thousand clients, and every client
command reads them. A run that applied them (or saved them) leaves their data here, and the next run that reads
the very same bytes takes it from JSON instead. What is kept is the YAML's data, not the model: it is validated
as if just parsed, so every check of the answers still runs. Like the stamps record it is a cache: missing,
damaged or for other bytes, it costs the parse, never a wrong answer.

Never kept: the data of answers that hold a literal secret (the record would be one more copy of it), and
anything JSON does not carry exactly (a date, a key that is not a string). The file is 0600 in the 0700
state directory, written without following a link, and only by a run that holds the root's lock and wrote
what it was asked to: a refused or dry run leaves no trace.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.fs.safefs import LinkRefused, Tree

MEMO = paths.WIZARD_STATE / "answers-data.json"
_HEADER = b"swan-wizard answers data 1 sha256="


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _exact_in_json(value: Any) -> bool:
    """Whether JSON gives back exactly this value: strings, integers, booleans, null, lists, string keys."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not all(type(k) is str for k in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif not (kind is str or kind is int or kind is bool or item is None):
            return False
    return True


@dataclass
class AnswersMemo:
    """Read at parse time; written (``save``) only once the command may write under the root."""

    root: Root
    pending: tuple[str, dict[str, Any]] | None = None
    json_ready: bool = False

    def get(self, text_digest: str) -> dict[str, Any] | None:
        try:
            with Tree(self.root.path, paths.WIZARD_STATE) as tree:
                found = tree.read(MEMO)
        except (OSError, LinkRefused):
            return None
        if found is None:
            return None
        head, _, body = found.content.partition(b"\n")
        if head != _HEADER + text_digest.encode():
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def keep(self, text_digest: str, data: dict[str, Any], json_ready: bool = False) -> None:
        """The data of a text just parsed (or about to be saved), to record at ``save``; ``json_ready``: made
        for JSON already (the model's own dump), so not looked through again."""
        self.pending = (text_digest, data)
        self.json_ready = json_ready

    def forget(self) -> None:
        self.pending = None

    def save(self) -> None:
        """Record the kept data (replacing any other); nothing when none was kept or the state directory is
        missing. Best effort: a failure leaves the next run to parse."""
        if self.pending is None:
            return
        text_digest, data = self.pending
        self.pending = None
        if not self.json_ready and not _exact_in_json(data):
            return
        body = _HEADER + text_digest.encode() + b"\n" + json.dumps(data, separators=(",", ":")).encode()
        try:
            with Tree(self.root.path, paths.WIZARD_STATE) as tree:
                if tree.dir(paths.WIZARD_STATE) is None:
                    return
                tree.write(MEMO, body, 0o600)
        except (OSError, LinkRefused):
            return
