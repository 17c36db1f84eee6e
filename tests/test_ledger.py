"""The client ledger: files are trusted unopened only when they are byte for byte what was recorded."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wizard.certs import ledger
from wizard.certs.ledger import Inputs, Ledger
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.fs.safefs import LinkRefused
from wizard.pki import encode

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
FILES = {"key": b"KEY", "cert": b"CERT", "p12": b"P12"}


def inputs(**change: object) -> Inputs:
    base: dict[str, object] = {"ca_cert_pem": b"CA", "name": "alice", "key_type": "ecdsa-p256",
                               "lifetime_days": 365, "p12_encryption": "legacy", "password": b"pw"}
    base.update(change)
    return Inputs(**base)  # type: ignore[arg-type]


def recorded(files: dict[str, bytes] = FILES, start: datetime = NOW - timedelta(days=1),
             end: datetime = NOW + timedelta(days=300)) -> Ledger:
    return ledger.records_for(Ledger(), [(inputs(), files, 7, start, end)])


def test_unchanged_files_from_the_same_inputs_are_trusted():
    assert recorded().trusts(inputs(), FILES, NOW)


@pytest.mark.parametrize("name", ["key", "cert", "p12"])
def test_an_edited_or_missing_file_is_not_trusted(name: str):
    book = recorded()
    assert not book.trusts(inputs(), {**FILES, name: FILES[name] + b"\n"}, NOW)
    assert not book.trusts(inputs(), {**FILES, name: None}, NOW)


@pytest.mark.parametrize("change", [{"ca_cert_pem": b"CA2"}, {"key_type": "rsa-2048"}, {"lifetime_days": 30},
                                    {"p12_encryption": "aes256"}, {"password": b"pw2"}])
def test_a_changed_input_is_not_trusted(change: dict[str, object]):
    assert not recorded().trusts(inputs(**change), FILES, NOW)


def test_another_client_or_no_record_is_not_trusted():
    assert not recorded().trusts(inputs(name="bob"), FILES, NOW)
    assert not Ledger().trusts(inputs(), FILES, NOW)


def test_a_certificate_outside_its_validity_is_not_trusted():
    assert not recorded(end=NOW - timedelta(seconds=1)).trusts(inputs(), FILES, NOW)
    assert not recorded(start=NOW + timedelta(seconds=1)).trusts(inputs(), FILES, NOW)


def test_the_password_is_salted_and_never_written(tmp_path: Path):
    book = recorded()
    text = ledger.render(book)
    assert b"pw" not in text.replace(b'"p12"', b"")
    other = ledger.records_for(Ledger(), [(inputs(), FILES, 7, NOW, NOW)])
    assert other.salt != book.salt and other.records["alice"].inputs != book.records["alice"].inputs


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.tuples(
    st.binary(max_size=8), st.binary(max_size=8), st.binary(max_size=8), st.integers(0, 2**159),
    st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC))), max_size=5))
def test_render_and_parse_round_trip(entries: dict[str, tuple[bytes, bytes, bytes, int, datetime, datetime]]):
    written = [(inputs(name=name), {"key": k, "cert": c, "p12": p}, serial, nb, na)
               for name, (k, c, p, serial, nb, na) in entries.items()]
    book = ledger.records_for(Ledger(), written)
    assert ledger.parse(ledger.render(book)) == book


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"version": 2}', b'{"version": 1, "salt": "zz", "clients": {}}',
                                  b'{"version": 1, "salt": "' + b"00" * 16 + b'", "clients": {"a": {"files": {}}}}'])
def test_a_damaged_ledger_means_a_full_check_with_a_note(tmp_path: Path, data: bytes):
    root = Root(tmp_path)
    path = root(ledger.LEDGER)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    book = ledger.load(root)
    assert book.records == {} and book.note and "checked in full" in book.note


def test_a_missing_ledger_is_empty_without_a_note(tmp_path: Path):
    book = ledger.load(Root(tmp_path))
    assert book.records == {} and book.note is None


def test_a_ledger_reached_through_a_link_is_refused(tmp_path: Path):
    root = Root(tmp_path)
    real = tmp_path / "elsewhere.json"
    real.write_bytes(ledger.render(recorded()))
    (tmp_path / "var/lib/swan-wizard").mkdir(parents=True)
    os.symlink(real, tmp_path / "var/lib/swan-wizard/clients.json")
    with pytest.raises(LinkRefused):
        ledger.load(root)


def test_a_fifo_is_not_read(tmp_path: Path):
    (tmp_path / "var/lib/swan-wizard").mkdir(parents=True)
    os.mkfifo(tmp_path / "var/lib/swan-wizard/clients.json")
    book = ledger.load(Root(tmp_path))
    assert book.records == {} and book.note and "FIFO" in book.note


def test_the_ledger_is_written_0600_with_the_plan():
    book = recorded()
    act = ledger.action(book)
    assert act.path == ledger.LEDGER and act.mode == 0o600
    assert ledger.parse(act.content or b"") == book


# ------------------------------------------------------------------ the ledger in a plan, on real files

ANSWERS = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients:
  - {name: alice@example.com, key: ecdsa-p256}
  - {name: bob@example.com, key: ecdsa-p256}
variants:
  ikev2-cert: {}
"""


