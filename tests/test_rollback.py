"""Rollback to earlier runs byte for byte, and recovery from an apply killed half-way."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import pytest
from conftest import FUZZ_EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pending_commands import LiveRoot

from wizard.fs import paths, safefs
from wizard.fs.changes import Command, file_changes
from wizard.fs.paths import Root
from wizard.model.answers import updated
from wizard.pki import encode, keys, reuse
from wizard.plan.apply import apply
from wizard.plan.preview import describe
from wizard.plan.rollback import backups, interrupted, rollback_plan, rollback_plan_to_start
from wizard.problems import WizardError
from wizard.system import service

REPO = Path(__file__).resolve().parents[1]


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file outside Swan Wizard's own state directory, with its mode."""
    state = root / str(paths.WIZARD_STATE).lstrip("/")
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode & 0o7777)
            for p in root.rglob("*") if p.is_file() and state not in p.parents}


def test_apply_a_apply_b_rollback_to_a_gives_a_byte_for_byte(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    a = make_answers()
    apply(plan_for(a, root), root)
    after_a = snapshot(tmp_path)
    run_a = backups(root)[-1].id
    b = updated(a, pool=updated(a.pool, dns=["9.9.9.9"]), layout="ipsec",
                server=updated(a.server, alt_names=["vpn2.example.com"]))
    apply(plan_for(b, root), root)
    assert snapshot(tmp_path) != after_a
    plan, undone = rollback_plan(root, run_a)
    assert [u.id for u in undone] == [backups(root)[-1].id]
    apply(plan, root, kind="rollback")
    assert snapshot(tmp_path) == after_a
    # and the rollback can itself be undone: B again
    assert backups(root)[-1].kind == "rollback"


def test_rollback_without_id_undoes_the_newest_run(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    a = make_answers()
    apply(plan_for(a, root), root)
    after_a = snapshot(tmp_path)
    apply(plan_for(updated(a, rekey=True), root), root)
    plan, _ = rollback_plan(root, None)
    apply(plan, root, kind="rollback")
    assert snapshot(tmp_path) == after_a


def test_cli_rollback_before_the_first_run_keeps_removed_keys_in_a_backup(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    first = backups(root)[0].id
    ca_key = root(paths.CA_KEY).read_bytes()
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "rollback", "--before", first, "--root",
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(tmp_path) == {}
    saved = root(paths.BACKUPS_DIR / backups(root)[-1].id / "files" / str(paths.CA_KEY).lstrip("/"))
    assert saved.read_bytes() == ca_key and (saved.stat().st_mode & 0o777) == 0o600
    assert "PRIVATE KEY" not in proc.stdout


def _apply_and_die_after(root_dir: str, writes: int, answers_yaml: str, at: str = "publish") -> None:
    """In a child process: apply, but exit abruptly (like kill -9) after ``writes`` files landed (written
    whole, or renamed into place), or, ``at="stage"``/``"flush"``, after that many temporary files were
    written / just before the flush that makes them durable."""
    from wizard.model import answers_file
    from wizard.model.secrets import SecretSource
    from wizard.plan.planner import build_plan

    count = 0
    real_publish = safefs.Tree.publish  # a whole write ends with a publish too
    real_stage = safefs.Tree.stage

    def landing(self, real, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal count
        if count == writes:
            os._exit(9)
        count += 1
        return real(self, *args, **kwargs)

    if at == "publish":
        safefs.Tree.publish = lambda self, *a, **k: landing(self, real_publish, *a, **k)  # type: ignore[method-assign]
    elif at == "stage":
        safefs.Tree.stage = lambda self, *a, **k: (  # type: ignore[method-assign]
            landing(self, real_stage, *a, **k) if not k.get("durable") else real_stage(self, *a, **k))
    else:
        def dying_flush(self, staged):  # type: ignore[no-untyped-def]
            os._exit(9)
        safefs.Tree.flush = dying_flush  # type: ignore[method-assign]
    root = Root.of(root_dir)
    answers = answers_file.parse(answers_yaml)
    apply(build_plan(answers, root, SecretSource(environ={"BOB_P12": "bob-p12-password"})), root)


def test_killed_apply_is_detected_and_rerunning_converges(tmp_path, make_answers, plan_for):
    from conftest import FAST_ANSWERS

    # 2 backup copies are not written for a first run; the manifest and journal are: 2 writes, then
    # ca.key lands and the process dies before ca.pem.
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_apply_and_die_after, args=(str(tmp_path), 3, FAST_ANSWERS))
    child.start()
    child.join(60)
    assert child.exitcode == 9
    root = Root.of(tmp_path)
    broken = interrupted(root)
    assert broken is not None and broken.backup and str(paths.CA_CERT) in broken.files
    assert root(paths.CA_KEY).exists() and not root(paths.CA_CERT).exists()
    ca_key = root(paths.CA_KEY).read_bytes()
    # re-running completes it: the key written before the crash is kept, its certificate re-issued
    apply(plan_for(make_answers(), root), root)
    assert interrupted(root) is None
    assert root(paths.CA_KEY).read_bytes() == ca_key
    ca = encode.load_cert_pem(root(paths.CA_CERT).read_bytes())
    host = encode.load_cert_pem(root(paths.SWANCTL_X509 / paths.HOST_CERT_NAME).read_bytes())
    assert keys.public_keys_equal(ca.public_key(), encode.load_key_pem(ca_key).public_key())
    assert not reuse.host_cert_problems(host, ca, encode.load_key_pem(
        root(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME).read_bytes()), "vpn.example.com", ["203.0.113.10"])
    assert apply(plan_for(make_answers(), root), root).nothing_changed


@pytest.mark.parametrize("at", ["stage", "flush"])
def test_an_apply_killed_before_its_renames_changed_nothing_and_rerunning_converges(tmp_path, make_answers,
                                                                                      plan_for, at):
    """Killed while the new contents are still temporary files (written, or written but not yet flushed):
    no target was touched, the temporary files go at the next run, and that run writes everything."""
    from conftest import FAST_ANSWERS

    ctx = multiprocessing.get_context("fork")
    # The backup manifest and the journal are written whole before any staging; five files are staged here.
    child = ctx.Process(target=_apply_and_die_after, args=(str(tmp_path), 5, FAST_ANSWERS, at))
    child.start()
    child.join(60)
    assert child.exitcode == 9
    root = Root.of(tmp_path)
    temps = list(tmp_path.rglob("*.swan-wizard-*.tmp"))
    assert temps, "the run died with its contents still in temporary files"
    assert not root(paths.CA_KEY).exists() and not root(paths.CA_CERT).exists()
    assert interrupted(root) is not None
    apply(plan_for(make_answers(), root), root)
    assert interrupted(root) is None
    assert not [p for p in tmp_path.rglob("*.swan-wizard-*.tmp")]
    assert root(paths.CA_KEY).exists() and root(paths.CA_CERT).exists()
    assert apply(plan_for(make_answers(), root), root).nothing_changed


def test_killed_apply_can_be_rolled_back_instead(tmp_path):
    from conftest import FAST_ANSWERS

    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_apply_and_die_after, args=(str(tmp_path), 6, FAST_ANSWERS))
    child.start()
    child.join(60)
    assert child.exitcode == 9
    root = Root.of(tmp_path)
    assert interrupted(root) is not None
    plan, _ = rollback_plan_to_start(root)
    apply(plan, root, kind="rollback")
    assert snapshot(tmp_path) == {}


def test_cli_apply_says_when_it_completes_an_interrupted_run(tmp_path):
    from conftest import FAST_ANSWERS

    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_apply_and_die_after, args=(str(tmp_path / "root"), 4, FAST_ANSWERS))
    child.start()
    child.join(60)
    answers = tmp_path / "a.yaml"
    answers.write_text(FAST_ANSWERS)
    env = {**os.environ, "BOB_P12": "bob-p12-password"}
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root",
                           str(tmp_path / "root")], capture_output=True, text=True, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "was interrupted" in proc.stderr and "rollback" in proc.stderr


