"""A re-apply leaves unopened the client folders that stand as the last apply left them (fs.stamps,
plan.standing), and plans again every folder where anything changed: a file's content, mode or presence,
the folder itself, the client's answers or secrets, its certificate's validity, or the record itself."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_clients import Setup

from wizard.certs import ledger
from wizard.fs import paths, stamps
from wizard.fs.paths import Root
from wizard.model.secrets import SecretSource
from wizard.plan import standing
from wizard.plan.planner import build_plan

ANSWERS = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients:
  - {name: alice@example.com, key: ecdsa-p256}
  - {name: carol@example.com, key: ecdsa-p256, p12_password: {env: CAROL_P12}}
variants:
  ikev2-cert: {}
  ikev2-eap:
    users: [{name: bob}]
"""
NAMES = {"alice@example.com", "carol@example.com", "bob"}


@pytest.fixture
def setup(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Setup:
    monkeypatch.setenv("CAROL_P12", "carol's own password")
    made = Setup(tmp_path, capsys, ANSWERS)
    settle()
    return made


def settle() -> None:
    """Past the clock tick of the last write (the record takes no stamp younger than that)."""
    time.sleep(stamps.SETTLE_NS * 2 / 1e9)


def apply(setup: Setup, *options: str) -> str:
    code, out, err = setup.run("apply", str(setup.answers), "--root", str(setup.root.path), *options)
    assert code == 0, err
    return out


def folder(setup: Setup, name: str) -> Path:
    return setup.root(paths.client_dir(name))


def test_first_apply_records_every_folder_and_a_re_apply_opens_none(setup: Setup, reads: list[str]) -> None:
    assert set(stamps.load(setup.root)) == NAMES
    assert "Nothing to change" in apply(setup)
    assert reads == []
    assert set(stamps.load(setup.root)) == NAMES


def test_the_record_holds_no_secret_and_is_private(setup: Setup) -> None:
    record = setup.root(stamps.STAMPS)
    assert record.stat().st_mode & 0o777 == 0o600
    text = record.read_bytes()
    assert b"carol's own password" not in text
    for name in NAMES:
        for file in folder(setup, name).iterdir():
            assert file.read_bytes() not in text


@pytest.mark.parametrize("file", ["cert.pem", "alice@example.com.p12", "alice@example.com.sswan", "README.txt"])
def test_a_file_changed_in_place_is_planned_again_and_restored(setup: Setup, reads: list[str], file: str) -> None:
    path = folder(setup, "alice@example.com") / file
    before, st = path.read_bytes(), path.stat()
    # Same size, same mtime: only the ctime (which no call sets back) tells.
    tampered = before[:-2] + (b"X\n" if before[-2:] != b"X\n" else b"Y\n")
    path.write_bytes(tampered)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = apply(setup)
    assert str(paths.client_dir("alice@example.com") / file) in out
    assert path.read_bytes() != tampered
    assert set(reads) == {"alice@example.com"}  # the others stand
    settle()
    assert "Nothing to change" in apply(setup, "--verify")
    reads.clear()
    assert "Nothing to change" in apply(setup) and reads == []


def test_a_file_added_removed_or_chmodded_is_planned_again(setup: Setup) -> None:
    alice, bob = folder(setup, "alice@example.com"), folder(setup, "bob")
    (alice / "stray.txt").write_text("not the wizard's")
    (bob / "README.txt").unlink()
    (folder(setup, "carol@example.com") / "cert.pem").chmod(0o644)
    out = apply(setup)
    assert not (alice / "stray.txt").exists()
    assert (bob / "README.txt").is_file()
    assert (folder(setup, "carol@example.com") / "cert.pem").stat().st_mode & 0o777 == 0o600
    assert "Nothing to change" not in out


def test_a_removed_client_s_folder_is_emptied(setup: Setup) -> None:
    setup.answers.write_text(ANSWERS.replace("  - {name: alice@example.com, key: ecdsa-p256}\n", ""))
    apply(setup)
    assert not folder(setup, "alice@example.com").exists() or not any(folder(setup, "alice@example.com").iterdir())
    assert "alice@example.com" not in stamps.load(setup.root)


def test_a_secret_that_changed_outside_the_answers_is_planned_again(setup: Setup, reads: list[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAROL_P12", "a new password for carol")
    out = apply(setup)
    assert "carol@example.com.p12" in out
    assert set(reads) == {"carol@example.com"}


def test_a_changed_answer_plans_that_client_only(setup: Setup, reads: list[str]) -> None:
    setup.answers.write_text(ANSWERS.replace("{name: alice@example.com, key: ecdsa-p256}",
                                             "{name: alice@example.com, key: ecdsa-p256, on_demand: true}"))
    out = apply(setup)
    assert "alice@example.com.mobileconfig" in out
    assert set(reads) == {"alice@example.com"}


@pytest.mark.parametrize("command", [("add", "dave@example.com", "--key", "ecdsa-p256"),
                                     ("revoke", "alice@example.com"), ("renew", "alice@example.com")])
def test_a_client_command_stamps_what_it_names_and_carries_the_others(setup: Setup, reads: list[str],
                                                                      command: tuple[str, ...]) -> None:
    before = stamps.load(setup.root)
    code, _out, err = setup.client(*command)
    assert code == 0, err
    after = stamps.load(setup.root)
    named = command[1]
    assert set(after) == NAMES | {named}
    assert {n: r for n, r in after.items() if n != named} == {n: r for n, r in before.items() if n != named}
    assert after[named] != before.get(named)
    reads.clear()
    settle()
    assert "Nothing to change" in apply(setup)
    assert reads == []


def test_a_shared_change_plans_every_folder(setup: Setup, reads: list[str]) -> None:
    setup.answers.write_text(ANSWERS.replace("vpn.example.com", "vpn2.example.com"))
    apply(setup)
    assert set(reads) >= NAMES


def test_a_certificate_past_its_validity_is_not_vouched_for(setup: Setup) -> None:
    from wizard.model import answers_file

    answers = answers_file.load(setup.answers)
    book = ledger.load(setup.root)
    source = SecretSource(base_dir=setup.tmp)
    later = book.records["alice@example.com"].not_after + timedelta(days=1)
    inputs = standing.folder_inputs(answers, build_creds(answers, setup.root, source), source,
                                    _salt(setup.root), _context(setup.root))
    records = stamps.load(setup.root)
    now = book.records["alice@example.com"].not_before + timedelta(seconds=1)
    clients = {"alice@example.com", "carol@example.com"}
    assert set(standing.standing(setup.root, inputs, records, book, clients, now)) == NAMES
    assert set(standing.standing(setup.root, inputs, records, book, clients, later)) == {"bob"}
    plan = build_plan(answers, setup.root, source, now=later)
    written = {str(f.path) for f in plan.files}
    assert str(paths.client_dir("alice@example.com") / "cert.pem") in written


def build_creds(answers: object, root: Root, source: SecretSource) -> dict[str, object]:
    from wizard.model import credentials

    return credentials.resolve(answers, root, source)  # type: ignore[arg-type, return-value]


def _salt(root: Root) -> str:
    from wizard.render.profiles import cache

    return cache.load(root).salt


def _context(root: Root) -> str:
    from wizard.render.profiles import cache

    return cache.load(root).context


def test_a_folder_written_within_the_clock_tick_gets_no_record(tmp_path: Path) -> None:
    base = tmp_path / "clients"
    (base / "x").mkdir(parents=True)
    (base / "x" / "file").write_text("new")
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert stamps.take(fd, ["x"]) == {}  # just written: a change in the same tick could hide
        stamps.settle(time.time_ns())
        taken = stamps.take(fd, ["x", "missing"])
        assert set(taken) == {"x"}
        record = stamps.FolderStamps("inputs", taken["x"])
        assert stamps.holds(fd, "x", record, "inputs")
        assert not stamps.holds(fd, "x", record, "other inputs")
        (base / "x" / "file").chmod(0o600)
        assert not stamps.holds(fd, "x", record, "inputs")
    finally:
        os.close(fd)


def test_whole_second_timestamps_must_be_two_seconds_old() -> None:
    now = 1_000_000_000_000_000_000
    assert stamps.settled(now - stamps.SETTLE_NS - 1, now)
    assert not stamps.settled(now - 1_000_000_000, now)  # whole seconds: the tick is a second
    assert stamps.settled(now - 3_000_000_000, now)


def test_a_link_in_place_of_a_folder_is_never_vouched_for(setup: Setup) -> None:
    alice = folder(setup, "alice@example.com")
    moved = alice.with_name("elsewhere")
    alice.rename(moved)
    alice.symlink_to(moved)
    code, _out, err = setup.run("apply", str(setup.answers), "--root", str(setup.root.path))
    assert code != 0 and "link" in err


def test_a_damaged_or_missing_record_costs_a_full_plan_only(setup: Setup, reads: list[str]) -> None:
    setup.root(stamps.STAMPS).write_text("{not json")
    assert "Nothing to change" in apply(setup)
    assert set(reads) >= NAMES
    settle()
    reads.clear()
    assert "Nothing to change" in apply(setup) and reads == []


def test_a_run_killed_before_the_record_converges(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after the files and before the record: the old record's stamps no longer match the new files,
    so the next run plans them in full and finds nothing to do."""
    old = setup.root(stamps.STAMPS).read_bytes()
    setup.answers.write_text(ANSWERS.replace("vpn.example.com", "vpn2.example.com"))

    def killed(*_args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(stamps, "take", killed)
        code, _out, _err = setup.run("apply", str(setup.answers), "--root", str(setup.root.path))
    assert code != 0
    assert setup.root(stamps.STAMPS).read_bytes() == old
    assert "Nothing to change" in apply(setup)
    assert "Nothing to change" in apply(setup, "--verify")


TAMPER = st.sampled_from(["rewrite", "append", "chmod", "remove", "add", "touch"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(sorted(NAMES)), st.integers(0, 20), TAMPER), min_size=1,
                        max_size=4))
def test_any_tampering_is_planned_again(setup: Setup, changes: list[tuple[str, int, str]]) -> None:
    """Whatever is done to a client's files, the next re-apply leaves them as a full check wants them."""
    for name, pick, how in changes:
        files = sorted(p for p in folder(setup, name).iterdir() if p.is_file())
        path = files[pick % len(files)] if files else folder(setup, name) / "README.txt"
        if how == "rewrite" and path.exists():
            st_ = path.stat()
            data = path.read_bytes()
            path.write_bytes(bytes([data[0] ^ 1]) + data[1:] if data else b"x")
            os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns))
        elif how == "append" and path.exists():
            with path.open("ab") as f:
                f.write(b"\n")
        elif how == "chmod" and path.exists():
            path.chmod(0o644)
        elif how == "remove" and path.exists():
            path.unlink()
        elif how == "add":
            (folder(setup, name) / f"extra{pick}").write_text("x")
        elif how == "touch" and path.exists():
            os.utime(path)
    apply(setup)
    settle()
    assert "Nothing to change" in apply(setup, "--verify")
    settle()
    assert "Nothing to change" in apply(setup)
