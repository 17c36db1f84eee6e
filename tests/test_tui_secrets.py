"""Typed secrets through the wizard: kept in memory and in one 0600 session file that holds only what the
answers reference, gone with a deleted user and after apply; saved answers that replay under any root."""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

from test_tui_flow import add_user, fast_keys, flow_ikev2_eap, replay, set_variants, start, to_review_and_apply, walk
from test_tui_support import fake_netfacts, probe_with, run_async, wait_screen
from textual.pilot import Pilot
from textual.widgets import DataTable

from screens.app import create_app
from wizard.plan.session import SAVED_ANSWERS, SESSION_SECRETS


def under(root: Path, logical: object) -> Path:
    return root / str(logical).lstrip("/")


def delimited(secret: bytes) -> re.Pattern[bytes]:
    """``secret`` as a stored value: not inside a longer run of base64 characters. A 3-letter password
    also turns up by chance inside PEM bodies and DER bytes (keys, certificates); a file that stores it
    (a secret file, JSON, a config line) always bounds it by a quote, space, ':' or line break."""
    return re.compile(rb"(?<![A-Za-z0-9+/=])" + re.escape(secret) + rb"(?![A-Za-z0-9+/=])")


async def remove_user(pilot: Pilot[Any], name: str) -> None:
    table = pilot.app.screen.query_one(DataTable)
    names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
    table.focus()
    table.move_cursor(row=names.index(name))
    await pilot.press("delete")
    await pilot.pause()


def test_a_deleted_users_typed_password_is_gone_from_memory_the_session_and_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    kept = under(root, SESSION_SECRETS)
    seen: dict[str, Any] = {}

    async def go() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=probe_with())
        async with app.run_test(size=(80, 24)) as pilot:
            await start(pilot)
            await fast_keys(pilot)
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "VariantsScreen")
            await set_variants(pilot, {"ikev2-eap"})
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "UsersScreen")
            await add_user(pilot, "alice")
            await add_user(pilot, "bob", "abc")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "AddressesScreen")
            # Kept for a resume after a dropped link: one 0600 file, only the referenced secrets.
            assert app.session is not None
            seen["typed"] = dict(app.session.typed)
            seen["file"] = json.loads(kept.read_text())
            seen["mode"] = stat.S_IMODE(kept.stat().st_mode)
            await pilot.press("escape")
            await wait_screen(pilot, "UsersScreen")
            await remove_user(pilot, "bob")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "AddressesScreen")
            seen["typed after"] = dict(app.session.typed)
            seen["file after"] = kept.exists()
            await to_review_and_apply(pilot)
            seen["typed applied"] = dict(app.session.typed)

    run_async(go())
    assert seen["typed"] == {"user-bob": "abc"} and seen["file"] == {"user-bob": "abc"} and seen["mode"] == 0o600
    assert seen["typed after"] == {} and seen["file after"] is False
    assert seen["typed applied"] == {} and not kept.exists()
    pattern = delimited(b"abc")
    holding = [str(p.relative_to(root)) for p in root.rglob("*")
               if p.is_file() and not p.is_symlink() and pattern.search(p.read_bytes())]
    assert holding == []


def test_typed_secrets_file_is_removed_after_apply_and_written_where_replay_reads(tmp_path: Path) -> None:
    """Saved under one --root, the answers replay under another root (the tree copied, the first one gone):
    they name the typed secret by its logical path, never through the --root prefix."""
    first, other = tmp_path / "first", tmp_path / "other"
    app = run_async(walk(first, flow_ikev2_eap))
    assert app.applied
    saved = under(first, SAVED_ANSWERS)
    text = saved.read_text()
    assert str(first) not in text and "/etc/swan-wizard/secrets/typed/user-bob" in text
    assert not under(first, SESSION_SECRETS).exists()
    shutil.copytree(first, other, symlinks=True)
    shutil.rmtree(first)
    result = replay(under(other, SAVED_ANSWERS), other)
    assert result.returncode == 0, result.stderr
    assert "Nothing to change" in result.stdout, result.stdout


def test_review_help_says_what_the_session_keeps_on_disk() -> None:
    from screens import ASSETS
    from wizard.fs.paths import TYPED_SECRETS_DIR
    from wizard.plan.session import SESSION_FILE

    text = (ASSETS / "help" / "review.md").read_text()
    assert "Nothing has been written" not in text
    for path in (SESSION_FILE, SESSION_SECRETS):
        assert f"`{Path(str(path)).name}` (0600)" in text
    assert str(TYPED_SECRETS_DIR) in text and str(SESSION_FILE.parent) in text