# ------------------------------------------------------------------------ commands and directories taken back

def _commands() -> tuple[Command, ...]:
    return (Command(("sysctl", "-p", str(paths.SYSCTL_CONF)), "forwarding",
                    undo=(("sysctl", "-w", "net.ipv4.ip_forward=0"),), undo_why="put back the value before"),
            Command(("nft", "-c", "-f", "rules"), "check", undo_why="only checks"),
            Command(("systemctl", "enable", "strongswan.service"), "at boot",
                    undo=(("systemctl", "disable", "strongswan.service"),), undo_why="was not enabled"),
            Command(("firewall-cmd", "--permanent", "--add-service=swan-wizard"), "open",
                    undo=(("firewall-cmd", "--permanent", "--remove-service=swan-wizard"),
                          ("firewall-cmd", "--reload")), undo_why="not there before"))


RELOADS = ["swanctl --load-all --noprompt", "ipsec reload"]  # a live rollback loads the restored files last


@dataclass
class Ran:
    """The commands run (faked), each with whether the sysctl file (the first run creates it) existed then."""

    root: Root
    calls: list[tuple[str, bool]] = field(default_factory=list)
    fails: set[str] = field(default_factory=set)

    def run(self, command: Command, timeout: float = 60.0) -> str:
        self.calls.append((str(command), self.root(paths.SYSCTL_CONF).exists()))
        if str(command) in self.fails:
            raise service.CommandFailed(f"{command} exited 1: no such unit")
        return ""

    @property
    def argvs(self) -> list[str]:
        return [c for c, _ in self.calls]


