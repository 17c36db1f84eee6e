"""One lock per root, taken before planning: concurrent runs never replace keys or undo each other."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST_ANSWERS

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.pki import encode, keys
from wizard.plan.apply import apply, lock
from wizard.problems import Exit, Locked, MaterialConflict

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "BOB_P12": "bob-p12-password"}

# RSA-4096 keys take a second or more: a run is still planning when the next one starts.
SLOW = """
version: 1
server: {address: vpn.example.com}
ca: {key: rsa-4096}
host: {key: rsa-4096}
clients: [{name: alice, key: ecdsa-p256}]
"""


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "wizard.cli", *args], cwd=REPO, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def backed_up(root: Path) -> set[str]:
    """Logical paths of every file some backup holds a copy of (i.e. that a run replaced or removed)."""
    base = Root.of(root)(paths.BACKUPS_DIR)
    return {"/" + str(p.relative_to(b / "files")) for b in base.iterdir() if (b / "files").is_dir()
            for p in (b / "files").rglob("*") if p.is_file()} if base.is_dir() else set()


def assert_one_consistent_ca(root: Path) -> None:
    r = Root.of(root)
    ca_key = encode.load_key_pem(r(paths.CA_KEY).read_bytes())
    ca = encode.load_cert_pem(r(paths.CA_CERT).read_bytes())
    host = encode.load_cert_pem(r(paths.SWANCTL_X509 / paths.HOST_CERT_NAME).read_bytes())
    assert keys.public_keys_equal(ca.public_key(), ca_key.public_key())
    host.verify_directly_issued_by(ca)
    host_key = encode.load_key_pem(r(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME).read_bytes())
    assert keys.public_keys_equal(host.public_key(), host_key.public_key())


def test_a_second_apply_started_during_the_first_does_not_replace_its_keys(tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text(SLOW)
    root = tmp_path / "root"
    first = start("apply", str(answers), "--root", str(root))
    time.sleep(0.3)
    second = start("apply", str(answers), "--root", str(root))
    results = {first.pid: finish(first), second.pid: finish(second)}
    codes = sorted(code for code, _ in results.values())
    # the lock is taken before planning: whichever run gets it first applies, the other exits 4 at once
    # naming it (both succeed only if one finished before the other started, on a very slow machine)
    assert codes in ([0, Exit.LOCKED], [0, 0]), results
    for pid, (code, err) in results.items():
        if code == Exit.LOCKED:
            winner = next(p for p in results if p != pid)
            assert f"pid {winner}" in err and "--wait" in err and len(err.strip().splitlines()) == 1, err
    assert not {str(paths.CA_KEY), str(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME)} & backed_up(root)
    assert_one_consistent_ca(root)


@pytest.mark.parametrize("wait", [None, "300"])
def test_many_concurrent_applies_leave_one_ca(tmp_path: Path, wait: str | None) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text(SLOW)
    root = tmp_path / "root"
    runs = []
    for _ in range(6):
        runs.append(start("apply", str(answers), "--root", str(root), *(["--wait", wait] if wait else [])))
        time.sleep(0.05)
    results = [finish(p) for p in runs]
    codes = [code for code, _ in results]
    if wait:  # every run waits its turn and succeeds
        assert codes == [0] * 6, [err for _, err in results]
        assert sum("waiting up to 300 s for swan-wizard pid" in err for _, err in results) >= 1
    else:  # one run (or a later one that found it done) succeeds, the others exit 4 having written nothing
        assert set(codes) <= {0, Exit.LOCKED} and 0 in codes and Exit.LOCKED in codes, codes
    # the first run to get the lock made every key; nobody replaced one (a backup would hold it)
    assert not {str(paths.CA_KEY), str(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME)} & backed_up(root)
    assert_one_consistent_ca(root)


def _clients_on_disk(root: Path) -> set[str]:
    base = Root.of(root)(paths.CLIENTS_DIR)
    return {d.name for d in base.iterdir() if (d / "key.pem").is_file()}


def _slow_apply_under_way(tmp_path: Path) -> tuple[Path, Path, subprocess.Popen[str]]:
    """A root applied once, then an apply whose plan takes a while (two new RSA-4096 clients), 0.3 s in."""
    answers = tmp_path / "a.yaml"
    answers.write_text(FAST_ANSWERS)
    root = tmp_path / "root"
    assert finish(start("apply", str(answers), "--root", str(root)))[0] == 0
    answers.write_text(FAST_ANSWERS + "  - {name: dave, key: rsa-4096}\n  - {name: erin, key: rsa-4096}\n")
    applying = start("apply", str(answers), "--root", str(root))
    time.sleep(0.3)
    return answers, root, applying


def test_client_add_during_an_apply_never_loses_the_new_client(tmp_path: Path) -> None:
    answers, root, applying = _slow_apply_under_way(tmp_path)
    # ... and a client added meanwhile, on the same answers file
    adding = start("client", "add", "carol", "--key", "ecdsa-p256", "--answers", str(answers), "--root", str(root))
    (code_apply, err_apply), (code_add, err_add) = finish(applying), finish(adding)
    assert code_apply == 0, err_apply
    assert code_add in (0, Exit.LOCKED), err_add
    wanted = {c.name for c in answers_file.load(answers).clients}
    # whatever the order, the answers and the disk agree: no client's key was removed behind its back
    assert wanted == _clients_on_disk(root)
    assert ("carol" in wanted) == (code_add == 0)


def test_client_add_waits_for_a_running_apply_then_succeeds(tmp_path: Path) -> None:
    answers, root, applying = _slow_apply_under_way(tmp_path)
    adding = start("client", "add", "carol", "--key", "ecdsa-p256", "--answers", str(answers), "--root",
                   str(root), "--wait", "300")
    (code_apply, err_apply), (code_add, err_add) = finish(applying), finish(adding)
    assert (code_apply, code_add) == (0, 0), err_apply + err_add
    assert {"alice@example.com", "bob", "carol", "dave", "erin"} == _clients_on_disk(root)


def test_rollback_and_uninstall_take_the_same_lock(tmp_path: Path, make_answers, plan_for) -> None:
    root = Root.of(tmp_path / "root")
    apply(plan_for(make_answers(), root), root)
    with lock(root):
        for args in (["rollback"], ["uninstall"], ["client", "remove", "bob", "--answers", str(tmp_path / "a.yaml")]):
            (tmp_path / "a.yaml").write_text(FAST_ANSWERS)
            code, err = finish(start(*args, "--root", str(root.path)))
            assert code == Exit.LOCKED, (args, err)
            assert f"pid {os.getpid()}" in err


def test_the_lock_is_held_from_before_planning(tmp_path: Path, make_answers, plan_for) -> None:
    """apply() under a held lock does not take it again; a second taker in the same process is refused."""
    root = Root.of(tmp_path)
    with lock(root) as held:
        apply(plan_for(make_answers(), root), root, held=held)
        with pytest.raises(Locked):
            apply(plan_for(make_answers(), root), root)


def test_an_existing_ca_key_is_never_replaced_even_behind_the_locks_back(tmp_path: Path, make_answers,
                                                                         plan_for) -> None:
    root = Root.of(tmp_path)
    plan = plan_for(make_answers(), root)  # plans a new CA ...
    other = Root.of(tmp_path / "other")
    apply(plan_for(make_answers(), other), other)
    root(paths.CA_DIR).mkdir(parents=True, mode=0o700)
    root(paths.CA_KEY).write_bytes(other(paths.CA_KEY).read_bytes())  # ... but a CA key appeared meanwhile
    with pytest.raises(MaterialConflict, match="never replaced"):
        apply(plan, root)
    assert root(paths.CA_KEY).read_bytes() == other(paths.CA_KEY).read_bytes()
    assert not root(paths.CA_CERT).exists()


def test_a_host_or_client_key_that_appears_after_planning_is_not_replaced(tmp_path: Path, make_answers,
                                                                          plan_for) -> None:
    other = Root.of(tmp_path / "other")
    apply(plan_for(make_answers(), other), other)
    for key in (paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME, paths.client_dir("bob") / "key.pem"):
        root = Root.of(tmp_path / key.name)
        plan = plan_for(make_answers(), root)
        root(key.parent).mkdir(parents=True, mode=0o700)
        root(key).write_bytes(other(key).read_bytes())
        with pytest.raises(MaterialConflict, match=str(key)):
            apply(plan, root)
        assert root(key).read_bytes() == other(key).read_bytes()


def test_the_wizards_apply_takes_the_lock_before_it_plans_again(tmp_path: Path, monkeypatch) -> None:
    from test_tui_flow import eap_setup_to_confirm
    from test_tui_support import click_id, fake_netfacts, probe_with, run_async, wait_screen, wait_until

    from screens.app import create_app
    from wizard.plan import staging

    root = tmp_path / "root"
    planned_after_confirm: list[bool] = []
    confirmed = [False]
    real_compute = staging.compute_plan

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        planned_after_confirm.append(confirmed[0])
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(staging, "compute_plan", recording)
    outcome: dict[str, object] = {}

    async def go() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=probe_with())
        async with app.run_test(size=(80, 24)) as pilot:
            await eap_setup_to_confirm(pilot, app)
            # held as another process would: a plain flock on the lock file
            lock_file = Root.of(root)(paths.LOCK_FILE)
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                confirmed[0] = True
                await click_id(pilot, "yes")
                await wait_screen(pilot, "ApplyScreen")
                await wait_until(pilot, lambda: app.screen.state != "running", "the apply", timeout=120)
                outcome["state"], outcome["code"] = app.screen.state, app.screen.failure_code
            finally:
                os.close(fd)

    run_async(go())
    assert outcome == {"state": "failed", "code": Exit.LOCKED}
    assert True not in planned_after_confirm  # no plan (and no key generation) before the lock
    assert not Root.of(root)(paths.CA_KEY).exists() and not Root.of(root)(paths.SWANCTL_CONF).exists()
