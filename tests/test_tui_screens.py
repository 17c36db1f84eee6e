"""Behaviour of the wizard's screens: validation as you type, F1, Esc, resume, CA import, start over."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_tui_flow import REPO, add_client, fast_keys, start
from test_tui_support import (
    choose,
    click_id,
    fake_netfacts,
    fake_report,
    fill,
    probe_with,
    run_async,
    screen_text,
    wait_screen,
    wait_until,
)
from textual.widgets import Checkbox, Input, OptionList, Static

from screens import steps
from screens.app import SwanWizardApp, create_app
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers, Server
from wizard.model.wording import on_screen
from wizard.pki import encode, issue, names
from wizard.pki.keys import generate_key, key_type_of
from wizard.pki.keytypes import KeyType
from wizard.plan import preflight, session
from wizard.problems import InvalidAnswers

FAST = """
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients: [{name: alice@example.com, key: ecdsa-p256}]
variants: {ikev2-cert: {}, ikev2-eap: {users: [{name: alice}]}}
pool: {addresses: 10.10.10.0/24, dns: [10.10.10.1]}
"""


def app_at(root: Path, step: str, answers_text: str = FAST, **kwargs: Any) -> SwanWizardApp:
    answers = answers_file.parse(answers_text)
    return create_app(root, net_probe=fake_netfacts, probe=probe_with(), start=step,
                      session=session.Session(answers=answers, step=step),
                      report=fake_report(Root.of(root)), **kwargs)


def field_message(app: SwanWizardApp, control_id: str) -> str:
    field = app.screen.query_one(f"#{control_id}", Input).parent.parent  # Field > row > control
    return str(field.query_one(".field-message", Static).render())


def loader_message(yaml_text: str, field: str) -> str:
    with pytest.raises(InvalidAnswers) as caught:
        answers_file.parse(yaml_text)
    return next(p.message for p in caught.value.problems if p.field == field)


# -- validation as you type --------------------------------------------------------------------------


def message_for(app: SwanWizardApp, field: str) -> str:
    from screens.widgets.field import Field

    (widget,) = [w for w in app.screen.query(Field) if w.field == field]
    return str(widget.query_one(".field-message", Static).render())


def test_fields_show_the_loaders_message_as_you_type(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "ca")
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, "#ca-dn-c", "CHE")
            await fill(pilot, "#ca-lifetime", "99999")
            yaml_text = ("version: 1\nserver: {address: a.example}\n"
                         "ca: {dn: 'C=CHE, O=strongSwan, CN=strongSwan Root CA', lifetime_days: 99999}\n")
            # a country problem sits under Country; the rest of the DN's below its last field
            assert message_for(app, "ca.dn#C") == loader_message(yaml_text, "ca.dn")
            assert message_for(app, "ca.dn") == ""
            assert field_message(app, "ca-lifetime") == "must be at most 36500"
            await pilot.press("ctrl+n")  # refused: the step stays, the first bad field gets the focus
            await pilot.pause()
            assert type(app.screen).__name__ == "CaScreen" and app.screen.focused is not None
            assert app.screen.focused.id == "ca-dn-c"
            for part in ("c", "o", "cn"):
                await fill(pilot, f"#ca-dn-{part}", "")
            assert message_for(app, "ca.dn") == "empty distinguished name" and message_for(app, "ca.dn#C") == ""
            await fill(pilot, "#ca-dn-c", "DE")
            await fill(pilot, "#ca-dn-o", "Example, Inc.")
            await fill(pilot, "#ca-dn-cn", "Example CA")
            await fill(pilot, "#ca-lifetime", "3650")
            assert message_for(app, "ca.dn") == "" and field_message(app, "ca-lifetime") == ""
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")
            assert app.session.answers.ca.dn == 'C=DE, O="Example, Inc.", CN=Example CA'

            await fill(pilot, "#server-address", "bad..name")
            assert field_message(app, "server-address") == loader_message(
                "version: 1\nserver: {address: 'bad..name'}\n", "server.address")
            await fill(pilot, "#server-address", "vpn.example.com")
            await fill(pilot, "#host-lifetime", "900")
            # a warning, not an error: Apple's 825-day limit
            assert "825" in field_message(app, "host-lifetime")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ClientsScreen")

    run_async(go())


def test_a_dn_beyond_c_o_cn_is_edited_whole(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "ca", FAST.replace("ca: {key: ecdsa-p256}",
                                                  "ca: {key: ecdsa-p256, dn: 'C=CH, O=Example, OU=VPN, CN=CA'}"))
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.screen.query_one("#ca-dn", Input).value == "C=CH, O=Example, OU=VPN, CN=CA"
            assert not app.screen.query("#ca-dn-c")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")

    run_async(go())


def test_a_duplicate_client_is_refused_in_the_dialog_with_the_loaders_words(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "clients")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("a")
            await wait_screen(pilot, "ClientDialog")
            await fill(pilot, "#client-name", "ALICE@example.com")
            expected = loader_message(FAST.replace("clients: [{name: alice@example.com, key: ecdsa-p256}]",
                                                   "clients: [{name: alice@example.com}, {name: ALICE@example.com}]"),
                                      "clients")
            assert field_message(app, "client-name") == on_screen(expected)  # no "clients[1]"
            assert field_message(app, "client-name").startswith(
                "there is already a client 'alice@example.com'; 'ALICE@example.com' is the same name")
            await pilot.press("ctrl+n")
            assert type(app.screen).__name__ == "ClientDialog"
            await pilot.press("escape")
            await wait_screen(pilot, "ClientsScreen")
            assert [c.name for c in app.screen.clients] == ["alice@example.com"]

    run_async(go())


def test_a_typed_password_must_be_typed_twice(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "users")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("a")
            await wait_screen(pilot, "UserDialog")
            await fill(pilot, "#user-name", "bob")
            await click_id(pilot, "user-password-type")
            await fill(pilot, "#user-password-text", "one-password")
            await fill(pilot, "#user-password-again", "another")
            assert field_message(app, "user-password-again") == "the two entries differ"
            await pilot.press("ctrl+n")
            assert type(app.screen).__name__ == "UserDialog"
            await fill(pilot, "#user-password-again", "one-password")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "UsersScreen")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "AddressesScreen")
            v = app.session.answers.variants
            assert [u.name for u in v.ikev2_eap.users] == ["alice", "bob"]  # type: ignore[union-attr]
            bob = v.ikev2_eap.users[1]  # type: ignore[union-attr]
            assert bob.password.file == "/etc/swan-wizard/secrets/typed/user-bob"
            assert app.session.typed == {"user-bob": "one-password"}

    run_async(go())


USERS_TWO_WAYS = FAST.replace("variants: {ikev2-cert: {}, ikev2-eap: {users: [{name: alice}]}}",
                              "variants: {ikev2-eap: {users: [{name: Dave}]}, ikev1-xauth: {auth: psk}}")


@pytest.mark.parametrize("variants", [("ikev2-eap",), ("ikev1-xauth",)])
def test_a_user_name_differing_only_in_case_is_refused_in_the_dialog(variants: tuple[str, ...],
                                                                      tmp_path: Path) -> None:
    """``dave`` beside ``Dave``: on the same variant (the list's rule) and on another one (one user, one
    spelling), refused under the name, in words with no list index; the YAML loader says the same."""
    async def go() -> None:
        app = app_at(tmp_path, "users", USERS_TWO_WAYS)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("a")
            await wait_screen(pilot, "UserDialog")
            await fill(pilot, "#user-name", "dave")
            for alias in ("ikev2-eap", "ikev1-xauth"):
                if app.screen.query_one(f"#user-{alias}", Checkbox).value != (alias in variants):
                    await click_id(pilot, f"user-{alias}")
            await pilot.pause()
            message = field_message(app, "user-name")
            assert "'Dave'" in message and "ignoring case" in message and "[" not in message, message
            await pilot.press("ctrl+n")
            assert type(app.screen).__name__ == "UserDialog"

    run_async(go())
    users = {"ikev2-eap": "[{name: Dave}]", "ikev1-xauth": "[]"}
    for alias in variants:
        users[alias] = users[alias].replace("]", ", {name: dave}]").replace("[, ", "[")
    text = USERS_TWO_WAYS.replace("ikev2-eap: {users: [{name: Dave}]}", f"ikev2-eap: {{users: {users['ikev2-eap']}}}"
                                  ).replace("ikev1-xauth: {auth: psk}",
                                            f"ikev1-xauth: {{auth: psk, users: {users['ikev1-xauth']}}}")
    with pytest.raises(InvalidAnswers, match="ignoring case"):
        answers_file.parse(text)


# -- keys: F1 everywhere, Esc back ---------------------------------------------------------------------

HELP_PHRASES = {
    "welcome": "First, install the strongswan package",
    "ca": "Theft",
    "host": "MUST be contained",
    "clients": "PKCS#12",
    "variants": "IPSec in tunnel mode",
    "users": "topsecretpassword",
    "addresses": "rightsourceip=%dhcp",
    "review": "reload the file",
    "running": "no matching peer config found",
}


@pytest.mark.parametrize("step", list(HELP_PHRASES))
def test_f1_shows_the_articles_explanation_on_every_screen(step: str, tmp_path: Path) -> None:
    from screens.help import help_text

    screen_class = steps.BY_KEY[step].load()
    text = help_text(screen_class.HELP)
    assert HELP_PHRASES[step] in text.replace("\n", " ")

    async def go() -> None:
        app = app_at(tmp_path, step, poll_interval=60)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, screen_class.__name__)
            await pilot.press("f1")
            await wait_screen(pilot, "HelpScreen")
            assert text.splitlines()[0].lstrip("# ") in screen_text(app)
            await pilot.press("escape")
            await wait_screen(pilot, screen_class.__name__)

    run_async(go())


def test_every_step_has_help_and_networking_comes_between_addresses_and_review() -> None:
    keys = [s.key for s in steps.STEPS]
    assert keys.index("addresses") < keys.index("networking") < keys.index("review")
    for step in steps.STEPS:
        assert (REPO / "screens/assets/help" / f"{step.load().HELP}.md").is_file()
    answers = answers_file.parse(FAST)
    assert steps.neighbour("addresses", answers, 1) == "networking"
    assert steps.neighbour("review", answers, -1) == "networking"


def test_networking_step_checks_as_you_type_and_returns_its_section(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "networking")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "NetworkingScreen")
            await wait_until(pilot, lambda: app.screen.facts is not None, "the network facts")
            text = str(app.screen.query_one("#findings", Static).render())
            assert "ip_forward is 0 now; the plan sets 1" in text and "UDP 500 is free" in text
            # a WAN interface this host does not have: the check says so at once
            await fill(pilot, "#net-wan", "wan9")
            text = str(app.screen.query_one("#findings", Static).render())
            assert "[FAIL] interfaces: WAN interface 'wan9' does not exist here" in text
            await fill(pilot, "#net-wan", "eth0")
            await choose(pilot, "#net-firewall", "iptables")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ReviewScreen")
        saved = app.session.answers.networking
        assert saved.firewall == "iptables" and saved.wan_interface == "eth0"

    run_async(go())


def test_escape_goes_back_and_keeps_what_was_typed(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "host")
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, "#server-address", "gw.example.org")
            await pilot.press("escape")
            await wait_screen(pilot, "CaScreen")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")
            assert app.screen.query_one("#server-address", Input).value == "gw.example.org"

    run_async(go())


def test_the_users_step_is_skipped_without_password_variants(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "variants", "version: 1\nserver: {address: vpn.example.com}\n")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "AddressesScreen")
            await pilot.press("escape")
            await wait_screen(pilot, "VariantsScreen")

    run_async(go())


# -- sessions: saved after every screen, resumed ---------------------------------------------------------


def test_a_dropped_session_is_offered_for_resume_where_it_stopped(tmp_path: Path) -> None:
    root = tmp_path / "root"

    async def first() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=probe_with())
        async with app.run_test(size=(80, 24)) as pilot:
            await start(pilot)
            await fast_keys(pilot)
            await add_client(pilot, "carol@example.com")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "VariantsScreen")
            # the connection drops here: nothing more happens in this run

    run_async(first())
    saved = Root.of(root)(session.SESSION_FILE)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert yaml.safe_load(saved.read_text())["step"] == "variants"

    async def second() -> None:
        def probe(r: Root) -> preflight.Report:
            return fake_report(r, existing=preflight.existing(r))

        app = create_app(root, net_probe=fake_netfacts, probe=probe)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "report", None) is not None, "the checks")
            options = app.screen.query_one("#choices", OptionList)
            first_option = options.get_option_at_index(0)
            assert first_option.id == "resume" and "variants" in str(first_option.prompt)
            await pilot.press("enter")
            await wait_screen(pilot, "VariantsScreen")
            assert app.session.answers.server.address == "vpn.example.com"
            assert [c.name for c in app.session.answers.clients] == ["carol@example.com"]

    run_async(second())


def test_modify_starts_from_the_saved_answers(tmp_path: Path) -> None:
    root = Root.of(tmp_path)
    session.save_answers(answers_file.parse(FAST), root(session.SAVED_ANSWERS))

    async def go() -> None:
        app = create_app(tmp_path, net_probe=fake_netfacts,
                         probe=lambda r: fake_report(r, existing=preflight.existing(r)))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "report", None) is not None, "the checks")
            assert app.screen.query_one("#choices", OptionList).get_option_at_index(0).id == "modify"
            await pilot.press("enter")
            await wait_screen(pilot, "CaScreen")
            assert app.session.mode == "modify" and app.session.answers == answers_file.parse(FAST)

    run_async(go())


# -- CA import, passphrase, start over ---------------------------------------------------------------------


def test_import_an_existing_ca_with_a_passphrase(tmp_path: Path) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    cert = issue.issue_ca(key, names.parse_dn("C=DE, O=Example, CN=Old CA"), 3650)
    (tmp_path / "old").mkdir()
    cert_file, key_file = tmp_path / "old/ca.pem", tmp_path / "old/ca.key"
    cert_file.write_bytes(encode.cert_to_pem(cert))
    key_file.write_bytes(encode.key_to_pem(key, b"old-ca-pass"))
    root = tmp_path / "root"

    async def go() -> None:
        app = app_at(root, "ca", "version: 1\nserver: {address: vpn.example.com}\nhost: {key: ecdsa-p256}\n")
        async with app.run_test(size=(80, 24)) as pilot:
            await click_id(pilot, "ca-import")
            await fill(pilot, "#ca-cert-file", str(cert_file))
            await fill(pilot, "#ca-key-file", str(key_file))
            assert "passphrase" in field_message(app, "ca-key-file")
            await click_id(pilot, "ca-passphrase-type")
            await fill(pilot, "#ca-passphrase-text", "old-ca-pass")
            await fill(pilot, "#ca-passphrase-again", "old-ca-pass")
            assert field_message(app, "ca-key-file") == ""
            assert "Old CA" in str(app.screen.query_one("#import-info", Static).render())
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")
            assert app.session.answers.ca.dn == "C=DE, O=Example, CN=Old CA"
            assert app.session.ca_import == session.CaImport(str(cert_file), str(key_file))
            assert not (root / "etc").exists()  # nothing written before the review

    run_async(go())
    # the review and apply (below, headless) write the imported CA where the engine keeps it
    s = session.load(Root.of(root))
    from wizard.plan.apply import apply
    from wizard.plan.staging import compute_plan

    assert s.typed == {"ca-passphrase": "old-ca-pass"}  # kept by the session, for the plan to write
    plan = compute_plan(s.answers, Root.of(root), ca_import=s.ca_import, typed=s.typed)
    apply(plan, Root.of(root))
    assert Root.of(root)(paths.CA_CERT).read_bytes() == cert_file.read_bytes()
    assert Root.of(root)(paths.CA_KEY).read_bytes() == key_file.read_bytes()


def test_a_stored_passphrase_that_cannot_be_read_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key(KeyType.ECDSA_P256)
    cert = issue.issue_ca(key, names.parse_dn("C=DE, O=Example, CN=Old CA"), 3650)
    cert_file, key_file = tmp_path / "ca.pem", tmp_path / "ca.key"
    cert_file.write_bytes(encode.cert_to_pem(cert))
    key_file.write_bytes(encode.key_to_pem(key, b"old-ca-pass"))
    monkeypatch.delenv("SWAN_WIZARD_TEST_CA_PASS", raising=False)

    async def go() -> None:
        app = app_at(tmp_path / "root", "ca", "version: 1\nserver: {address: vpn.example.com}\n"
                     "ca: {passphrase: {env: SWAN_WIZARD_TEST_CA_PASS}}\n")
        async with app.run_test(size=(100, 30)) as pilot:
            await click_id(pilot, "ca-import")
            await fill(pilot, "#ca-cert-file", str(cert_file))
            await fill(pilot, "#ca-key-file", str(key_file))
            assert "passphrase" in field_message(app, "ca-key-file")
            shown = str(app.screen.query_one("#problems", Static).render())
            assert "CA key passphrase: environment variable SWAN_WIZARD_TEST_CA_PASS is not set" in shown

    run_async(go())


def test_start_over_replaces_the_keys_and_backs_the_old_ones_up(tmp_path: Path) -> None:
    root = tmp_path / "root"
    old = tmp_path / "old.yaml"
    old.write_text("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\nhost: {key: ecdsa-p256}\n")
    done = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(old), "--root", str(root)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    old_ca_key = Root.of(root)(paths.CA_KEY).read_bytes()

    async def go() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=lambda r: fake_report(r, existing=preflight.existing(r)))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "report", None) is not None, "the checks")
            ids = [app.screen.query_one("#choices", OptionList).get_option_at_index(i).id for i in range(3)]
            assert ids[:2] == ["start-over", "new"]
            await pilot.press("enter")
            await wait_screen(pilot, "CaScreen")
            # Another key type for the CA: without start over the engine would refuse to replace the CA.
            await choose(pilot, "#ca-key", "ecdsa-p384")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "HostScreen")
            await choose(pilot, "#host-key", "ecdsa-p256")
            for screen in ("ClientsScreen", "VariantsScreen", "AddressesScreen", "NetworkingScreen", "ReviewScreen"):
                await pilot.press("ctrl+n")
                await wait_screen(pilot, screen)
            await wait_until(pilot, lambda: app.screen.plan is not None, "the plan", timeout=120)
            assert "update 0600 /etc/swan-wizard/ca/ca.key" in screen_text(app)
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ConfirmScreen")
            await click_id(pilot, "yes")
            await wait_screen(pilot, "ApplyScreen")
            await wait_until(pilot, lambda: app.screen.state != "running", "the apply", timeout=120)
            assert app.screen.state == "done"

    run_async(go())
    new_key = Root.of(root)(paths.CA_KEY).read_bytes()
    assert new_key != old_ca_key and key_type_of(encode.load_key_pem(new_key)) == KeyType.ECDSA_P384
    backups = list(Root.of(root)(paths.BACKUPS_DIR).glob("*/files/etc/swan-wizard/ca/ca.key"))
    assert [b.read_bytes() for b in backups] == [old_ca_key]
    replay = subprocess.run([sys.executable, "-m", "wizard.cli", "apply",
                             str(Root.of(root)(session.SAVED_ANSWERS)), "--root", str(root)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert replay.returncode == 0 and "Nothing to change" in replay.stdout, replay.stdout + replay.stderr


# -- welcome: install offer ------------------------------------------------------------------------------


def test_missing_strongswan_is_offered_as_the_exact_command_and_only_run_when_confirmed(tmp_path: Path) -> None:
    async def go() -> None:
        app = create_app(tmp_path, net_probe=fake_netfacts, probe=probe_with(strongswan_version=None, swanctl=False))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "report", None) is not None, "the checks")
            options = app.screen.query_one("#choices", OptionList)
            ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
            assert "install" in ids
            command = " ".join(preflight.install_command("apt") or ())
            assert command in str(options.get_option_at_index(ids.index("install")).prompt)
            options.highlighted = ids.index("install")
            await pilot.press("enter")
            await wait_screen(pilot, "ConfirmScreen")
            assert command in str(app.screen.query_one(".dialog-detail", Static).render())
            await pilot.press("enter")  # Cancel is the default: nothing runs
            await wait_screen(pilot, "WelcomeScreen")

    run_async(go())


def test_the_command_dialog_shows_output_and_status(tmp_path: Path) -> None:
    from textual.app import App

    from screens.dialogs import CommandScreen

    results: list[int | None] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(CommandScreen(("sh", "-c", "echo installing; exit 3"), "Installing"), results.append)

    async def go() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "returncode", None) is not None, "the command")
            assert "installing" in screen_text(app) and "exit status 3" in screen_text(app)
            await pilot.press("enter")
            await wait_until(pilot, lambda: bool(results), "the dialog to close")

    run_async(go())
    assert results == [3]


def test_quitting_midway_says_where_the_session_is(tmp_path: Path) -> None:
    async def go() -> SwanWizardApp:
        app = app_at(tmp_path, "host")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ClientsScreen")
            await pilot.press("ctrl+q")
        return app

    app = run_async(go())
    assert app.return_code == 0 and app.saved_session == Root.of(tmp_path)(session.SESSION_FILE)
    assert session.load(Root.of(tmp_path)).step == "clients"


def test_default_answers_use_the_detected_address(tmp_path: Path) -> None:
    from screens.welcome import default_answers

    assert default_answers(fake_report(Root.of(tmp_path))).server.address == "192.0.2.10"
    assert default_answers(None) == Answers(server=Server(address="vpn.example.com"))


def test_a_dropped_connection_lets_a_running_apply_finish(tmp_path: Path) -> None:
    async def go() -> SwanWizardApp:
        app = app_at(tmp_path, "review")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "plan", None) is not None, "the plan", timeout=120)
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ConfirmScreen")
            await click_id(pilot, "yes")
            await wait_screen(pilot, "ApplyScreen")
            app.hang_up()  # what SIGHUP does when the SSH connection drops
            await wait_until(pilot, lambda: app.return_code is not None, "the app to leave", timeout=120)
        return app

    app = run_async(go())
    assert app.return_code == 0
    assert Root.of(tmp_path)(paths.SWANCTL_CONF).is_file()
    assert not Root.of(tmp_path)(session.SESSION_FILE).exists()


def test_a_dropped_connection_on_a_form_leaves_the_session_to_resume(tmp_path: Path) -> None:
    async def go() -> SwanWizardApp:
        app = app_at(tmp_path, "host")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ClientsScreen")
            app.hang_up()
            await wait_until(pilot, lambda: app.return_code is not None, "the app to leave")
        return app

    app = run_async(go())
    assert app.return_code == 0 and session.load(Root.of(tmp_path)).step == "clients"


def footer_keys(app: SwanWizardApp) -> set[str]:
    """The keys the footer offers on the current screen (what Textual's Footer shows)."""
    return {key for key, active in app.screen.active_bindings.items() if active.binding.show and active.enabled}


def test_esc_back_is_offered_on_apply_only_when_it_works(tmp_path: Path) -> None:
    async def go() -> None:
        app = app_at(tmp_path, "review")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "plan", None) is not None, "the plan", timeout=120)
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "ConfirmScreen")
            await click_id(pilot, "yes")
            await wait_screen(pilot, "ApplyScreen")
            apply_screen = app.screen
            # While files are written Esc is neither offered nor acted on.
            assert apply_screen.check_action("back", ()) is (apply_screen.state == "failed")
            await wait_until(pilot, lambda: apply_screen.state != "running", "the apply", timeout=120)
            assert apply_screen.state == "done"
            await pilot.pause()
            assert "escape" not in footer_keys(app)
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is apply_screen
            # After a failed apply Esc goes back to the review, like the Back button, and the footer says so.
            apply_screen.state = "failed"
            apply_screen.refresh_bindings()
            await pilot.pause()
            assert "escape" in footer_keys(app)
            apply_screen.state = "done"
            apply_screen.refresh_bindings()
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "RunningScreen")
            await pilot.pause()
            assert "escape" not in footer_keys(app)

    run_async(go())