class Opened:
    """Counts the two expensive reads a plan makes of a client: its private key and its PKCS#12."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from wizard.certs import materials
        from wizard.pki import encode

        self.keys = 0
        self.bundles = 0
        load_key, load_p12 = encode.load_key_pem, materials.pkcs12.load_pkcs12

        def key(*args: object, **kwargs: object) -> object:
            self.keys += 1
            return load_key(*args, **kwargs)  # type: ignore[arg-type]

        def p12(*args: object, **kwargs: object) -> object:
            self.bundles += 1
            return load_p12(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(encode, "load_key_pem", key)
        monkeypatch.setattr(materials.pkcs12, "load_pkcs12", p12)


class Applied:
    def __init__(self, notes: tuple[str, ...], changed: set[str]) -> None:
        self.notes, self.changed = notes, changed


def plan_and_apply(tmp_path: Path, answers_text: str = ANSWERS, verify: bool = False) -> tuple[Applied, Root]:
    """Plan and apply; what the plan found to change (before applying it) and its notes."""
    from wizard.fs.changes import Change, file_changes
    from wizard.model import answers_file
    from wizard.model.secrets import SecretSource
    from wizard.plan.apply import apply
    from wizard.plan.planner import build_plan

    (tmp_path / "answers.yaml").write_text(answers_text)
    answers = answers_file.load(tmp_path / "answers.yaml")
    root = Root.of(tmp_path / "root")
    plan = build_plan(answers, root, SecretSource(base_dir=tmp_path), verify=verify)
    changed = {str(c.action.path) for c in file_changes(plan, root) if c.change is not Change.UNCHANGED}
    apply(plan, root, run_commands=False)
    return Applied(plan.notes, changed), root


def client_file(root: Root, name: str, kind: str) -> Path:
    from wizard.certs.materials import client_files

    return root(client_files(name)[kind])


def test_a_rerun_opens_no_client_key_or_bundle_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plan_and_apply(tmp_path)
    assert stat.S_IMODE(os.stat(Root.of(tmp_path / "root")(ledger.LEDGER)).st_mode) == 0o600
    opened = Opened(monkeypatch)
    plan, _ = plan_and_apply(tmp_path)
    assert plan.changed == set()
    assert opened.bundles == 0
    assert opened.keys == 2  # the CA's and the host's: never a client's


def test_verify_opens_every_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plan_and_apply(tmp_path)
    opened = Opened(monkeypatch)
    plan, _ = plan_and_apply(tmp_path, verify=True)
    assert plan.changed == set()
    assert opened.bundles == 2 and opened.keys == 4


def test_a_swapped_key_is_detected_and_the_certificate_reissued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Bob's key put in Alice's place (same type, a valid key): the hash differs, so the full check runs and
    finds that Alice's certificate no longer matches her key."""
    _, root = plan_and_apply(tmp_path)
    alice_key = client_file(root, "alice@example.com", "key")
    alice_key.write_bytes(client_file(root, "bob@example.com", "key").read_bytes())
    old_cert = client_file(root, "alice@example.com", "cert").read_bytes()
    opened = Opened(monkeypatch)
    plan, root = plan_and_apply(tmp_path)
    assert opened.keys == 3  # CA, host, and the one changed client
    changed = plan.changed
    assert str(paths.client_dir("alice@example.com") / "cert.pem") in changed
    assert not any("bob@example.com" in p for p in changed)
    cert = encode.load_cert_pem(client_file(root, "alice@example.com", "cert").read_bytes())
    assert cert.public_key() == encode.load_key_pem(alice_key.read_bytes()).public_key()
    assert client_file(root, "alice@example.com", "cert").read_bytes() != old_cert