@pytest.fixture
def ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ran:
    faked = Ran(LiveRoot(tmp_path.resolve()))
    monkeypatch.setattr(service, "run", faked.run)
    return faked


def _applied(make_answers, plan_for, ran: Ran) -> Root:  # type: ignore[no-untyped-def]
    """A first apply on a root the engine takes for the live system, running _commands() (faked)."""
    commands = _commands()
    apply(replace(plan_for(make_answers(), ran.root), commands=commands), ran.root)
    assert ran.argvs == [str(c) for c in commands]
    ran.calls.clear()
    return ran.root


def test_rollback_restores_the_files_then_runs_each_undo_in_reverse(tmp_path, make_answers, plan_for, ran):
    root = _applied(make_answers, plan_for, ran)
    plan, _ = rollback_plan(root, None)
    apply(plan, root, kind="rollback", replace_keys=True)
    assert ran.argvs == ["firewall-cmd --permanent --remove-service=swan-wizard", "firewall-cmd --reload",
                                   "systemctl disable strongswan.service", "sysctl -w net.ipv4.ip_forward=0",
                                   *RELOADS]
    assert not any(existed for _, existed in ran.calls)  # every undo ran after the files were restored
    assert snapshot(tmp_path) == {}


def test_a_failed_undo_is_reported_and_the_rest_still_run(tmp_path, make_answers, plan_for, ran, monkeypatch,
                                                          capsys):
    from wizard import cli

    _applied(make_answers, plan_for, ran)
    ran.fails.add("systemctl disable strongswan.service")
    monkeypatch.setattr(cli, "Root", LiveRoot)
    assert cli.main(["rollback", "--root", str(tmp_path)]) == 1
    assert ran.argvs == ["firewall-cmd --permanent --remove-service=swan-wizard", "firewall-cmd --reload",
                                   "systemctl disable strongswan.service", "sysctl -w net.ipv4.ip_forward=0",
                                   *RELOADS]
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("swan-wizard: error:")]
    assert len(errors) == 1 and "undo `systemctl enable strongswan.service`" in errors[0], errors
    assert snapshot(tmp_path) == {}  # the files are back all the same


def test_a_rollback_is_undone_by_running_the_commands_it_took_back(tmp_path, make_answers, plan_for, ran):
    root = _applied(make_answers, plan_for, ran)
    after_apply = snapshot(tmp_path)
    plan, _ = rollback_plan(root, None)
    apply(plan, root, kind="rollback", replace_keys=True)
    ran.calls.clear()
    plan, _ = rollback_plan(root, None)  # the newest run is now the rollback
    apply(plan, root, kind="rollback", replace_keys=True)
    assert ran.argvs == ["sysctl -p /etc/sysctl.d/60-swan-wizard.conf",
                                   "systemctl enable strongswan.service",
                                   "firewall-cmd --permanent --add-service=swan-wizard", *RELOADS]
    assert all(existed for _, existed in ran.calls)  # the apply's files were back before its commands ran again
    assert snapshot(tmp_path) == after_apply


def test_the_dry_run_of_a_rollback_shows_its_undos(tmp_path, make_answers, plan_for, ran):
    root = _applied(make_answers, plan_for, ran)
    plan, _ = rollback_plan(root, None)
    text = describe(plan, file_changes(plan, root), live=True)
    assert "  $ systemctl disable strongswan.service    # undo `systemctl enable strongswan.service` of run" in text
    assert "rmdir  /etc/swanctl" in text


