"""Snapshots of every screen at 80x24 (the smallest terminal it must work in) and at 160x48.

Each snapshot is the screen as plain text (tests/snapshots/<name>.txt), rendered from the same
compositor output as Textual's SVG screenshots. What varies between runs is pinned: the preflight
report is fake, keys are ECDSA (fixed-size PEM), the root has a fixed-length name that is replaced,
backup ids are masked, cursors do not blink. ``SWAN_WIZARD_UPDATE_SNAPSHOTS=1`` rewrites the files.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import (
    check_snapshot,
    fake_netfacts,
    fake_report,
    fill,
    probe_with,
    run_async,
    wait_screen,
    wait_until,
)
from textual.pilot import Pilot

from screens.app import SwanWizardApp, create_app
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.plan import preflight, session

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
ROOT_STAND_IN = "/tmp/sw-ROOT0000"
BACKUP_ID = {r"\d{8}T\d{12}Z(-\d+)?": "YYYYMMDDTHHMMSSffffffZ"}

ANSWERS = """
version: 1
server: {address: vpn.example.com, alt_names: [203.0.113.10]}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients:
  - {name: alice@example.com, key: ecdsa-p256}
  - {name: laptop, key: ecdsa-p256, p12_encryption: aes256}
variants:
  ikev2-cert: {}
  ikev2-eap: {users: [{name: alice}, {name: bob}]}
