"""The real program in a real terminal: ``swan-wizard --root DIR`` in tmux at 80x24, driven with
send-keys and read with capture-pane, through the flow to the review screen, then quit and resume.

Runs with NO_COLOR set: every state the flow needs (the highlighted choice, checked boxes) must be
readable without colour. The tmux server has its own socket, so the test never meets anyone else's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROGRAM = REPO / ".venv" / "bin" / "swan-wizard"


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-J", "-t", "wizard").stdout  # -J: wrapped lines joined

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "wizard", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "wizard", "-l", text)

    def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        """Poll the pane until ``needle`` shows (the program redraws on its own schedule)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} did not appear within {timeout:.0f}s; the pane shows:\n{text}")
            time.sleep(0.1)


    def wait_exit(self, timeout: float = 60.0) -> None:
        """Wait for the program in the pane to end. tmux says "Pane is dead" once it has reaped it; on a busy
        machine tmux was seen to leave it a zombie for minutes, so an ended process counts too."""
        pid = self.run("list-panes", "-t", "wizard", "-F", "#{pane_pid}").stdout.strip()
        deadline = time.monotonic() + timeout
        while "Pane is dead" not in self.screen():
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                return  # gone
            if state == "Z":
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the program did not end within {timeout:.0f}s:\n{self.screen()}")
            time.sleep(0.1)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None or not PROGRAM.exists():
        reason = "tmux is not installed" if shutil.which("tmux") is None else f"{PROGRAM} is missing"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: refusing to skip)")
        pytest.skip(reason)
    server = Tmux(f"swan-wizard-test-{uuid.uuid4().hex[:8]}")
    try:
        yield server
    finally:
        server.run("kill-server")  # only this test's server, by its own socket


def start(tmux: Tmux, root: Path) -> None:
    command = f"env NO_COLOR=1 TERM=xterm-256color {PROGRAM} --root {root}"
    result = tmux.run("new-session", "-d", "-s", "wizard", "-x", "80", "-y", "24", command)
    assert result.returncode == 0, result.stderr
    # Keep the pane after the program exits, to read what it printed on the way out.
    tmux.run("set-option", "-t", "wizard", "remain-on-exit", "on")


def test_real_program_in_tmux_to_the_review_then_resume(tmux: Tmux, tmp_path: Path) -> None:
    root = tmp_path / "root"
    start(tmux, root)
    tmux.wait_for("How do you want to begin?")
    tmux.wait_for("Start a new setup")
    tmux.keys("Enter")
    tmux.wait_for("2/11 Certificate authority")
    # Keyboard only, typed ahead without waiting: Tab past the mode and the three DN fields to the key
    # type, Right three times to ECDSA (fast keys for the test: RSA-2048 host and client, no RSA-4096 CA).
    tmux.keys("Tab", "Tab", "Tab", "Tab", "Right", "Right", "Right")
    tmux.wait_for("Key type              ◀ ecdsa-p256 (fast) ▶")
    tmux.keys("C-n")
    screen = tmux.wait_for("3/11 Host certificate")
    assert "detected:" in screen or "Address clients dial" in screen
    tmux.keys("C-n")
    tmux.wait_for("4/11 Clients")
    tmux.keys("a")
    tmux.wait_for("Add a client")
    tmux.type("alice@example.com")
    tmux.keys("C-n")
    tmux.wait_for("alice@example.com  rsa-2048")
    tmux.keys("C-n")
    screen = tmux.wait_for("5/11 VPN variants")
    assert "[X] IKEv2 with certificates" in screen.replace("▐", "[").replace("▌", "]")
    tmux.keys("C-n")
    tmux.wait_for("6/11 Addresses and DNS")
    tmux.keys("C-n")
    # The networking checks describe the machine the test runs on: only the step itself is certain.
    tmux.wait_for("7/11 Networking and firewall")
    tmux.wait_for("Checks of THIS machine")
    tmux.keys("C-n")
    tmux.wait_for("8/11 Review the plan")
    # The keys are generated for the plan: give it time on a slow machine.
    screen = tmux.wait_for("files to change", timeout=180)
    assert "create 0600 /etc/swan-wizard/ca/ca.key" in screen
    assert "commands (not run: --root)" in screen
    # Nothing was written but the wizard's own session.
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == \
        ["var/lib/swan-wizard/session.yaml"]

    tmux.keys("C-q")
    screen = tmux.wait_for("run swan-wizard again to resume")
    assert "nothing was applied" in screen and "var/lib/swan-wizard/session.yaml" in screen
    session = yaml.safe_load((root / "var/lib/swan-wizard/session.yaml").read_text())
    assert session["step"] == "review" and session["answers"]["clients"][0]["name"] == "alice@example.com"
    assert session["answers"]["ca"]["key"] == "ecdsa-p256"

    # "The connection dropped": start again, and the wizard offers to resume at the review.
    tmux.run("kill-session", "-t", "wizard")
    start(tmux, root)
    tmux.wait_for("Resume where you stopped (step 'review')")
    tmux.keys("Enter")
    tmux.wait_for("Review the plan")
    tmux.wait_for("files to change", timeout=180)

    # On to the end, as the admin would: apply, the running step, What next, and the summary left on exit.
    tmux.keys("C-n")
    tmux.wait_for("Apply")
    tmux.keys("Tab", "Enter")  # the confirm dialog starts on Cancel
    tmux.wait_for("Done.", timeout=180)
    tmux.keys("C-n")
    tmux.wait_for("--root: no charon runs")
    tmux.keys("C-n")
    screen = tmux.wait_for("11/11 What next")
    assert "alice@example.com.mobileconfig" in screen and "iPhone, iPad, Mac:" in screen
    tmux.keys("q")
    tmux.wait_exit()
    printed = tmux.run("capture-pane", "-p", "-J", "-S", "-100", "-t", "wizard").stdout
    printed = printed[printed.index("Swan Wizard applied"):]
    assert "scp -r root@" in printed and "swan-wizard client add NAME" in printed
    assert len(printed.splitlines()) <= 22, printed  # fits the admin's 24-line terminal with the prompt
