"""Client commands plan the clients they name: the others' files are neither read nor rewritten, while
nothing those files depend on has changed; when something has, every client is planned as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_clients import Setup

from wizard.certs import ledger
from wizard.fs import paths
from wizard.render.profiles import cache as profile_cache

ANSWERS = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients:
  - {name: alice@example.com, key: ecdsa-p256}
  - {name: carol@example.com, key: ecdsa-p256}
variants:
  ikev2-cert: {}
  ikev2-eap:
    users: [{name: bob}, {name: dave}]
  l2tp:
    users: [{name: dave}]
"""
OTHERS = ("alice@example.com", "bob", "dave")


@pytest.fixture
def setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Setup:
    return Setup(tmp_path, capsys, ANSWERS)


def folder(setup: Setup, name: str) -> dict[str, bytes]:
    base = setup.root(paths.client_dir(name))
    return {p.name: p.read_bytes() for p in sorted(base.iterdir())}


def others(setup: Setup) -> dict[str, dict[str, bytes]]:
    return {name: folder(setup, name) for name in OTHERS}


def test_add_plans_the_new_client_only_and_keeps_every_record(setup: Setup, reads: list[str]) -> None:
    before = others(setup)
    code, _out, err = setup.client("add", "erin@example.com")
    assert code == 0, err
    assert set(reads) <= {"erin@example.com"}, sorted(set(reads))
    assert others(setup) == before
    assert "erin@example.com.p12" in folder(setup, "erin@example.com")
    book = ledger.load(setup.root)
    assert sorted(book.records) == ["alice@example.com", "carol@example.com", "erin@example.com"]
    cached = {p.split("/")[4] for p in profile_cache.load(setup.root).entries}
    assert cached == {"alice@example.com", "carol@example.com", "bob", "dave", "erin@example.com"}
    reads.clear()
    setup.assert_apply_is_silent("--verify")  # the full plan agrees with what the scoped one wrote
    assert set(reads) >= {"alice@example.com", "bob"}  # and it does look at everyone


@pytest.mark.parametrize("command", [["export", "carol@example.com"], ["renew", "carol@example.com"],
                                     ["revoke", "carol@example.com"], ["remove", "carol@example.com"],
                                     ["export", "dave"]])
def test_commands_on_one_client_leave_the_others_unread(setup: Setup, reads: list[str], command: list[str]) -> None:
    before = others(setup) if command[1] != "dave" else {"alice@example.com": folder(setup, "alice@example.com")}
    code, _out, err = setup.client(*command)
    assert code == 0, err
    assert set(reads) <= {command[1]}, sorted(set(reads))
    assert {name: folder(setup, name) for name in before} == before
    if command[0] == "remove":
        assert not setup.root(paths.client_dir("carol@example.com")).exists() or not folder(setup, "carol@example.com")
        assert "carol@example.com" not in ledger.load(setup.root).records
    setup.assert_apply_is_silent()


def test_a_hand_changed_server_address_makes_a_client_command_plan_everyone(setup: Setup, reads: list[str]) -> None:
    setup.answers.write_text(setup.answers.read_text().replace("vpn.example.com", "vpn2.example.com"))
    code, _out, err = setup.client("add", "erin@example.com")
    assert code == 0, err
    assert {"alice@example.com", "bob", "dave"} <= set(reads)
    for name in ("alice@example.com", "bob"):
        assert b"vpn2.example.com" in folder(setup, name)["README.txt"]
    setup.assert_apply_is_silent()


def test_without_a_context_on_record_every_client_is_planned(setup: Setup, reads: list[str]) -> None:
    # A cache written before contexts were recorded (or damaged): nothing vouches for the others.
    cache_file = setup.root(profile_cache.CACHE)
    cache_file.write_bytes(cache_file.read_bytes().replace(b'"context": "', b'"context": "0'))
    code, _out, err = setup.client("export", "carol@example.com")
    assert code == 0, err
    assert "alice@example.com" in reads
    setup.assert_apply_is_silent()


def test_a_hand_changed_split_tunnel_makes_a_client_command_plan_everyone(setup: Setup, reads: list[str]) -> None:
    # The certificates stay the same here: only the record of what the profiles were planned against tells.
    before = folder(setup, "alice@example.com")
    split = setup.answers.read_text().replace("ikev2-cert: {}", "ikev2-cert: {local_ts: [10.1.0.0/16]}")
    setup.answers.write_text(split)
    code, _out, err = setup.client("export", "carol@example.com")
    assert code == 0, err
    assert "alice@example.com" in reads
    assert folder(setup, "alice@example.com") != before
    setup.assert_apply_is_silent()
