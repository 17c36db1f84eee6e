"""The data of answers applied or saved is kept (fs.answersmemo) so the next command on the very same bytes does
not parse them again; other bytes, a damaged or linked record, a literal secret, a refused or dry run: parsed,
never taken from the record, nothing recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_clients import Setup
from test_ledger import ANSWERS

from wizard.fs import answersmemo, paths
from wizard.model import answers_file, yamlsource


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every answers text parsed from here on (any size takes the large files' path and the record)."""
    monkeypatch.setattr(yamlsource, "FAST_FROM", 0)
    seen: list[int] = []
    real = yamlsource._fast_data

    def counted(text: str) -> dict[str, Any] | None:
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(yamlsource, "_fast_data", counted)
    return seen


@pytest.fixture
def setup(tmp_path: Path, capsys: pytest.CaptureFixture[str], parses: list[int]) -> Setup:
    return Setup(tmp_path, capsys, ANSWERS)


def record(setup: Setup) -> Path:
    return setup.root(answersmemo.MEMO)


def test_an_apply_keeps_the_data_and_the_next_commands_do_not_parse(setup: Setup, parses: list[int]) -> None:
    assert record(setup).stat().st_mode & 0o777 == 0o600
    parses.clear()
    setup.assert_apply_is_silent()
    code, out, err = setup.client("add", "dave@example.com", "--key", "ecdsa-p256")
    assert code == 0, err
    code, out, err = setup.client("list")
    assert code == 0 and "dave@example.com" in out, err
    assert parses == [], "the applied text, then the saved one, came from the record"
    assert setup.load() == answers_file.parse(setup.answers.read_bytes())


def test_answers_edited_by_hand_are_parsed_again(setup: Setup, parses: list[int]) -> None:
    setup.answers.write_text(ANSWERS.replace("alice@example.com, key: ecdsa-p256",
                                             "alice@example.com, key: ecdsa-p256, lifetime_days: 90"))
    parses.clear()
    code, _out, err = setup.client("list")
    assert code == 0, err
    assert len(parses) == 1
    assert setup.load().clients[0].lifetime_days == 90


@pytest.mark.parametrize("damage", ["body", "digest", "link"])
def test_a_damaged_or_linked_record_is_not_used(setup: Setup, parses: list[int], tmp_path: Path, damage: str) -> None:
    path = record(setup)
    head, _, body = path.read_bytes().partition(b"\n")
    forged = json.loads(body)
    forged["clients"][0]["name"] = "mallory@example.com"
    if damage == "body":
        path.write_bytes(head + b"\n" + body[:-5])
    elif damage == "digest":
        path.write_bytes(head[:-1] + b"0\n" + json.dumps(forged).encode())
    else:  # a link to forged data with the right digest: not followed
        outside = tmp_path / "forged.json"
        outside.write_bytes(head + b"\n" + json.dumps(forged).encode())
        path.unlink()
        path.symlink_to(outside)
    parses.clear()
    code, out, err = setup.client("list")
    assert code == 0, err
    assert "mallory" not in out and "alice@example.com" in out
    assert len(parses) == 1


def test_answers_with_a_literal_secret_are_not_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        parses: list[int]) -> None:
    text = ANSWERS.replace("  ikev2-cert: {}\n",
                           "  ikev2-eap:\n    users: [{name: bob, password: 'Lit3ral-s3cret!x'}]\n")
    made = Setup(tmp_path, capsys, text)
    assert not record(made).exists()
    state = made.root(paths.WIZARD_STATE)  # (the secrets files and profiles hold it, as they must)
    assert not [p for p in state.rglob("*") if p.is_file() and b"Lit3ral-s3cret" in p.read_bytes()]


def test_a_dry_run_and_a_refused_apply_record_nothing(setup: Setup, tmp_path: Path) -> None:
    record(setup).unlink()
    code, _out, err = setup.run("apply", "--dry-run", str(setup.answers), "--root", str(setup.root.path))
    assert code == 0, err
    code, _out, err = setup.client("add", "dave@example.com", "--dry-run")
    assert code == 0, err
    bad = tmp_path / "bad.yaml"
    # parsed and valid, refused for its secret file: nothing written, the record included
    bad.write_text(ANSWERS.replace("key: ecdsa-p256}\nvariants",
                                   "key: ecdsa-p256, p12_password: {file: nope}}\nvariants"))
    code, _out, err = setup.run("apply", str(bad), "--root", str(setup.root.path))
    assert code == 2 and "p12_password" in err, err
    assert not record(setup).exists()


def test_verify_parses_the_answers_whatever_the_record(setup: Setup, parses: list[int]) -> None:
    parses.clear()
    setup.assert_apply_is_silent()
    assert parses == []
    setup.assert_apply_is_silent("--verify")
    assert len(parses) == 1  # --verify trusts no record (under the lock, the same bytes are not read twice)


json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=False),
              st.dates()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(st.text(max_size=4), st.integers(), st.booleans()), inner,
                                            max_size=3)),
    max_leaves=12)


@given(json_like)
def test_only_data_that_json_gives_back_exactly_is_recorded(data: object) -> None:
    if answersmemo._exact_in_json(data):
        back = json.loads(json.dumps(data))
        assert back == data and repr(back) == repr(data)  # the same types too (True is not 1)