def test_a_weak_typed_password_is_warned_about_in_the_dialog_and_may_be_kept(tmp_path: Path) -> None:
    from test_tui_screens import app_at, field_message
    from test_tui_support import click_id, fill

    async def go() -> None:
        app = app_at(tmp_path, "users")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("a")
            await wait_screen(pilot, "UserDialog")
            await fill(pilot, "#user-name", "bob")
            await click_id(pilot, "user-password-type")
            await fill(pilot, "#user-password-text", "s3cret")
            await fill(pilot, "#user-password-again", "s3cret")
            message = field_message(app, "user-password-text")
            assert message.startswith("note: weak password (strength 0 of 4): "), message
            assert "commonly used password" in message
            await fill(pilot, "#user-password-text", "tundra-viaduct-17-marzipan")
            assert field_message(app, "user-password-text") == ""
            await fill(pilot, "#user-password-text", "s3cret")
            await pilot.press("ctrl+n")  # a warning, not a refusal
            await wait_screen(pilot, "UsersScreen")
            assert [e.name for e in app.screen.entries] == ["alice", "bob"]

    run_async(go())


THREE = """version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: rsa-2048}
variants: {ikev2-eap: {users: []}, ikev1-xauth: {auth: psk}, l2tp: {auth: cert}}
pool: {addresses: 10.10.10.0/24, dns: [10.10.10.1]}
"""


def test_the_add_user_dialog_gives_one_password_for_all_variants_unless_asked_otherwise(tmp_path: Path) -> None:
    from test_tui_screens import app_at
    from test_tui_support import click_id, fill
    from textual.widgets import Checkbox

    from screens.widgets.secret import SecretField

    shown: dict[str, Any] = {}

    async def go() -> None:
        app = app_at(tmp_path, "users", THREE)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("a")
            await wait_screen(pilot, "UserDialog")
            screen = app.screen
            shown["default"] = screen.query_one("#user-same", Checkbox).value
            shown["fields"] = [f.id for f in screen.query(SecretField) if f.display]
            await fill(pilot, "#user-name", "bob")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "UsersScreen")
            await pilot.press("a")
            await wait_screen(pilot, "UserDialog")
            await fill(pilot, "#user-name", "carol")
            await click_id(pilot, "user-same")
            shown["own fields"] = [f.id for f in app.screen.query(SecretField) if f.display]
            await click_id(pilot, "user-password-ikev2-eap-type")
            await fill(pilot, "#user-password-ikev2-eap-text", "tundra-viaduct-17-marzipan")
            await fill(pilot, "#user-password-ikev2-eap-again", "tundra-viaduct-17-marzipan")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "UsersScreen")
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "AddressesScreen")
            assert app.session is not None
            shown["answers"] = app.session.answers
            shown["typed"] = dict(app.session.typed)

    run_async(go())
    assert shown["default"] is True and shown["fields"] == ["user-password"]
    assert shown["own fields"] == ["user-password-ikev2-eap", "user-password-ikev1-xauth", "user-password-l2tp"]
    v = shown["answers"].variants
    logins = {alias: {u.name: u for u in section.users}
              for alias, section in (("eap", v.ikev2_eap), ("xauth", v.ikev1_xauth), ("l2tp", v.l2tp))}
    assert all(users["bob"].password.generate and not users["bob"].own_password for users in logins.values())
    assert logins["eap"]["carol"].password.file == "/etc/swan-wizard/secrets/typed/user-ikev2-eap-carol"
    assert all(logins[a]["carol"].password.generate and logins[a]["carol"].own_password for a in ("xauth", "l2tp"))
    assert shown["typed"] == {"user-ikev2-eap-carol": "tundra-viaduct-17-marzipan"}


def test_removing_a_user_drops_the_password_typed_for_them_in_the_same_step(tmp_path: Path) -> None:
    from test_tui_screens import app_at

    seen: dict[str, Any] = {}

    async def go() -> None:
        app = app_at(tmp_path, "users")
        async with app.run_test(size=(80, 24)) as pilot:
            await add_user(pilot, "bob", "tundra-viaduct-17-marzipan")
            await add_user(pilot, "carol", "marzipan-17-viaduct-tundra")
            seen["before"] = set(app.screen.pending_typed)
            await remove_user(pilot, "bob")
            seen["after"] = dict(app.screen.pending_typed)
            await pilot.press("ctrl+n")
            await wait_screen(pilot, "AddressesScreen")
            assert app.session is not None
            seen["session"] = dict(app.session.typed)
            seen["file"] = json.loads(under(tmp_path, SESSION_SECRETS).read_text())

    run_async(go())
    assert seen["before"] == {"user-bob", "user-carol"}
    assert seen["after"] == {"user-carol": "marzipan-17-viaduct-tundra"}
    assert seen["session"] == seen["file"] == seen["after"]
