"""What the wizard last wrote for each client, so that a re-run trusts unchanged files without opening them.

Decrypting a PKCS#12 and validating a private key cost tens of milliseconds each: with thousands of clients,
every command used to spend minutes re-reading what it wrote itself. The ledger records, in the same atomic
apply that writes a client's files, the SHA-256 of each file and a digest of what the bundle was made from
(CA certificate, name, key type, lifetime, PKCS#12 encryption, password). A later plan reuses a client's
files unopened only when all of that still matches and the certificate is within its validity; anything
else (a hand-edited or swapped file, a new CA, a changed answer, no record) takes the full check.

The ledger holds no secret: the password enters the input digest with a random salt, and the PKCS#12 that
the same password opens sits 0600 beside it anyway. It is 0600 because it lists every client.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from wizard.fs import jsonstate, paths
from wizard.fs.boundedread import UnreadableFile, read_regular
from wizard.fs.changes import FileAction
from wizard.fs.paths import Root

LEDGER = paths.WIZARD_STATE / "clients.json"
VERSION = 1
FILES = ("key", "cert", "p12")  # the client files a record vouches for
MAX_BYTES = 64 * 1024 * 1024  # a ledger for far more clients than one server carries; larger is not ours


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Inputs:
    """What a client's bundle is made from: when any of it changes, the files must be looked at again."""

    ca_cert_pem: bytes
    name: str
    key_type: str
    lifetime_days: int
    p12_encryption: str
    password: bytes

    def digest(self, salt: str) -> str:
        h = hashlib.sha256(bytes.fromhex(salt))
        for part in (self.ca_cert_pem, self.name.encode(), self.key_type.encode(), str(self.lifetime_days).encode(),
                     self.p12_encryption.encode(), self.password):
            # length-prefixed: no two different tuples feed the hash the same bytes
            h.update(len(part).to_bytes(8, "big") + part)
        return h.hexdigest()


@dataclass(frozen=True)
class Record:
    inputs: str
    files: Mapping[str, str]  # FILES -> SHA-256 of the content written
    serial: int
    not_before: datetime
    not_after: datetime

    def vouches_for(self, inputs: str, contents: Mapping[str, bytes | None], now: datetime) -> bool:
        """True when these very files were written from these inputs and the certificate is valid ``now``."""
        if inputs != self.inputs or not self.not_before <= now <= self.not_after:
            return False
        for name in FILES:
            data = contents.get(name)
            if data is None or digest(data) != self.files.get(name):
                return False
        return True


@dataclass(frozen=True)
class Ledger:
    salt: str = field(default_factory=lambda: secrets.token_hex(16))
    records: Mapping[str, Record] = field(default_factory=dict)
    note: str | None = None  # why an existing ledger was not used (it is rebuilt by this run)

    def inputs_digest(self, inputs: Inputs) -> str:
        return inputs.digest(self.salt)

    def trusts(self, inputs: Inputs, contents: Mapping[str, bytes | None], now: datetime) -> bool:
        record = self.records.get(inputs.name)
        return record is not None and record.vouches_for(self.inputs_digest(inputs), contents, now)

    def with_records(self, records: Mapping[str, Record]) -> Ledger:
        return Ledger(self.salt, dict(records))


def _record(raw: object) -> Record:
    if not isinstance(raw, dict):
        raise ValueError("a record is not a mapping")
    files = raw["files"]
    if not isinstance(files, dict) or set(files) != set(FILES) or not all(isinstance(v, str) for v in files.values()):
        raise ValueError("a record's files are not the three digests")
    serial = raw["serial"]
    if not isinstance(serial, int) or isinstance(serial, bool):
        raise ValueError("a serial is not a number")
    not_before, not_after = datetime.fromisoformat(raw["not_before"]), datetime.fromisoformat(raw["not_after"])
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise ValueError("a validity time has no time zone")
    inputs = raw["inputs"]
    if not isinstance(inputs, str):
        raise ValueError("inputs is not a digest")
    return Record(inputs, dict(files), serial, not_before, not_after)


def parse(data: bytes) -> Ledger:
    """The ledger in ``data``; ValueError (with why) when it is not one this version wrote."""
    found = jsonstate.read_entries(data, "clients")
    if found is not None:
        # The file as this module writes it: the head checked now, each record when asked for.
        head, texts = found
        salt = head.get("salt")
        if head.get("version") != VERSION:
            raise ValueError(f"not a version {VERSION} ledger")
        if not isinstance(salt, str) or len(salt) != 32:
            raise ValueError("no salt or no clients")
        bytes.fromhex(salt)
        return Ledger(salt, jsonstate.Lazy(texts, _record))
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} ledger")
    salt, records = raw.get("salt"), raw.get("clients")
    if not isinstance(salt, str) or len(salt) != 32 or not isinstance(records, dict):
        raise ValueError("no salt or no clients")
    try:
        bytes.fromhex(salt)
        return Ledger(salt, {str(name): _record(r) for name, r in records.items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a damaged record ({exc})") from None


def load(root: Root) -> Ledger:
    """The ledger under ``root``; an empty one (with a note saying why) when it is missing or damaged.

    An empty ledger costs time, never safety: every client then takes the full check."""
    try:
        data = read_regular(root(LEDGER), MAX_BYTES)  # root() refuses a link anywhere on the way
    except FileNotFoundError:
        return Ledger()
    except UnreadableFile as exc:
        return Ledger(note=f"{LEDGER} {exc}: every client file is checked in full")
    except OSError as exc:
        return Ledger(note=f"{LEDGER} could not be read ({exc.strerror}): every client file is checked in full")
    try:
        return parse(data)
    except ValueError as exc:
        return Ledger(note=f"{LEDGER} is damaged ({exc}): every client file is checked in full")


def _encoded(r: Record) -> dict[str, object]:
    return {"inputs": r.inputs, "files": dict(sorted(r.files.items())), "serial": r.serial,
            "not_before": r.not_before.isoformat(), "not_after": r.not_after.isoformat()}


def render(ledger: Ledger) -> bytes:
    records = ledger.records
    lazy = records if isinstance(records, jsonstate.Lazy) else None
    clients: dict[str, object] = {}
    for name in sorted(records):
        text = lazy.as_read(name) if lazy is not None else None
        clients[name] = text if text is not None else _encoded(records[name])
    return jsonstate.dumps({"version": VERSION, "salt": ledger.salt}, "clients", clients)


def action(ledger: Ledger) -> FileAction:
    return FileAction(LEDGER, render(ledger), 0o600, why="what was written for each client, to skip re-reading it")


def records_for(ledger: Ledger, written: Iterable[tuple[Inputs, Mapping[str, bytes], int, datetime, datetime]],
                kept: Collection[str] = ()) -> Ledger:
    """A ledger for exactly the clients in ``written`` (a removed client leaves no record behind), plus the
    records of the ``kept`` clients as they were (a plan of some clients only)."""
    made = {inputs.name: Record(ledger.inputs_digest(inputs), {n: digest(contents[n]) for n in FILES}, serial, nb, na)
            for inputs, contents, serial, nb, na in written}
    if isinstance(ledger.records, jsonstate.Lazy):
        # The kept records go on as read, undecoded.
        before = ledger.records
        texts = {name: text for name in kept if name not in made and (text := before.as_read(name)) is not None}
        made = {**{name: before.made[name] for name in kept if name in before.made}, **made}
        return Ledger(ledger.salt, jsonstate.Lazy(texts, _record, made))
    records = {name: ledger.records[name] for name in kept if name in ledger.records}
    records.update(made)
    return ledger.with_records(dict(sorted(records.items())))