def test_rollback_to_the_start_removes_the_directories_apply_created(tmp_path, make_answers, plan_for):
    admin = tmp_path / "etc" / "swanctl" / "conf.d"
    admin.mkdir(parents=True)  # the admin's: it stays, with /etc/swanctl and /etc above it
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "rollback", "--before", backups(root)[0].id,
                           "--root", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    state = tmp_path / str(paths.WIZARD_STATE).lstrip("/")
    left = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_dir() and p != state
            and state not in p.parents}
    assert left == {"etc", "etc/swanctl", "etc/swanctl/conf.d", "var", "var/lib"}
    assert "removed directory /etc/swan-wizard/ca" in proc.stdout


def test_a_directory_holding_a_file_of_the_admin_is_kept(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    keep = root(paths.client_dir("bob")) / "notes.txt"
    keep.write_text("mine\n")
    plan, _ = rollback_plan_to_start(root)
    said: list[str] = []
    apply(plan, root, kind="rollback", replace_keys=True, report=said.append)
    assert keep.read_text() == "mine\n"
    assert f"kept {paths.client_dir('bob')}: it is not empty" in said
    assert not root(paths.CA_DIR).exists()


def test_a_backup_from_before_undo_records_rolls_back_its_files_with_a_note(tmp_path, make_answers, plan_for, ran):
    root = _applied(make_answers, plan_for, ran)
    manifest = root(paths.BACKUPS_DIR / backups(root)[-1].id / "manifest.json")
    old = json.loads(manifest.read_text())
    for key in ("commands", "dirs", "removed_dirs"):
        del old[key]
    manifest.write_text(json.dumps(old))
    plan, _ = rollback_plan(root, None)
    assert any("recorded without its commands" in n and "only its files are restored" in n for n in plan.notes)
    apply(plan, root, kind="rollback", replace_keys=True)
    assert ran.argvs == RELOADS
    assert snapshot(tmp_path) == {}


def test_a_tampered_undo_record_is_refused_in_one_line(tmp_path, make_answers, plan_for, ran):
    root = _applied(make_answers, plan_for, ran)
    manifest = root(paths.BACKUPS_DIR / backups(root)[-1].id / "manifest.json")
    data = json.loads(manifest.read_text())
    data["commands"][0]["undo"] = "rm -rf /"
    manifest.write_text(json.dumps(data))
    with pytest.raises(WizardError) as err:
        rollback_plan(root, None)
    assert err.value.exit_code == 2 and "commands[0]" in str(err.value.problems[0])


# One run: (commands, each with an undo of 0 to 2 steps). Words are unique per draw, so order is checkable.
_RUNS = st.lists(st.lists(st.integers(0, 2), min_size=1, max_size=3), min_size=1, max_size=4)


@settings(max_examples=FUZZ_EXAMPLES or 25, deadline=None, derandomize=not FUZZ_EXAMPLES)
@given(runs=_RUNS, data=st.data())
def test_rollback_runs_exactly_the_later_runs_undos_newest_first(runs: list[list[int]], data: st.DataObject) -> None:
    import tempfile

    from wizard.fs.changes import FileAction, Plan

    calls: list[str] = []
    real = service.run
    service.run = lambda command, timeout=60.0: calls.append(str(command)) or ""  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = LiveRoot(Path(tmp).resolve())
            undos: list[list[str]] = []  # per run, in the order a rollback must run them
            for i, steps in enumerate(runs):
                cmds = tuple(Command(("run", str(i), str(j)), "x",
                                     undo=tuple(("undo", str(i), str(j), str(k)) for k in range(n)) or None,
                                     undo_why="" if n else "nothing")
                             for j, n in enumerate(steps))
                apply(Plan((FileAction(PurePosixPath(f"/etc/t/{i}"), b"x"),), commands=cmds), root)
                undos.append([" ".join(step) for c in reversed(cmds) for step in (c.undo or ())])
            target = data.draw(st.integers(-1, len(runs) - 2), label="roll back to run (-1: the start)")
            ids = [b.id for b in backups(root)]
            plan, _ = rollback_plan(root, ids[target]) if target >= 0 else rollback_plan_to_start(root)
            calls.clear()
            apply(plan, root, kind="rollback")
            assert calls == [u for run in reversed(undos[target + 1:]) for u in run] + RELOADS
            # The directory the first run created goes with it; after a later target it stays.
            assert root(PurePosixPath("/etc/t")).exists() == (target >= 0)
    finally:
        service.run = real  # type: ignore[assignment]
