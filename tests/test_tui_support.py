"""Helpers for the terminal UI tests (imported by the other test_tui_* modules), and their own tests.

- :func:`fake_report` / :func:`probe_with`: a preflight report that does not depend on the machine, so
  screens and snapshots are the same everywhere.
- :func:`run_async`: run a Pilot coroutine from a plain pytest test (no pytest-asyncio needed).
- :func:`wait_until`: await a condition while the app runs (workers finish, a screen appears) instead of
  sleeping for a guessed time.
- :func:`screen_text` / :func:`check_snapshot`: the screen as plain text, compared with a committed file
  under tests/snapshots/ (``SWAN_WIZARD_UPDATE_SNAPSHOTS=1`` rewrites them; an SVG is written next to
  each for looking at).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from wizard.fs.paths import Root
from wizard.plan.preflight import Detected, Existing, Report

SNAPSHOTS = Path(__file__).with_name("snapshots")
T = TypeVar("T")


def fake_report(root: Root, **changes: Any) -> Report:
    values: dict[str, Any] = {
        "root": root.path, "live": root.is_live, "is_root": True, "strongswan_version": "5.9.8", "swanctl": True,
        "systemd": False, "package_manager": "apt", "existing": Existing(),
        "detected": Detected("eth0", ("192.0.2.10",), None),
    }
    values.update(changes)
    return Report(**values)


def fake_netfacts(_names: list[str] | None = None) -> Any:
    """Network facts that do not depend on the machine (the networking step's checks run on these)."""
    from wizard.system.netfacts import FirewallBackend, Interface, NetFacts

    return NetFacts(
        interfaces=(Interface("eth0", ("192.0.2.10/24",), True), Interface("lo", ("127.0.0.1/8",), True)),
        default_interface="eth0", default_gateway="192.0.2.1",
        sysctls={"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.accept_redirects": "1",
                 "net.ipv4.conf.all.send_redirects": "1"},
        xfrm=True, esp=True, libipsec=True, tun=True,
        firewalls=(FirewallBackend("nftables", True, False), FirewallBackend("iptables", True, False),
                   FirewallBackend("firewalld", False, False), FirewallBackend("ufw", False, False)),
        resolved={"vpn.example.com": ("192.0.2.10",)})


def probe_with(**changes: Any) -> Callable[[Root], Report]:
    def probe(root: Root) -> Report:
        return fake_report(root, **changes)

    return probe


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Let the app run until ``condition()`` holds; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; screen is "
                                 f"{type(pilot.app.screen).__name__}:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


async def wait_screen(pilot: Pilot[Any], name: str, timeout: float = 60.0) -> None:
    await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == name, f"screen {name}", timeout)


async def fill(pilot: Pilot[Any], selector: str, text: str) -> None:
    """Type ``text`` into an input the way a user does: focus it, clear it, press the keys."""
    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    await pilot.pause()
    widget.value = ""
    for char in text:
        await pilot.press(_key(char))
    await pilot.pause()


_KEYS = {" ": "space", "@": "at", ".": "full_stop", ",": "comma", "-": "minus", "/": "slash", ":": "colon",
         "=": "equals_sign", "_": "underscore", "+": "plus"}


def _key(char: str) -> str:
    return _KEYS.get(char, char)


async def choose(pilot: Pilot[Any], selector: str, value: Any) -> None:
    """Pick a value in a Choice with the keyboard: focus it, Right until it shows."""
    from screens.widgets.choice import Choice

    widget = pilot.app.screen.query_one(selector, Choice)
    widget.focus()
    await pilot.pause()
    for _ in range(len(widget.options)):
        if widget.value == value:
            break
        await pilot.press("right")
    assert widget.value == value, f"{selector}: wanted {value!r}, got {widget.value!r}"


async def click_id(pilot: Pilot[Any], widget_id: str) -> None:
    """Activate a widget by id from the keyboard: focus it and press Enter (space for checkboxes).

    A radio button is reached the way a user does: focus its set, arrow down to it, Enter.
    """
    from textual.widgets import Checkbox, RadioButton, RadioSet

    widget = pilot.app.screen.query_one(f"#{widget_id}")
    if isinstance(widget, RadioButton) and isinstance(widget.parent, RadioSet):
        radios = widget.parent
        radios.focus()
        await pilot.pause()
        buttons = list(radios.query(RadioButton))
        for _ in range(len(buttons)):
            if radios._selected == buttons.index(widget):
                break
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert widget.value, f"#{widget_id} was not chosen"
        return
    widget.focus()
    await pilot.pause()
    await pilot.press("space" if isinstance(widget, Checkbox) else "enter")
    await pilot.pause()


def screen_text(app: App[Any]) -> str:
    """The current screen as plain text, exactly as a terminal of the app's size shows it.

    Textual exports screenshots only as SVG; this renders the same compositor update (the one
    ``App.export_screenshot`` uses) into a recording console without colours.
    """
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None,
                      record=True, legacy_windows=False, safe_box=False)
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(update)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def normalize(text: str, replacements: dict[str, str] | None = None, patterns: dict[str, str] | None = None) -> str:
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    for pattern, new in (patterns or {}).items():
        text = re.sub(pattern, new, text)
    return text


def check_snapshot(app: App[Any], name: str, replacements: dict[str, str] | None = None,
                   patterns: dict[str, str] | None = None) -> None:
    """Compare the screen with tests/snapshots/<name>.txt.

    ``SWAN_WIZARD_UPDATE_SNAPSHOTS=1`` rewrites the file; ``SWAN_WIZARD_SNAPSHOT_SVG=1`` also writes an SVG
    (colours included) to tests/snapshots/svg/ for looking at. A missing snapshot is written and the test fails,
    so a new one is always looked at once.
    """
    text = normalize(screen_text(app), replacements, patterns)
    SNAPSHOTS.mkdir(exist_ok=True)
    expected_file = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("SWAN_WIZARD_SNAPSHOT_SVG") == "1":
        svg = normalize(app.export_screenshot(title=name), replacements, patterns)
        (SNAPSHOTS / "svg").mkdir(exist_ok=True)
        # Rich puts a random id into every SVG; a stable one keeps two exports comparable.
        (SNAPSHOTS / "svg" / f"{name}.svg").write_text(re.sub(r"terminal-\d+", "terminal", svg))
    update = os.environ.get("SWAN_WIZARD_UPDATE_SNAPSHOTS") == "1"
    if update or not expected_file.exists():
        expected_file.write_text(text)
        if not update:
            raise AssertionError(f"new snapshot {expected_file} written; check it and commit it")
        return
    expected = expected_file.read_text()
    assert text == expected, (f"screen differs from {expected_file} "
                              f"(SWAN_WIZARD_UPDATE_SNAPSHOTS=1 rewrites it):\n{text}")


async def settle(pilot: Pilot[Any]) -> None:
    """Let pending messages and one refresh go through."""
    await pilot.pause()
    await pilot.pause()


Step = Callable[[Pilot[Any]], Awaitable[None]]


# -- the helpers' own tests ---------------------------------------------------------------------------


def test_key_names_cover_what_the_flow_types() -> None:
    assert _key("@") == "at" and _key("a") == "a" and _key(".") == "full_stop"


def test_fake_report_is_independent_of_the_machine(tmp_path: Path) -> None:
    report = fake_report(Root.of(tmp_path))
    assert report.strongswan_ok and report.detected.address == "192.0.2.10" and not report.live