def test_eap_users_can_live_in_radius(tmp_path: Path) -> None:
    """The variants step offers the RADIUS backend: one server, its ports, a generated secret, accounting."""
    from textual.widgets import Checkbox, Input, RadioSet

    text = ("version: 1\nserver: {address: vpn.example.com}\n"
            "variants:\n  ikev2-eap:\n    users: [{name: alice, password: {generate: true}}]\n")

    async def go() -> None:
        app = app_at(tmp_path, "variants", text)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "VariantsScreen")
            screen = app.screen
            assert not screen.query_one("#radius-options").display
            screen.query_one("#eap-backend-radius").value = True
            await pilot.pause()
            assert screen.query_one("#radius-options").display
            assert isinstance(screen.query_one("#eap-backend", RadioSet), RadioSet)
            screen.query_one("#radius-address", Input).value = "192.0.2.10"
            screen.query_one("#radius-ports", Input).value = "1812 1813"
            screen.query_one("#radius-accounting", Checkbox).value = True
            await pilot.pause()
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "AddressesScreen")  # no users step: the users live in RADIUS
            answers = app.session.answers
            eap = answers.variants.ikev2_eap
            assert eap is not None and eap.backend == "radius" and eap.users == []
            assert answers.radius is not None and answers.radius.accounting
            server = answers.radius.servers[0]
            assert (server.address, server.port, server.acct_port) == ("192.0.2.10", 1812, 1813)

    run_async(go())


