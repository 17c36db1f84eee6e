"""A failed check must not pass silently: FAIL blocks Next and Apply (or is accepted, recorded and shown),
users without the certificate their login needs are named where they are entered, and the plan masquerades
out of the WAN interface the networking step shows."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tui_support import click_id, fill, run_async, screen_text, wait_screen, wait_until
from textual.widgets import Button, Checkbox, Static

from screens.app import SwanWizardApp, create_app
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.plan import session

from test_tui_snapshots import snap  # isort: skip
from test_tui_support import fake_netfacts, fake_report, probe_with  # isort: skip

BASE = """
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients: [{name: alice@example.com, key: ecdsa-p256}]
"""
# The server's own eth0 network (fake_netfacts: 192.0.2.10/24) as the client pool.
POOL_CLASH = BASE + """
variants: {ikev2-cert: {}}
pool: {addresses: 192.0.2.0/24, dns: [192.0.2.1]}
"""
XAUTH_CERT = """
version: 1
server: {address: vpn.example.com}
clients: [{name: alice@example.com}]
variants: {ikev2-cert: {}, ikev1-xauth: {auth: cert, users: [{name: dave}, {name: alice@example.com}]}}
pool: {addresses: 10.10.10.0/24, dns: [10.10.10.1]}
"""
NAT = BASE + """
variants: {ikev2-cert: {}}
pool: {addresses: 10.10.10.0/24, dns: [10.10.10.1]}
networking: {nat: true, wan_interface: auto}
"""
OVERLAP = "FAIL pool: client network 192.0.2.0/24 overlaps 192.0.2.0/24 on eth0"


@pytest.fixture
def root() -> Iterator[Path]:
    # The same fixed-length name as the snapshot tests': the step bar shows the root.
    folder = Path(tempfile.mkdtemp(prefix="sw-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def app_at(root: Path, step: str, text: str) -> SwanWizardApp:
    answers = answers_file.parse(text)
    return create_app(root, net_probe=fake_netfacts, probe=probe_with(), start=step,
                      session=session.Session(answers=answers, step=step), report=fake_report(Root.of(root)))


def render(app: SwanWizardApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def test_a_failed_check_stops_next_until_accepted_and_then_heads_review_and_confirm(root: Path) -> None:
    async def go() -> None:
        app = app_at(root, "networking", POOL_CLASH)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "NetworkingScreen")
            await wait_until(pilot, lambda: app.screen.facts is not None, "the network facts")
            await pilot.pause()
            # above the fold at 80x24, not only in the findings further down
            assert "1 check(s) FAIL (pool)" in screen_text(app)
            snap(app, root, "networking-fail-80x24")
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert type(app.screen).__name__ == "NetworkingScreen", "Next went on past a FAIL"
            await click_id(pilot, "net-accept")
            # the tick covers the FAILs it was given for, not one that appears later
            await fill(pilot, "#net-wan", "wan9")
            assert not app.screen.query_one("#net-accept", Checkbox).value
            await fill(pilot, "#net-wan", "auto")
            await click_id(pilot, "net-accept")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ReviewScreen")
            assert app.session.answers.networking.accept_failed_checks == ["pool"]
            await wait_until(pilot, lambda: app.screen.plan is not None, "the plan")
            await pilot.pause()
            text = screen_text(app)
            assert "open problem(s)" in text and OVERLAP in text.replace("\n ", " ")
            assert text.index("open problem") < text.index("files to change")
            assert not app.screen.query_one("#next", Button).disabled
            snap(app, root, "review-problems-80x24")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ConfirmScreen")
            detail = render(app, ".dialog-detail")
            assert detail.startswith(OVERLAP + " (accepted by the admin, recorded in the answers)")
            assert "open problem" in render(app, ".dialog-title")
            snap(app, root, "confirm-problems-80x24")
            await pilot.press("escape")

    run_async(go())


def test_review_offers_no_apply_while_a_fail_is_not_accepted(root: Path) -> None:
    async def go() -> None:
        app = app_at(root, "review", POOL_CLASH)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "ReviewScreen")
            await wait_until(pilot, lambda: app.screen.plan is not None, "the plan")
            await pilot.pause()
            assert "FAIL and are not accepted" in render(app, "#summary")
            assert app.screen.query_one("#next", Button).disabled
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert type(app.screen).__name__ == "ReviewScreen"
        assert not root.joinpath("etc").exists()

    run_async(go())


def test_users_step_names_users_without_a_certificate_and_issues_it(root: Path) -> None:
    async def go() -> None:
        app = app_at(root, "users", XAUTH_CERT)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "UsersScreen")
            await pilot.pause()
            said = render(app, "#nocert-text")
            assert "dave (ikev1-xauth)" in said and "alice@example.com" not in said
            assert "cannot log in" in screen_text(app)
            snap(app, root, "users-nocert-80x24")
            await click_id(pilot, "issue-certs")
            assert not app.screen.query_one("#nocert").display
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "AddressesScreen")
        assert [c.name for c in app.session.answers.clients] == ["alice@example.com", "dave"]

    run_async(go())


def test_plan_masquerades_out_of_the_wan_interface_the_networking_step_shows(root: Path) -> None:
    async def go() -> None:
        app = app_at(root, "networking", NAT)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "NetworkingScreen")
            await wait_until(pilot, lambda: app.screen.facts is not None, "the network facts")
            await pilot.pause()
            findings = render(app, "#findings")
            assert "WAN side: eth0" in findings
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ReviewScreen")
            await wait_until(pilot, lambda: app.screen.plan is not None, "the plan")
            plan = app.screen.plan
        rules = next(f for f in plan.files if f.path == paths.NFT_RULES).content.decode()
        assert 'oifname "eth0" ip saddr { 10.10.10.0/24 } masquerade' in rules
        assert not [n for n in plan.notes if "WAN" in n]
        # the step names the interface the rules use, in the words of the field on screen
        assert "masqueraded out of eth0 (WAN interface)" in findings

    run_async(go())
