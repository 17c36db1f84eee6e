"""Better defaults and guidance: the CA's name, DNS for clients, a server behind NAT, the admin's words."""

from __future__ import annotations

from pathlib import Path

from test_tui_screens import FAST, app_at
from test_tui_support import fill, run_async, wait_screen
from textual.widgets import Input

from wizard.model import answers_file
from wizard.model.answers import Answers, Server, default_ca_dn


def test_a_ca_without_a_dn_is_named_after_the_server() -> None:
    assert answers_file.parse("version: 1\nserver: {address: vpn.example.com}\n").ca.dn == \
        "O=example.com, CN=vpn.example.com VPN CA"
    assert Answers(server=Server(address="203.0.113.10")).ca.dn == "CN=203.0.113.10 VPN CA"
    assert default_ca_dn("gateway") == "CN=gateway VPN CA"
    long_name = "a" * 60 + ".example.com"
    assert default_ca_dn(long_name) == "O=example.com, CN=VPN CA"  # a CN holds at most 64 characters


def test_a_dn_the_answers_give_is_kept() -> None:
    text = "version: 1\nserver: {address: vpn.example.com}\nca: {dn: 'C=CH, O=strongSwan, CN=strongSwan Root CA'}\n"
    answers = answers_file.parse(text)
    assert answers.ca.dn == "C=CH, O=strongSwan, CN=strongSwan Root CA"
    # and a saved copy keeps it too, whatever the server address becomes
    again = answers_file.parse(answers_file.dumps(answers).replace("vpn.example.com", "gw.example.org"))
    assert again.ca.dn == "C=CH, O=strongSwan, CN=strongSwan Root CA"


def test_the_ca_step_shows_the_derived_dn_and_it_follows_the_address(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "ca", FAST.replace("vpn.example.com", "vpn.corp.example"))
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.screen.query_one("#ca-dn-o", Input).value == "corp.example"
            assert app.screen.query_one("#ca-dn-cn", Input).value == "vpn.corp.example VPN CA"
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")
            await fill(pilot, "#server-address", "gw.example.org")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ClientsScreen")
            assert app.session.answers.ca.dn == "O=example.org, CN=gw.example.org VPN CA"
            assert app.session.answers.ca.key.value == "ecdsa-p256"

    run_async(go())


def test_an_edited_dn_stays_when_the_address_changes(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "ca")
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, "#ca-dn-cn", "Example VPN")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")
            await fill(pilot, "#server-address", "gw.example.org")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ClientsScreen")
            assert app.session.answers.ca.dn == "O=example.com, CN=Example VPN"

    run_async(go())