@pytest.mark.parametrize("kind", ["p12", "cert"])
def test_a_hand_edited_file_is_checked_in_full_and_repaired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            kind: str):
    _, root = plan_and_apply(tmp_path)
    target = client_file(root, "bob@example.com", kind)
    target.write_bytes(target.read_bytes()[:-40] + b"tampered")
    opened = Opened(monkeypatch)
    plan, root = plan_and_apply(tmp_path)
    assert opened.keys == 3
    assert str(paths.client_dir("bob@example.com") / target.name) in plan.changed
    # repaired, and trusted again on the next run
    opened.keys = opened.bundles = 0
    plan, root = plan_and_apply(tmp_path)
    assert plan.changed == set() and opened.keys == 2 and opened.bundles == 0


def test_a_changed_answer_takes_the_full_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    plan_and_apply(tmp_path)
    opened = Opened(monkeypatch)
    plan_and_apply(tmp_path, ANSWERS.replace("{name: bob@example.com, key: ecdsa-p256}",
                                             "{name: bob@example.com, key: ecdsa-p256, p12_encryption: aes256}"))
    assert opened.keys == 3 and opened.bundles == 1


def test_a_damaged_ledger_costs_time_never_safety(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _, root = plan_and_apply(tmp_path)
    root(ledger.LEDGER).write_bytes(b"{not json")
    opened = Opened(monkeypatch)
    plan, root = plan_and_apply(tmp_path)
    assert opened.keys == 4 and opened.bundles == 2
    assert any("checked in full" in n for n in plan.notes)
    assert plan.changed == {str(ledger.LEDGER)}  # every client file stays as it was; the ledger is rebuilt
    assert ledger.load(root).records.keys() == {"alice@example.com", "bob@example.com"}


@pytest.mark.parametrize("damage", [b"[1]", b'{"inputs": "x"}', b"{", b'"x"'])
def test_a_damaged_record_is_a_missing_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes):
    """Records are decoded when asked for: one damaged in a file of the right shape costs that client the full
    check, and its record is written anew."""
    from wizard.fs import stamps

    _, root = plan_and_apply(tmp_path)
    lines = root(ledger.LEDGER).read_bytes().split(b"\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(b'"alice@example.com": '))
    lines[at] = b'"alice@example.com": ' + damage + (b"," if lines[at].endswith(b",") else b"")
    root(ledger.LEDGER).write_bytes(b"\n".join(lines))
    root(stamps.STAMPS).unlink()  # every folder planned: the ledger is asked for each client
    opened = Opened(monkeypatch)
    plan, root = plan_and_apply(tmp_path)
    assert opened.bundles == 1  # alice's only (an intact record opens none)
    assert plan.changed == {str(ledger.LEDGER)}
    assert set(ledger.load(root).records) == {"alice@example.com", "bob@example.com"}
    assert ledger.load(root).records["alice@example.com"].serial > 0


def test_a_removed_client_leaves_no_record(tmp_path: Path):
    _, root = plan_and_apply(tmp_path)
    plan_and_apply(tmp_path, ANSWERS.replace("  - {name: bob@example.com, key: ecdsa-p256}\n", ""))
    assert set(ledger.load(root).records) == {"alice@example.com"}
