"""What the admin must see without colour (NO_COLOR, a monochrome terminal): which button has the focus
(Textual shows it in reverse video; a theme or CSS change must not lose that)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from test_tui_support import fake_netfacts, fake_report, probe_with, run_async, wait_screen
from textual.widgets import Button

from screens.app import create_app
from wizard.fs.paths import Root


def test_a_focused_button_is_shown_in_reverse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")

    async def go() -> None:
        root = Path(tempfile.mkdtemp())
        app = create_app(root, net_probe=fake_netfacts, probe=probe_with(), start="ca",
                         report=fake_report(Root.of(root)))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "CaScreen")
            for button in app.screen.query(Button):
                assert not button.rich_style.reverse
                button.focus()
                await pilot.pause()
                assert button.rich_style.reverse, f"{button.label} has the focus and does not show it"

    run_async(go())
