"""What a killed run leaves behind: no process, no temporary file; and the modes of what runs create."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

from wizard.fs import paths
from wizard.fs.changes import Change, file_changes, pending
from wizard.fs.paths import Root
from wizard.plan.apply import apply

REPO = Path(__file__).resolve().parents[1]


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out.setdefault(int(fields[1]), []).append(int(entry))
    return out


def descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


MANY_RSA = """
version: 1
server: {address: vpn.example.com}
ca: {key: rsa-4096}
host: {key: rsa-4096}
clients:
""" + "".join(f"  - {{name: user{i}, key: rsa-3072}}\n" for i in range(160))


def test_a_killed_apply_leaves_no_process_behind(tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text(MANY_RSA)
    proc = subprocess.Popen([sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root",
                             str(tmp_path / "root")], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        # forkserver, resource tracker and at least one worker: kill it in the middle of key generation
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= descendants(proc.pid)
            if len(seen) >= 3 and any(len(descendants(p)) for p in seen):
                break
            time.sleep(0.05)
        assert proc.poll() is None and len(seen) >= 3, f"no key generation workers seen: {seen}"
        time.sleep(0.3)
        seen |= descendants(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(running(p) for p in seen):
        time.sleep(0.1)
    left = [p for p in seen if running(p)]
    for pid in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} of {len(seen)} helper processes outlived the killed run"


# ------------------------------------------------------------------------------------ temporary files

def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_the_next_run_removes_the_temporary_files_of_dead_runs(tmp_path: Path, make_answers, plan_for) -> None:
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    dead, alive = dead_pid(), 1
    leftovers = [root(paths.CA_DIR) / f".ca.key.swan-wizard-{dead}.tmp",
                 root(paths.SWANCTL_PRIVATE) / f".vpn-host.key.swan-wizard-{dead}.tmp",
                 root(paths.client_dir("bob")) / f".bob.p12.swan-wizard-{dead}.tmp",
                 root(paths.SWANCTL_CONF_D) / f".swan-wizard.conf.swan-wizard-{dead}.tmp",
                 root(paths.WIZARD_STATE) / f".apply-journal.json.swan-wizard-{dead}.tmp"]
    # a run killed while backing up: its backup has no manifest yet
    unfinished = root(paths.BACKUPS_DIR) / "20990101T000000000000Z" / "files" / "etc" / "swanctl"
    unfinished.mkdir(parents=True)
    leftovers.append(unfinished / f".swanctl.conf.swan-wizard-{dead}.tmp")
    for path in leftovers:
        path.write_bytes(b"")
    other = root(paths.CA_DIR) / f".ca.pem.swan-wizard-{alive}.tmp"  # a live process's: not ours to remove
    other.write_bytes(b"")
    key = root(paths.CA_KEY)
    os.chmod(key, 0o644)  # something to change, so this run makes a backup
    apply(plan_for(make_answers(), root), root)
    assert [p for p in leftovers if p.exists()] == []
    assert other.exists()
    other.unlink()
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_client_folders_are_searched_for_leftovers_while_a_journal_says_an_apply_was_writing(
        tmp_path: Path, make_answers, plan_for) -> None:
    """A run killed among its renames leaves a journal and no unfinished backup: the client folders are
    searched then; with neither (every finished run), they are not walked at all."""
    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    dead = dead_pid()
    # (in a folder of the admin's own: one in a client folder goes as a stale file of that client anyway)
    leftover = root(paths.WIZARD_ETC) / "local" / f".notes.swan-wizard-{dead}.tmp"
    leftover.parent.mkdir()
    leftover.write_bytes(b"")
    apply(plan_for(make_answers(), root), root)
    assert leftover.exists(), "no journal, no unfinished backup: no run was writing there"
    root(paths.JOURNAL_FILE).write_text('{"backup": "x", "state": "applying", "files": []}')
    apply(plan_for(make_answers(), root), root)
    assert not leftover.exists()


# ------------------------------------------------------------------------------------ modes

def test_directories_made_under_umask_000_get_explicit_modes(tmp_path: Path) -> None:
    from conftest import FAST_ANSWERS

    answers = tmp_path / "a.yaml"
    answers.write_text(FAST_ANSWERS)
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root", str(root)],
                          cwd=REPO, capture_output=True, text=True, preexec_fn=lambda: os.umask(0),
                          env={**os.environ, "BOB_P12": "bob-p12-password"})
    assert proc.returncode == 0, proc.stderr
    loose = {str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in [root, *root.rglob("*")] if p.is_dir() and p.stat().st_mode & 0o022}
    assert loose == {}
    assert stat.S_IMODE((root / "var").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "var/lib").stat().st_mode) == 0o755
    for private in (paths.WIZARD_STATE, paths.BACKUPS_DIR, paths.CA_DIR):
        assert stat.S_IMODE(Root.of(root)(private).stat().st_mode) == 0o700, private
    files = {str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in root.rglob("*") if p.is_file() and p.stat().st_mode & 0o022}
    assert files == {}


def test_a_mode_only_fix_keeps_the_key_private_in_its_backup_and_after_rollback(tmp_path: Path, make_answers,
                                                                                 plan_for) -> None:
    from wizard.plan.rollback import backups, rollback_plan

    root = Root.of(tmp_path)
    apply(plan_for(make_answers(), root), root)
    key = root(paths.CA_KEY)
    os.chmod(key, 0o644)
    plan = plan_for(make_answers(), root)
    assert [c.change for c in pending(file_changes(plan, root)) if c.action.path == paths.CA_KEY] == [Change.MODE]
    result = apply(plan, root)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    folder = root(paths.BACKUPS_DIR / str(result.backup_id))
    copy = folder / "files" / str(paths.CA_KEY).lstrip("/")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    entry = next(f for f in json.loads((folder / "manifest.json").read_text())["files"]
                 if f["path"] == str(paths.CA_KEY))
    assert entry["mode"] == 0o600
    # every copy in every backup is 0600
    assert {stat.S_IMODE(p.stat().st_mode) for p in root(paths.BACKUPS_DIR).rglob("*") if p.is_file()} == {0o600}
    undo, _ = rollback_plan(root, None)
    assert backups(root)
    apply(undo, root, kind="rollback")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_runs_killed_while_writing_leave_no_temporary_file_after_the_next_run(tmp_path: Path) -> None:
    """200 clients write some 2,200 files: past apply.STAGE_PARALLEL_FROM, a forked child stages half of them
    (killed with its parent); the next run removes what either left and finishes the work."""
    from wizard.plan.apply import STAGE_PARALLEL_FROM

    answers = tmp_path / "a.yaml"
    answers.write_text("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\n"
                       "host: {key: ecdsa-p256}\nclients:\n"
                       + "".join(f"  - {{name: user{i}, key: ecdsa-p256}}\n" for i in range(200)))
    assert STAGE_PARALLEL_FROM <= 200 * 11
    root = tmp_path / "root"
    journal = Root.of(root)(paths.JOURNAL_FILE)
    command = [sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root", str(root)]
    killed_mid_write = 0
    for attempt in range(4):
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not journal.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.02 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_mid_write += journal.exists()
        # each next run starts from a different point: some files are written, the rest still to do
        if attempt % 2:
            for path in root.rglob("*.pem"):
                if "clients" in path.parts and path.name == "cert.pem":
                    path.unlink()
    assert killed_mid_write
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [str(p) for p in root.rglob("*.swan-wizard-*.tmp")] == []


def test_the_wizards_saved_answers_and_exports_make_no_loose_directory_under_umask_000(tmp_path: Path,
                                                                                       make_answers) -> None:
    from wizard.plan import session
    from wizard.plan.clients import copy_out

    old = os.umask(0)
    try:
        root = Root.of(tmp_path / "root")
        saved = session.save_answers(make_answers(), root(session.SAVED_ANSWERS))
        client = root(paths.client_dir("bob"))
        client.mkdir(parents=True, mode=0o700)
        (client / "bob.p12").write_bytes(b"p12")
        copy_out(root, "bob", tmp_path / "out" / "deep")
    finally:
        os.umask(old)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    for folder in (root(PurePosixPath("/etc")), root(paths.WIZARD_ETC)):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "out" / "deep" / "bob.p12").stat().st_mode) == 0o600
