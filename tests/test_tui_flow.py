"""The whole wizard, driven with the keyboard through Pilot, for each VPN variant, into a temp root.

Then ``swan-wizard apply`` replays the answers the UI saved on that same root and must find nothing to
change: the UI and the headless replay produce the same files. Typed secrets must end up in 0600 files
only, never in the saved answers or the session.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_tui_support import choose, click_id, fake_netfacts, fill, probe_with, run_async, wait_screen, wait_until
from textual.pilot import Pilot

from screens.app import SwanWizardApp, create_app
from wizard.fs.paths import TYPED_SECRETS_DIR
from wizard.model import answers_file
from wizard.plan.session import SAVED_ANSWERS, SESSION_FILE, SESSION_SECRETS

REPO = Path(__file__).resolve().parents[1]
TYPED = {"bob": "bob-typed-pass-1", "psk": "group-psk-typed-2", "dave": "dave-typed-pass-3"}

Steps = Callable[[Pilot[Any]], Awaitable[None]]


async def start(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: type(app.screen).__name__ == "WelcomeScreen" and app.screen.report is not None,
                     "the welcome checks")
    await pilot.press("enter")  # "Start a new setup" is highlighted
    await wait_screen(pilot, "CaScreen")


async def fast_keys(pilot: Pilot[Any], host_key: str = "ecdsa-p256") -> None:
    """CA and host with quick keys; the host named vpn.example.com with an extra IP."""
    await choose(pilot, "#ca-key", "ecdsa-p256")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "HostScreen")
    await fill(pilot, "#server-address", "vpn.example.com")
    await fill(pilot, "#server-alt-names", "203.0.113.10")
    await choose(pilot, "#host-key", host_key)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "ClientsScreen")


async def add_client(pilot: Pilot[Any], name: str, key: str = "ecdsa-p256") -> None:
    await pilot.press("a")
    await wait_screen(pilot, "ClientDialog")
    await fill(pilot, "#client-name", name)
    await choose(pilot, "#client-key", key)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "ClientsScreen")


async def set_variants(pilot: Pilot[Any], wanted: set[str]) -> None:
    from textual.widgets import Checkbox

    for key in ("ikev2-cert", "ikev2-eap", "ikev1-xauth", "transport", "l2tp"):
        box = pilot.app.screen.query_one(f"#use-{key}", Checkbox)
        if box.value != (key in wanted):
            await click_id(pilot, f"use-{key}")
            assert box.value == (key in wanted)


async def add_user(pilot: Pilot[Any], name: str, typed: str | None = None) -> None:
    await pilot.press("a")
    await wait_screen(pilot, "UserDialog")
    await fill(pilot, "#user-name", name)
    if typed is not None:
        await click_id(pilot, "user-password-type")
        await fill(pilot, "#user-password-text", typed)
        await fill(pilot, "#user-password-again", typed)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "UsersScreen")


async def review_and_apply(pilot: Pilot[Any]) -> None:
    """From the networking step: wait for its checks, then for the plan, confirm, and wait for the apply."""
    app = pilot.app
    await wait_until(pilot, lambda: app.screen.facts is not None, "the network checks")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "ReviewScreen")
    await wait_until(pilot, lambda: app.screen.plan is not None, "the plan", timeout=120)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "ConfirmScreen")
    await click_id(pilot, "yes")
    await wait_screen(pilot, "ApplyScreen")
    await wait_until(pilot, lambda: app.screen.state != "running", "the apply", timeout=120)
    assert app.screen.state == "done", app.screen.query_one("#apply-result").render()


async def to_review_and_apply(pilot: Pilot[Any]) -> None:
    """From the addresses step: networking, then wait for the plan, confirm, apply, then the running view."""
    app = pilot.app
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "NetworkingScreen")
    await review_and_apply(pilot)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "RunningScreen")
    await wait_until(pilot, lambda: app.screen.polls > 0, "the first SA poll")


async def flow_ikev2_cert(pilot: Pilot[Any]) -> None:
    await fast_keys(pilot)
    await add_client(pilot, "alice@example.com")
    await add_client(pilot, "laptop")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "VariantsScreen")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "AddressesScreen")
    await click_id(pilot, "tunnel-split")
    await fill(pilot, "#split-nets", "192.168.1.0/24, 10.1.0.0/16")
    await choose(pilot, "#dns-choice", "custom")
    await fill(pilot, "#pool-dns", "192.168.1.1")


async def flow_ikev2_eap(pilot: Pilot[Any]) -> None:
    await fast_keys(pilot)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "VariantsScreen")
    await set_variants(pilot, {"ikev2-eap"})
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "UsersScreen")
    await add_user(pilot, "alice")
    await add_user(pilot, "bob", TYPED["bob"])
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "AddressesScreen")

async def eap_setup_to_confirm(pilot: Pilot[Any], app: SwanWizardApp) -> None:
    """From the welcome screen through an IKEv2-EAP setup and its review, to the confirm dialog."""
    await start(pilot)
    await flow_ikev2_eap(pilot)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "NetworkingScreen")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "ReviewScreen")
    await wait_until(pilot, lambda: app.screen.plan is not None, "the plan", timeout=120)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "ConfirmScreen")



async def flow_ikev1_xauth(pilot: Pilot[Any]) -> None:
    await fast_keys(pilot)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "VariantsScreen")
    await set_variants(pilot, {"ikev1-xauth"})
    await click_id(pilot, "xauth-auth-psk")
    await click_id(pilot, "xauth-psk-type")
    await fill(pilot, "#xauth-psk-text", TYPED["psk"])
    await fill(pilot, "#xauth-psk-again", TYPED["psk"])
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "UsersScreen")
    await add_user(pilot, "carol")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "AddressesScreen")
    await click_id(pilot, "proposals-seed")


async def flow_transport(pilot: Pilot[Any]) -> None:
    await fast_keys(pilot)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "VariantsScreen")
    await set_variants(pilot, {"transport"})
    for name, address, auth in (("office", "198.51.100.7", "psk"), ("lab", "198.51.100.8", "cert")):
        await click_id(pilot, "add-peer")
        await wait_screen(pilot, "PeerDialog")
        await fill(pilot, "#peer-name", name)
        await fill(pilot, "#peer-address", address)
        if auth == "psk":
            await click_id(pilot, "peer-auth-psk")
        await pilot.press("ctrl+n")
        await wait_screen(pilot, "VariantsScreen")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "AddressesScreen")


async def flow_l2tp(pilot: Pilot[Any]) -> None:
    await fast_keys(pilot)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "VariantsScreen")
    await set_variants(pilot, {"l2tp"})
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "UsersScreen")
    await add_user(pilot, "dave", TYPED["dave"])
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "AddressesScreen")


FLOWS: dict[str, Steps] = {
    "ikev2-cert": flow_ikev2_cert,
    "ikev2-eap": flow_ikev2_eap,
    "ikev1-xauth": flow_ikev1_xauth,
    "transport": flow_transport,
    "l2tp": flow_l2tp,
}


async def walk(root: Path, flow: Steps) -> SwanWizardApp:
    app = create_app(root, net_probe=fake_netfacts, probe=probe_with())
    async with app.run_test(size=(80, 24)) as pilot:
        await start(pilot)
        await flow(pilot)
        await to_review_and_apply(pilot)
        await pilot.press("q")
        await pilot.pause()
    return app


def replay(answers: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root", str(root)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.mark.parametrize("variant", list(FLOWS))
def test_each_variant_through_the_ui_then_replay_changes_nothing(variant: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    app = run_async(walk(root, FLOWS[variant]))
    assert app.applied and app.return_code == 0

    saved = root / str(SAVED_ANSWERS).lstrip("/")
    answers = answers_file.load(saved)
    assert answers.variants.enabled() == [variant]
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    # The session is gone once applied: nothing is left to resume.
    assert not (root / str(SESSION_FILE).lstrip("/")).exists()

    text = saved.read_text()
    for secret in TYPED.values():
        assert secret not in text
    typed_dir = root / str(TYPED_SECRETS_DIR).lstrip("/")
    typed_files = sorted(typed_dir.iterdir()) if typed_dir.is_dir() else []
    for typed in typed_files:
        assert stat.S_IMODE(typed.stat().st_mode) == 0o600
        # referenced as {file: LOGICAL PATH}: never through the --root prefix
        assert f"/etc/swan-wizard/secrets/typed/{typed.name}" in text
    assert str(root) not in text
    assert not (root / str(SESSION_SECRETS).lstrip("/")).exists()

    result = replay(saved, root)
    assert result.returncode == 0, result.stderr
    assert "Nothing to change" in result.stdout, result.stdout


def test_ikev2_cert_answers_carry_what_the_screens_said(tmp_path: Path) -> None:
    root = tmp_path / "root"
    run_async(walk(root, flow_ikev2_cert))
    answers = answers_file.load(root / str(SAVED_ANSWERS).lstrip("/"))
    assert answers.server.address == "vpn.example.com" and answers.server.alt_names == ["203.0.113.10"]
    assert [c.name for c in answers.clients] == ["alice@example.com", "laptop"]
    assert answers.variants.ikev2_cert is not None
    assert answers.variants.ikev2_cert.local_ts == ["192.168.1.0/24", "10.1.0.0/16"]
    assert answers.pool.dns == ["192.168.1.1"]
    assert (root / "etc/swanctl/conf.d/swan-wizard.conf").is_file()


def test_typed_passwords_reach_the_engine_but_not_the_answers(tmp_path: Path) -> None:
    root = tmp_path / "root"
    run_async(walk(root, flow_ikev2_eap))
    data = yaml.safe_load((root / str(SAVED_ANSWERS).lstrip("/")).read_text())
    users = {u["name"]: u["password"] for u in data["variants"]["ikev2-eap"]["users"]}
    assert users["alice"] == {"generate": True}
    assert users["bob"] == {"file": "/etc/swan-wizard/secrets/typed/user-bob"}
    bob_file = root / users["bob"]["file"].lstrip("/")
    assert bob_file.read_text().strip() == TYPED["bob"]
    assert stat.S_IMODE(bob_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(bob_file.parent.stat().st_mode) == 0o700
    # charon gets the NT hash (EAP-MSCHAPv2 needs no more); the password itself is only in files for bob's
    # hands (his profiles), and those are 0600 like every secret.
    assert TYPED["bob"] not in (root / "etc/swanctl/conf.d/swan-wizard.conf").read_text()
    for path in (root / "etc").rglob("*"):
        if path.is_file() and TYPED["bob"].encode() in path.read_bytes():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_nothing_is_written_before_the_review_is_confirmed(tmp_path: Path) -> None:
    root = tmp_path / "root"

    async def go() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=probe_with())
        async with app.run_test(size=(80, 24)) as pilot:
            await eap_setup_to_confirm(pilot, app)
            await pilot.press("escape")  # Cancel
            await wait_screen(pilot, "ReviewScreen")

    run_async(go())
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    # Only the wizard's own state: the session and the one file of its typed secrets, both 0600.
    assert written == ["var/lib/swan-wizard/session-secrets.json", "var/lib/swan-wizard/session.yaml"]
    for name in written:
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600
    assert TYPED["bob"] not in (root / written[1]).read_text()
    assert TYPED["bob"] in (root / written[0]).read_text()
