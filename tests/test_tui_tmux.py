"""The real program in a real terminal: ``swan-wizard --root DIR`` in tmux at 80x24, driven with
send-keys and read with capture-pane: through the flow to the review screen, then quit and resume; and
each VPN variant walked alone, as a person would (keys only), to the What next step and the summary
printed on exit, then the files under the root and a headless replay of the saved answers.

Runs with NO_COLOR set: every state the flow needs (the highlighted choice, checked boxes) must be
readable without colour. The tmux server has its own socket, so the test never meets anyone else's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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


def run_program(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PROGRAM), "--root", str(root), *args], capture_output=True, text=True, timeout=120)


def checkboxes(screen: str) -> str:
    """Checkboxes as [X] and [ ]: the half blocks Textual draws them with, read as brackets."""
    return screen.replace("▐", "[").replace("▌", "]")


# One helper per step, keys only, each starting once its step is on screen and ending on the next.

def begin(tmux: Tmux, root: Path) -> None:
    start(tmux, root)
    tmux.wait_for("How do you want to begin?")
    tmux.wait_for("Start a new setup")
    tmux.keys("Enter")


def ca_step(tmux: Tmux) -> None:
    tmux.wait_for("Certificate authority")
    # Keyboard only, typed ahead without waiting: Tab past the mode and the three DN fields to the key
    # type, Right three times to ECDSA (fast keys for the test: RSA-2048 host and client, no RSA-4096 CA).
    tmux.keys("Tab", "Tab", "Tab", "Tab", "Right", "Right", "Right")
    tmux.wait_for("Key type              ◀ ecdsa-p256 (fast) ▶")
    tmux.keys("C-n")


def host_step(tmux: Tmux) -> None:
    screen = tmux.wait_for("Host certificate")
    assert "detected:" in screen or "Address clients dial" in screen
    # The default host key, rsa-2048, is the one IKEv1 with certificates needs (charon: RSA only there).
    assert "◀ rsa-2048" in screen
    tmux.keys("C-n")


def clients_step(tmux: Tmux, names: tuple[str, ...]) -> None:
    tmux.wait_for("Clients  --root")
    for name in names:
        tmux.keys("a")
        tmux.wait_for("Add a client")
        tmux.type(name)
        tmux.keys("C-n")
        tmux.wait_for(f"{name}  rsa-2048")
    tmux.keys("C-n")


def variants_step(tmux: Tmux, variant: str, peers: tuple[tuple[str, str], ...] = ()) -> None:
    """Only ``variant`` on: from the layout, Tab to IKEv2 with certificates (on by default) and Space it off,
    Tab down the list to ``variant`` and Space it on (options of unchecked variants take no Tab)."""
    from screens.variants import VARIANTS

    titles = {key: title for key, title, _ in VARIANTS}
    tmux.wait_for("VPN variants")
    index = list(titles).index(variant)
    if index:
        tmux.keys("Tab", "Space", *["Tab"] * index, "Space")
    screen = checkboxes(tmux.wait_for(f"▐X▌ {titles[variant]}"))
    assert [t for t in titles.values() if f"[X] {t}" in screen] == [titles[variant]], screen
    for name, address in peers:
        tmux.keys("a")  # the Add peer button's key; the focus is on the checkbox
        tmux.wait_for("Add a transport peer")
        tmux.type(name)
        tmux.keys("Tab")  # typed ahead: the address must land in the next field all the same
        tmux.type(address)
        tmux.keys("C-n")
        tmux.wait_for(f"{name}  {address}")
    tmux.keys("C-n")


def users_step(tmux: Tmux, names: tuple[str, ...]) -> None:
    tmux.wait_for("Users who log in with a name and password")
    for name in names:
        tmux.keys("a")
        tmux.wait_for("Add a user")
        tmux.type(name)
        tmux.keys("C-n")
        tmux.wait_for(f"  {name}  ")
    tmux.keys("C-n")


def addresses_and_networking(tmux: Tmux) -> None:
    tmux.wait_for("Addresses and DNS")
    tmux.keys("C-n")
    # The networking checks describe the machine the test runs on: only the step itself is certain.
    tmux.wait_for("Networking and firewall")
    tmux.wait_for("Checks of THIS machine")
    tmux.keys("C-n")


# The pane's header of one file: "create  /etc/...  mode 0600"; a long path goes to the next line.
PLAN_ENTRY = re.compile(r"^ (?:create|update|keep|chmod)\s+(/\S+)\s+mode\s+\d{4}", re.MULTILINE)


def review_files(tmux: Tmux) -> list[str]:
    """Every file of the plan, read as the admin reads them: Down through the list, each file's header
    appearing in the pane below it."""
    # The keys are generated for the plan: give it time on a slow machine.
    screen = tmux.wait_for("files to change", timeout=180)
    found = re.search(r"(\d+) files to change, (\d+) unchanged", screen)
    assert found is not None, screen
    seen: list[str] = []
    for _ in range(int(found[1]) + int(found[2])):
        tmux.keys("Down")
        deadline = time.monotonic() + 10
        while (shown := PLAN_ENTRY.findall(tmux.screen())) in ([], seen[-1:]):
            assert time.monotonic() < deadline, f"Down did not show the next file after {seen}:\n{tmux.screen()}"
            time.sleep(0.05)
        seen.append(shown[0])
    return seen


def apply_step(tmux: Tmux) -> None:
    """Apply from the review: the confirm dialog starts on Cancel when there are open problems (this
    machine's checks decide), on Apply when there are none."""
    tmux.keys("C-n")
    screen = tmux.wait_for("Apply this plan")
    tmux.keys(*(["Tab"] if "open problem(s)?" in screen else []), "Enter")
    tmux.wait_for("Done.", timeout=180)
    tmux.keys("C-n")
    tmux.wait_for("--root: no charon runs")
    tmux.keys("C-n")


def what_next_and_exit(tmux: Tmux) -> tuple[str, str]:
    """The last step's text, then quit: the summary printed on the way out, from its first line."""
    screen = tmux.wait_for("What next  --root")
    tmux.keys("q")
    tmux.wait_exit()
    printed = tmux.run("capture-pane", "-p", "-J", "-S", "-100", "-t", "wizard").stdout
    printed = printed[printed.index("Swan Wizard applied"):]
    assert len(printed.splitlines()) <= 22, printed  # fits the admin's 24-line terminal with the prompt
    return screen, printed


def test_real_program_in_tmux_to_the_review_then_resume(tmux: Tmux, tmp_path: Path) -> None:
    root = tmp_path / "root"
    begin(tmux, root)
    ca_step(tmux)
    tmux.wait_for("3/11 Host certificate")
    host_step(tmux)
    clients_step(tmux, ("alice@example.com",))
    tmux.wait_for("5/11 VPN variants")
    variants_step(tmux, "ikev2-cert")
    tmux.wait_for("6/11 Addresses and DNS")
    addresses_and_networking(tmux)
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
    apply_step(tmux)
    tmux.wait_for("11/11 What next")
    screen, printed = what_next_and_exit(tmux)
    assert "alice@example.com.mobileconfig" in screen and "iPhone, iPad, Mac:" in screen
    assert "scp -r root@" in printed and "swan-wizard client add NAME" in printed


@dataclass(frozen=True)
class Walk:
    """One variant walked from the welcome step to the printed summary, and what each stage must show."""

    variant: str
    connection: str  # its connection in the swanctl configuration
    clients: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    peers: tuple[tuple[str, str], ...] = ()
    planned: tuple[str, ...] = ()  # files the review lists for this variant
    what_next: tuple[str, ...] = ()  # on the What next step
    files: tuple[str, ...] = ()  # under the root after the apply


WALKS = (
    Walk("ikev2-cert", "IPSec-IKEv2", clients=("alice@example.com",),
         planned=("/etc/swan-wizard/clients/alice@example.com/alice@example.com.p12",),
         what_next=("alice@example.com.mobileconfig", "iPhone, iPad, Mac:", "p12-password"),
         files=("etc/swan-wizard/clients/alice@example.com/alice@example.com.p12",)),
    Walk("ikev2-eap", "IPSec-IKEv2-EAP", users=("bob",),
         planned=("/etc/swan-wizard/secrets/eap.user.bob", "/etc/swan-wizard/clients/bob/bob-eap.mobileconfig"),
         what_next=("clients/bob:", "bob-eap.mobileconfig", "bob-eap.sswan"),
         files=("etc/swan-wizard/secrets/eap.user.bob",)),
    # Certificate then XAUTH: dave logs in with a client certificate of his name and his password.
    Walk("ikev1-xauth", "CiscoIPSec", clients=("dave",), users=("dave",),
         planned=("/etc/swan-wizard/secrets/xauth.user.dave", "/etc/swan-wizard/clients/dave/dave.p12"),
         what_next=("clients/dave:", "dave.p12", "p12-password"),
         files=("etc/swan-wizard/secrets/xauth.user.dave",)),
    # A certificate peer: its key, certificate and CA are written for the peer's own strongSwan.
    Walk("transport", "transport-backup", peers=(("backup", "198.51.100.20"),),
         planned=("/etc/swan-wizard/peers/backup/key.pem", "/etc/swan-wizard/peers/backup/cert.pem"),
         what_next=("backup (198.51.100.20), in", ":/etc/swan-wizard/peers/backup ."),
         files=("etc/swan-wizard/peers/backup/ca.pem",)),
    Walk("l2tp", "L2TP-IPsec", users=("erin",),
         planned=("/etc/xl2tpd/xl2tpd.conf", "/etc/ppp/options.xl2tpd", "/etc/ppp/chap-secrets"),
         what_next=("clients/erin:",),
         files=("etc/xl2tpd/xl2tpd.conf", "etc/ppp/options.xl2tpd", "etc/ppp/chap-secrets")),
)


@pytest.mark.parametrize("walk", WALKS, ids=[w.variant for w in WALKS])
def test_walk_each_variant_to_the_summary(tmux: Tmux, tmp_path: Path, walk: Walk) -> None:
    """Each variant alone, keys only at 80x24, from the welcome step to the summary printed on exit; then
    the files under the root and a headless replay of the saved answers, which finds nothing to change."""
    root = tmp_path / "root"
    begin(tmux, root)
    ca_step(tmux)
    host_step(tmux)
    clients_step(tmux, walk.clients)
    variants_step(tmux, walk.variant, walk.peers)
    if walk.users:
        users_step(tmux, walk.users)
    addresses_and_networking(tmux)

    planned = review_files(tmux)
    assert "/etc/swanctl/conf.d/swan-wizard.conf" in planned
    assert [f for f in walk.planned if f not in planned] == [], planned

    apply_step(tmux)
    screen, printed = what_next_and_exit(tmux)
    assert [s for s in walk.what_next if s not in screen] == [], screen
    assert f"Swan Wizard applied the VPN server's files to {root}." in printed
    assert f"swan-wizard doctor --root {root}" in printed
    for name in (*walk.clients, *walk.users):
        assert f":/etc/swan-wizard/clients/{name} ." in printed, printed  # how to fetch each folder

    conf = (root / "etc/swanctl/conf.d/swan-wizard.conf").read_text()
    assert re.search(rf"^   {re.escape(walk.connection)} {{$", conf, re.MULTILINE), conf
    others = {w.connection for w in WALKS} - {walk.connection}
    assert [c for c in others if re.search(rf"^   {re.escape(c)} {{$", conf, re.MULTILINE)] == [], conf
    assert [f for f in walk.files if not (root / f).is_file()] == []

    saved = root / "etc/swan-wizard/answers.yaml"
    assert set(yaml.safe_load(saved.read_text())["variants"]) == {walk.variant}
    replay = run_program(root, "apply", str(saved))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "Nothing to change" in replay.stdout, replay.stdout
