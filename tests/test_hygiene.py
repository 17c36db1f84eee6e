"""What a killed run leaves behind: no process, no temporary file; and the modes of what runs create."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
