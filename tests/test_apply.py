"""Plan and apply into a root directory: files, modes, idempotency, backups, lock, conflicts."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from wizard.fs import paths
from wizard.fs.changes import Change, file_changes, pending
from wizard.fs.paths import Root
from wizard.model.answers import updated
from wizard.pki import encode, names
from wizard.plan.apply import apply, lock
from wizard.plan.preview import describe
from wizard.problems import Locked, MaterialConflict
from wizard.render.profiles import cache as profile_cache

REPO = Path(__file__).resolve().parents[1]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_apply_writes_every_file_with_its_mode(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    result = apply(plan_for(make_answers(), root), root)
    assert result.backup_id and len(result.changed) >= 15
    expect = {
        paths.CA_KEY: 0o600, paths.CA_CERT: 0o644,
        paths.SWANCTL_X509CA / paths.CA_CERT_NAME: 0o644, paths.SWANCTL_X509 / paths.HOST_CERT_NAME: 0o644,
        paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME: 0o600, paths.SWANCTL_CONF: 0o644,
        paths.STRONGSWAN_SETTINGS: 0o644, paths.SYSCTL_CONF: 0o644,
        paths.client_dir("alice@example.com") / "key.pem": 0o600,
        paths.client_dir("alice@example.com") / "alice@example.com.p12": 0o600,
        paths.client_dir("alice@example.com") / "p12-password": 0o600,
        paths.client_dir("bob") / "bob.p12": 0o600,
    }
    for logical, mode in expect.items():
        assert mode_of(root(logical)) == mode, logical
    for private_dir in (paths.CA_DIR, paths.SWANCTL_PRIVATE, paths.client_dir("bob")):
        assert mode_of(root(private_dir)) == 0o700
    # bob's password came from the environment: it is not written anywhere
    assert not root(paths.client_dir("bob") / "p12-password").exists()
    # the CA key is outside every directory charon reads
    assert not any(p.name == "ca.key" for p in root(paths.SWANCTL_DIR).rglob("*"))
    # no temporary files left behind
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_second_apply_changes_nothing_and_makes_no_backup(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "backups" not in p.parts}
    second = apply(plan_for(make_answers(), root), root)
    assert second.nothing_changed and second.backup_id is None
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "backups" not in p.parts}
    assert before == after
    assert len(list(root(paths.BACKUPS_DIR).iterdir())) == 1


def test_changed_answer_updates_one_file_and_backs_up_the_old_one(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    answers = make_answers()
    apply(plan_for(answers, root), root)
    old_conf = root(paths.SWANCTL_CONF).read_bytes()
    changed = updated(answers, pool=updated(answers.pool, dns=["9.9.9.9"]))
    plan = plan_for(changed, root)
    todo = pending(file_changes(plan, root))
    # Besides the file that changes, the profile cache records what the clients' files now depend on.
    assert [c.action.path for c in todo] == [paths.SWANCTL_CONF, profile_cache.CACHE]
    text = describe(plan, file_changes(plan, root), live=False)
    assert "-      dns = 8.8.8.8, 8.8.4.4" in text and "+      dns = 9.9.9.9" in text
    result = apply(plan, root)
    backup = root(paths.BACKUPS_DIR) / result.backup_id
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["files"][0] == {"path": str(paths.SWANCTL_CONF), "existed": True, "change": "update",
                                    "mode": 0o644}
    assert (backup / "files" / str(paths.SWANCTL_CONF).lstrip("/")).read_bytes() == old_conf
    assert mode_of(backup) == 0o700


def test_existing_keys_and_certificates_are_reused(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    ca_key = root(paths.CA_KEY).read_bytes()
    host_key = root(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME).read_bytes()
    answers = make_answers()
    renamed = updated(answers, server=updated(answers.server, alt_names=["203.0.113.10", "vpn2.example.com"]))
    plan = plan_for(renamed, root)
    assert any("re-issued with the same key" in n for n in plan.notes)
    apply(plan, root)
    assert root(paths.CA_KEY).read_bytes() == ca_key
    assert root(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME).read_bytes() == host_key
    cert = encode.load_cert_pem(root(paths.SWANCTL_X509 / paths.HOST_CERT_NAME).read_bytes())
    assert "dns:vpn2.example.com" in names.san_names(cert)


def test_key_type_mismatch_is_a_conflict_and_nothing_is_written(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    answers = make_answers()
    with pytest.raises(MaterialConflict) as info:
        plan_for(updated(answers, ca=updated(answers.ca, key="rsa-2048")), root)
    assert "ecdsa-p256" in str(info.value) and "rsa-2048" in str(info.value)
    assert snapshot == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def test_ca_dn_mismatch_is_a_conflict(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    answers = make_answers()
    with pytest.raises(MaterialConflict) as info:
        plan_for(updated(answers, ca=updated(answers.ca, dn="CN=Other CA")), root)
    assert "ca" in {p.field for p in info.value.problems}


def test_pkcs12_bundle_opens_with_the_stored_password(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    folder = root(paths.client_dir("alice@example.com"))
    password = (folder / "p12-password").read_text().strip().encode()
    bundle = pkcs12.load_pkcs12((folder / "alice@example.com.p12").read_bytes(), password)
    assert bundle.cert is not None and "email:alice@example.com" in names.san_names(bundle.cert.certificate)
    assert bundle.cert.friendly_name == b"alice@example.com"
    bob = pkcs12.load_pkcs12(root(paths.client_dir("bob") / "bob.p12").read_bytes(), b"bob-p12-password")
    assert bob.key is not None


def test_layout_switch_moves_the_host_key_and_removes_swanctl_files(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    host_key = root(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME).read_bytes()
    plan = plan_for(updated(make_answers(), layout="ipsec"), root)
    removed = {c.action.path for c in file_changes(plan, root) if c.change is Change.REMOVE}
    assert paths.SWANCTL_CONF in removed
    apply(plan, root)
    assert root(paths.IPSEC_PRIVATE / paths.HOST_KEY_NAME).read_bytes() == host_key
    assert not root(paths.SWANCTL_CONF).exists()
    assert mode_of(root(paths.IPSEC_SECRETS)) == 0o600
    assert "ECDSA vpn-host.key" in root(paths.IPSEC_SECRETS).read_text()


def test_lock_stops_a_second_run(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    plan = plan_for(make_answers(), root)
    with lock(root), pytest.raises(Locked) as info:
        apply(plan, root)
    assert str(os.getpid()) in str(info.value)
    assert not root(paths.CA_KEY).exists()


def test_lock_held_by_another_process(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    root(paths.WIZARD_STATE).mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX);"
        "os.write(fd, b'4242'); print('locked', flush=True); time.sleep(30)"), str(root(paths.LOCK_FILE))],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Locked):
            apply(plan_for(make_answers(), root), root)
    finally:
        holder.kill()
        holder.wait()
    assert fcntl  # the lock is flock(2): released by the kernel when its holder dies
    apply(plan_for(make_answers(), root), root)


def test_cli_dry_run_writes_nothing_and_shows_modes(tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\n"
                       "host: {key: ecdsa-p256}\n")
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", "--dry-run", str(answers), "--root",
                           str(root)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "create  /etc/swanctl/private/vpn-host.key  mode 0600" in proc.stdout
    assert "(secret content not shown" in proc.stdout
    assert "+net.ipv4.ip_forward = 1" in proc.stdout
    assert "systemctl" in proc.stdout and "not run" in proc.stdout
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    assert not root.exists()


def test_cli_apply_then_replay_is_silent(tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\n"
                       "host: {key: ecdsa-p256}\nclients: [{name: carol, key: ecdsa-p256}]\n")
    root = tmp_path / "root"
    cmd = [sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root", str(root)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert first.returncode == 0, first.stderr
    assert "No service was started" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert second.returncode == 0 and "Nothing to change" in second.stdout
    password = (root / "etc/swan-wizard/clients/carol/p12-password").read_text().strip()
    assert password not in first.stdout + first.stderr + second.stdout + second.stderr