def test_a_radius_backend_without_a_server_is_named_on_the_step(tmp_path: Path) -> None:
    text = "version: 1\nserver: {address: vpn.example.com}\nvariants:\n  ikev2-eap: {}\n"

    async def go() -> None:
        app = app_at(tmp_path, "variants", text)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "VariantsScreen")
            app.screen.query_one("#eap-backend-radius").value = True
            await pilot.pause()
            await pilot.press("ctrl+n")
            await pilot.pause(0.3)
            assert type(app.screen).__name__ == "VariantsScreen", "Next went on without a RADIUS server"
            assert "radius.servers[0].address" in str(app.screen.query("Field.-error").first().field)

    run_async(go())


def test_keys_typed_ahead_after_tab_go_to_the_next_field(tmp_path: Path) -> None:
    """Over a slow link the keys of "name, Tab, address" arrive together: the address must land in the next
    field, not in the one Tab left (Tab used to move the focus only after the keys behind it were handed out)."""
    from textual import events

    async def go() -> None:
        app = app_at(tmp_path, "host")
        async with app.run_test(size=(80, 24)) as pilot:
            address = app.screen.query_one("#server-address", Input)
            address.focus()
            await pilot.pause()
            address.value = ""
            # Queued in one go, as a terminal read delivers them; pilot.press would wait after each key.
            for key, char in [("g", "g"), ("w", "w"), ("tab", None), ("x", "x"), ("y", "y")]:
                app.post_message(events.Key(key, char))
            await wait_until(pilot, lambda: app.screen.query_one("#server-alt-names", Input).value
                             or address.value not in ("", "g", "gw"), "the typed keys")
            await pilot.pause()
            assert (address.value, app.screen.query_one("#server-alt-names", Input).value) == ("gw", "xy")

    run_async(go())