pool: {addresses: 10.10.10.0/24, dns: [10.10.10.1]}
"""

LOG = """\
Nov 29 19:29:10.001 00[DMN1] Starting IKE charon daemon (strongSwan 5.9.8, Linux 6.1.0, x86_64)
Nov 29 19:29:10.010 00[CFG2] loading ca certificates from '/etc/ipsec.d/cacerts'
Nov 29 19:29:10.020 01[CFG1] added vici connection: IPSec-IKEv2
Nov 29 19:29:11.100 05[NET2] received packet: from 198.18.0.2[500] to 198.18.0.1[500] (1000 bytes)
Nov 29 19:29:11.123 05[IKE2] <IPSec-IKEv2|1> 198.18.0.2 is initiating an IKE_SA
Nov 29 19:29:11.130 05[CFG2] <IPSec-IKEv2|1> selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384
Nov 29 19:29:11.300 07[IKE1] <IPSec-IKEv2|1> received end entity cert "CN=alice@example.com"
Nov 29 19:29:11.310 07[CFG1] <IPSec-IKEv2|1> selected peer config 'IPSec-IKEv2'
Nov 29 19:29:11.320 07[IKE0] <IPSec-IKEv2|1> IKE_SA IPSec-IKEv2[1] established between 198.18.0.1...198.18.0.2
Nov 29 19:29:11.330 07[IKE0] <IPSec-IKEv2|1> CHILD_SA IPSec-IKEv2{1} established with SPIs c1a2b3c4_i
Nov 29 19:29:40.000 09[NET2] <IPSec-IKEv2|1> sending packet: from 198.18.0.1[4500] to 198.18.0.2[4500]
"""


@pytest.fixture
def root() -> Iterator[Path]:
    # A fixed-length name: the step bar cuts long paths, so only a same-length stand-in compares equal.
    folder = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def app_for(root: Path, step: str, **kwargs: Any) -> SwanWizardApp:
    answers = answers_file.parse(ANSWERS)
    return create_app(root, net_probe=fake_netfacts, probe=probe_with(), start=step,
                      session=session.Session(answers=answers, step=step),
                      report=fake_report(Root.of(root)), **kwargs)


def snap(app: SwanWizardApp, root: Path, name: str) -> None:
    check_snapshot(app, name, {str(root): ROOT_STAND_IN}, BACKUP_ID)


Action = Callable[[Pilot[Any]], Awaitable[None]]


async def nothing(_pilot: Pilot[Any]) -> None:
    return None


def shoot(root: Path, step: str, screen: str, name: str, size: tuple[int, int], action: Action = nothing,
          **kwargs: Any) -> None:
    async def go() -> None:
        app = app_for(root, step, **kwargs)
        async with app.run_test(size=size) as pilot:
            await wait_screen(pilot, screen)
            # screens that gather facts in a worker (networking) are shot once the facts are in
            await wait_until(pilot, lambda: getattr(app.screen, "facts", True) is not None, "the screen's facts")
            await action(pilot)
            await pilot.pause()
            await pilot.pause()
            snap(app, root, name)

    run_async(go())


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize(("step", "screen"), [
    ("ca", "CaScreen"), ("host", "HostScreen"), ("clients", "ClientsScreen"), ("variants", "VariantsScreen"),
    ("users", "UsersScreen"), ("addresses", "AddressesScreen"), ("networking", "NetworkingScreen"),
])
def test_form_screens(step: str, screen: str, size: str, root: Path) -> None:
    shoot(root, step, screen, f"{step}-{size}", SIZES[size])


@pytest.mark.parametrize("size", list(SIZES))
def test_welcome(size: str, root: Path) -> None:
    async def go() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=probe_with())
        async with app.run_test(size=SIZES[size]) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "report", None) is not None, "the checks")
            await pilot.pause()
            snap(app, root, f"welcome-{size}")

    run_async(go())


def test_welcome_with_an_earlier_run(root: Path) -> None:
    r = Root.of(root)
    session.save_answers(answers_file.parse(ANSWERS), r(session.SAVED_ANSWERS))
    session.save(r, session.Session(answers=answers_file.parse(ANSWERS), step="variants"))
    r(paths.CA_CERT).parent.mkdir(parents=True, exist_ok=True)
    r(paths.CA_CERT).write_text("x")

    def probe(rr: Root) -> preflight.Report:
        found = preflight.existing(rr)
        info = session.SessionInfo(found.session.path, "variants", "2024-11-29T19:29:11+00:00")  # type: ignore[union-attr]
        return fake_report(rr, systemd=True, is_root=False,
                           existing=preflight.Existing(found.answers_file, info, found.material))

    async def go() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=probe)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "report", None) is not None, "the checks")
            await pilot.pause()
            snap(app, root, "welcome-existing-80x24")

    run_async(go())


def test_client_dialog_with_a_problem(root: Path) -> None:
    async def act(pilot: Pilot[Any]) -> None:
        await pilot.press("a")
        await wait_screen(pilot, "ClientDialog")
        await fill(pilot, "#client-name", "bad name")

    shoot(root, "clients", "ClientsScreen", "client-dialog-80x24", (80, 24), act)


def test_variants_with_every_option_open(root: Path) -> None:
    async def act(pilot: Pilot[Any]) -> None:
        from textual.widgets import Checkbox

        for key in ("ikev1-xauth", "transport", "l2tp"):
            pilot.app.screen.query_one(f"#use-{key}", Checkbox).value = True
        pilot.app.screen.query_one("#eap-backend-radius").value = True  # the RADIUS server's fields
        await pilot.pause()

    shoot(root, "variants", "VariantsScreen", "variants-all-160x48", (160, 48), act)


def test_help(root: Path) -> None:
    async def act(pilot: Pilot[Any]) -> None:
        await pilot.press("f1")
        await wait_screen(pilot, "HelpScreen")

    shoot(root, "host", "HostScreen", "help-host-80x24", (80, 24), act)


@pytest.mark.parametrize("size", list(SIZES))
def test_review_apply_and_running(size: str, root: Path) -> None:
    log = Root.of(root)(paths.CHARON_LOG)

    async def go() -> None:
        app = app_for(root, "review", poll_interval=3600)
        async with app.run_test(size=SIZES[size]) as pilot:
            await wait_screen(pilot, "ReviewScreen")
            await wait_until(pilot, lambda: app.screen.plan is not None, "the plan", timeout=120)
            await pilot.pause()
            snap(app, root, f"review-{size}")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ConfirmScreen")
            await pilot.press("tab", "enter")  # from Cancel to Apply
            await wait_screen(pilot, "ApplyScreen")
            await wait_until(pilot, lambda: app.screen.state == "done", "the apply", timeout=120)
            await pilot.pause()
            snap(app, root, f"apply-{size}")
            log.write_text(LOG)  # as if charon had started and logged
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "RunningScreen")
            pane = app.screen.query_one("#log")
            await wait_until(pilot, lambda: app.screen.polls > 0 and pane.buffer.received == 11, "log and SAs")
            await pilot.pause()
            snap(app, root, f"running-{size}")
            assert "--root: no charon runs" in str(app.screen.query_one("#sa-summary").render())
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "WhatNextScreen")
            await pilot.pause()
            snap(app, root, f"whatnext-{size}")
            text = str(app.screen.query_one("#whatnext-text").render())
            # The files really written, where they are, and how to fetch them.
            assert "alice@example.com.mobileconfig" in text and "scp -r" in text
            assert str(Root.of(root)(paths.client_dir("alice@example.com"))) in text
            body = app.screen.query_one("#body")
            await pilot.press("pagedown")  # the keyboard reaches the rest of a long hand-out
            await pilot.pause()
            assert body.scroll_y > 0
            await pilot.press("q")
            await wait_until(pilot, lambda: app.return_code is not None, "the app to leave")
        assert app.return_value == 0

    run_async(go())


def test_user_dialog_with_every_password_variant(root: Path) -> None:
    """EAP, XAUTH and L2TP on: every choice and field of the add-user dialog within 80 columns."""
    every = ANSWERS.replace("host: {key: ecdsa-p256}", "host: {key: rsa-2048}").replace(
        "ikev2-eap: {users: [{name: alice}, {name: bob}]}",
        "ikev2-eap: {users: [{name: alice}, {name: bob}]}\n  ikev1-xauth: {users: [{name: bob}]}\n"
        "  l2tp: {users: [{name: bob}]}")

    async def go() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=probe_with(), start="users",
                         session=session.Session(answers=answers_file.parse(every), step="users"),
                         report=fake_report(Root.of(root)))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "UsersScreen")
            await pilot.press("a")
            await wait_screen(pilot, "UserDialog")
            await pilot.pause()
            snap(app, root, "user-dialog-all-80x24")

    run_async(go())


def test_peer_dialog_with_a_pre_shared_key(root: Path) -> None:
    """The add-peer dialog with every field shown (PSK chosen): each choice within 80 columns."""
    async def act(pilot: Pilot[Any]) -> None:
        from test_tui_support import click_id, screen_text
        from textual.widgets import Checkbox

        pilot.app.screen.query_one("#use-transport", Checkbox).value = True
        await pilot.pause()
        await pilot.press("a")
        await wait_screen(pilot, "PeerDialog")
        await click_id(pilot, "peer-auth-psk")
        text = screen_text(pilot.app)
        # Every label of every choice is whole (the last one was cut at the dialog's edge).
        for label in ("certificate", "pre-shared key", "on traffic", "at once", "by the peer"):
            assert f" {label} " in text, text
        assert "is required: a short name such as office" in text, text  # not "'' may only hold ..."

    shoot(root, "variants", "VariantsScreen", "peer-dialog-psk-80x24", (80, 24), act)
