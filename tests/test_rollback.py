"""Rollback to earlier runs byte for byte, and recovery from an apply killed half-way."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

from wizard.fs import paths, safefs
from wizard.fs.paths import Root
from wizard.model.answers import updated
from wizard.pki import encode, keys, reuse
from wizard.plan.apply import apply
from wizard.plan.rollback import backups, interrupted, rollback_plan, rollback_plan_to_start

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


def _apply_and_die_after(root_dir: str, writes: int, answers_yaml: str) -> None:
    """In a child process: apply, but exit abruptly (like kill -9) after ``writes`` files were written."""
    from wizard.model import answers_file
    from wizard.model.secrets import SecretSource
    from wizard.plan.planner import build_plan

    count = 0
    real_write = safefs.Tree.write

    def dying_write(self, logical, content, mode, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal count
        if count == writes:
            os._exit(9)
        count += 1
        real_write(self, logical, content, mode, *args, **kwargs)

    safefs.Tree.write = dying_write  # type: ignore[method-assign]
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
