"""The client ledger: files are trusted unopened only when they are byte for byte what was recorded."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wizard.certs import ledger
from wizard.certs.ledger import Inputs, Ledger
from wizard.fs.paths import Root
from wizard.fs.safefs import LinkRefused

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
