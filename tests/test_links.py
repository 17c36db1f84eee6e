"""Symbolic links under the root are never followed: not by apply, plan, the lock or doctor --bundle.

Each test puts a link where a run as root would otherwise write, chmod or read outside the root.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_ANSWERS

from wizard.fs import paths
from wizard.fs.changes import Change, file_changes
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.plan.apply import apply
from wizard.problems import Exit

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "BOB_P12": "bob-p12-password"}
NOBODY = 65534


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wizard.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=ENV, timeout=300)


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    path = tmp_path / "a.yaml"
    path.write_text(FAST_ANSWERS)
    return path


def real(root: Path, logical: object) -> Path:
    return root / str(logical).lstrip("/")


def link(root: Path, logical: object, target: Path) -> Path:
    where = real(root, logical)
    where.parent.mkdir(parents=True, exist_ok=True)
    where.symlink_to(target)
    return where


def everything(directory: Path) -> dict[str, tuple[int, bytes | None]]:
    return {str(p): (stat.S_IMODE(p.lstat().st_mode), p.read_bytes() if p.is_file() else None)
            for p in [directory, *directory.rglob("*")]}


def test_a_lock_file_linked_outside_the_root_is_not_truncated(tmp_path: Path, answers: Path) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    root = tmp_path / "root"
    link(root, paths.LOCK_FILE, outside)
    proc = cli("apply", str(answers), "--root", str(root))
    assert proc.returncode == Exit.FAILED, proc.stderr
    assert "apply.lock" in proc.stderr and "symbolic link" in proc.stderr and "Traceback" not in proc.stderr
    assert outside.read_text() == "keep me\n"
    assert not real(root, paths.CA_KEY).exists()


@pytest.mark.parametrize("logical", [paths.SWANCTL_DIR, paths.CA_DIR, paths.SWANCTL_PRIVATE, paths.WIZARD_ETC])
def test_a_linked_directory_keeps_keys_inside_the_root(tmp_path: Path, answers: Path, logical: object) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o1777)  # a world-writable directory, like /tmp
    before = everything(elsewhere)
    root = tmp_path / "root"
    link(root, logical, elsewhere)
    proc = cli("apply", str(answers), "--root", str(root))
    assert proc.returncode == Exit.FAILED, proc.stderr
    assert f"{logical} under" in proc.stderr and "symbolic link" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert everything(elsewhere) == before  # nothing landed there, its mode is untouched


def test_a_link_found_after_planning_is_not_followed_by_apply(tmp_path: Path, make_answers, plan_for) -> None:
    """apply itself walks with O_NOFOLLOW: a link swapped in after the plan was made is refused too."""
    root = Root.of(tmp_path / "root")
    plan = plan_for(make_answers(), root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link(root.path, paths.SWANCTL_DIR, elsewhere)
    root.forget_checks()
    with pytest.raises(Exception, match="symbolic link"):
        apply(plan, root)
    assert list(elsewhere.iterdir()) == []


def test_plan_does_not_show_the_content_a_link_points_to(tmp_path: Path, answers: Path) -> None:
    root = tmp_path / "root"
    assert cli("apply", str(answers), "--root", str(root)).returncode == 0
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$not-for-your-eyes:19000::::::\n")
    target = real(root, paths.SWANCTL_CONF)
    target.unlink()
    target.symlink_to(secret)
    proc = cli("plan", str(answers), "--root", str(root))
    assert "not-for-your-eyes" not in proc.stdout + proc.stderr
    assert proc.returncode == Exit.FAILED and str(paths.SWANCTL_CONF) in proc.stderr and "symbolic link" in proc.stderr
    proc = cli("apply", str(answers), "--root", str(root))
    assert proc.returncode == Exit.FAILED
    backups = real(root, paths.BACKUPS_DIR)
    assert not any(b"not-for-your-eyes" in p.read_bytes() for p in backups.rglob("*") if p.is_file())
    assert secret.read_text().startswith("root:$6$")


def test_a_linked_client_key_is_refused_by_the_planner(tmp_path: Path, answers: Path) -> None:
    root = tmp_path / "root"
    assert cli("apply", str(answers), "--root", str(root)).returncode == 0
    key = real(root, paths.client_dir("bob") / "key.pem")
    moved = tmp_path / "other-key.pem"
    moved.write_bytes(key.read_bytes())
    key.unlink()
    key.symlink_to(moved)
    proc = cli("plan", str(answers), "--root", str(root))
    assert proc.returncode == Exit.FAILED and "key.pem" in proc.stderr and "symbolic link" in proc.stderr


def test_doctor_bundle_does_not_follow_a_link_at_file(tmp_path: Path, answers: Path) -> None:
    root = tmp_path / "root"
    assert cli("apply", str(answers), "--root", str(root)).returncode == 0
    victim = tmp_path / "victim.conf"
    victim.write_text("important\n")
    bundle = tmp_path / "bundle.tar.gz"
    bundle.symlink_to(victim)
    proc = cli("doctor", "--root", str(root), "--offline", "--bundle", str(bundle))
    assert victim.read_text() == "important\n"
    assert "symbolic link" in proc.stderr and "Traceback" not in proc.stderr
    assert bundle.is_symlink()


def test_a_ca_key_owned_by_another_user_is_reported_and_fixed(tmp_path: Path, answers: Path, plan_for) -> None:
    root = tmp_path / "root"
    assert cli("apply", str(answers), "--root", str(root)).returncode == 0
    key = real(root, paths.CA_KEY)
    os.chown(key, NOBODY, NOBODY)
    os.chown(real(root, paths.CA_DIR), NOBODY, NOBODY)
    proc = cli("doctor", "--root", str(root), "--offline")
    assert f"owned by uid {NOBODY}" in proc.stdout and str(paths.CA_KEY) in proc.stdout, proc.stdout
    plan = plan_for(answers_file.load(answers), Root.of(root))
    changes = {c.action.path: c for c in file_changes(plan, Root.of(root))}
    assert changes[paths.CA_KEY].change is Change.MODE
    shown = cli("plan", str(answers), "--root", str(root))
    assert f"owner uid {NOBODY}" in shown.stdout
    assert cli("apply", str(answers), "--root", str(root)).returncode == 0
    assert (key.stat().st_uid, key.stat().st_gid) == (0, 0)
    assert real(root, paths.CA_DIR).stat().st_uid == 0
    assert f"owned by uid {NOBODY}" not in cli("doctor", "--root", str(root), "--offline").stdout
