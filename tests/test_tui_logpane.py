"""The live log pane: filters, search, pause and follow, and keeping up with a fast writer."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from test_tui_support import run_async, screen_text, wait_screen, wait_until
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input, SelectionList

from screens.widgets.logpane import LogPane, LogView

GROUPS = ("IKE", "CFG", "NET", "KNL")


def line(n: int) -> str:
    group = GROUPS[n % len(GROUPS)]
    level = n % 3
    return f"Nov 29 19:29:11.{n % 1000:03d} {n % 16:02d}[{group}{level}] <IPSec-IKEv2|{n % 7}> message {n}\n"


class PaneApp(App[None]):
    # "k" stamps the time its binding ran: a keypress's latency without Pilot's own waiting in the way.
    BINDINGS: ClassVar[list[Any]] = [Binding("k", "ping", "Ping", show=False)]

    def __init__(self, path: Path, capacity: int = 50_000) -> None:
        super().__init__()
        self.path = path
        self.capacity = capacity
        self.pinged: float | None = None

    def action_ping(self) -> None:
        self.pinged = time.perf_counter()

    def compose(self) -> ComposeResult:
        yield LogPane(self.path, capacity=self.capacity, id="log")

    def on_mount(self) -> None:
        self.query_one(LogView).focus()


def pane(app: App[Any]) -> LogPane:
    return app.query_one(LogPane)


async def received(pilot: Pilot[Any], count: int) -> None:
    await wait_until(pilot, lambda: pane(pilot.app).buffer.received >= count, f"{count} lines read")


def test_filters_search_pause_and_follow(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_text("".join(line(n) for n in range(200)))

    async def go() -> None:
        app = PaneApp(log)
        async with app.run_test(size=(100, 20)) as pilot:
            p = pane(app)
            await received(pilot, 200)
            assert len(p.buffer.view) == 200 and p.view.follow
            assert "message 199" in screen_text(app)

            await pilot.press("minus", "minus")  # highest level 4 -> 2
            await pilot.press("minus")  # -> 1
            assert p.buffer.filter.max_level == 1
            assert all(x.level <= 1 for x in p.buffer.view) and len(p.buffer.view) < 200
            await pilot.press("plus", "plus", "plus")
            assert p.buffer.filter.max_level == 4 and len(p.buffer.view) == 200

            await pilot.press("slash")
            assert isinstance(app.focused, Input)
            await pilot.press(*"message 13", "enter")
            assert [x.message for x in p.buffer.view] == ["message 13"] + [f"message {n}" for n in range(130, 140)]
            assert isinstance(app.focused, LogView)
            search = app.query_one("#log-search", Input)
            search.value = ""
            await pilot.pause()
            assert len(p.buffer.view) == 200

            await pilot.press("p")  # pause: lines are collected, the view holds still
            assert p.paused
            with log.open("a") as f:
                f.write("".join(line(n) for n in range(200, 300)))
            await received(pilot, 300)
            assert len(p.buffer.view) == 200 and "PAUSED" in screen_text(app)
            await pilot.press("p")
            assert len(p.buffer.view) == 300 and "message 299" in screen_text(app)

            await pilot.press("home")  # scrolling back stops following...
            assert not p.view.follow and "message 0" in screen_text(app)
            with log.open("a") as f:
                f.write("".join(line(n) for n in range(300, 320)))
            await received(pilot, 320)
            assert "message 0" in screen_text(app) and "message 319" not in screen_text(app)
            await pilot.press("end")  # ...End follows again (once the scroll it asks for is done: on a slow
            # machine that takes more than the key press)
            await wait_until(pilot, lambda: p.view.follow and "message 319" in screen_text(app), "following again")

    run_async(go())


def test_choose_subsystems(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_text("".join(line(n) for n in range(40)))

    async def go() -> None:
        app = PaneApp(log)
        async with app.run_test(size=(100, 30)) as pilot:
            p = pane(app)
            await received(pilot, 40)
            await pilot.press("s")
            await wait_screen(pilot, "SubsystemsScreen")
            groups = app.screen.query_one(SelectionList)
            groups.deselect_all()
            groups.select("IKE")
            await pilot.press("ctrl+n")
            await wait_until(pilot, lambda: p.buffer.filter.groups == frozenset({"IKE"}), "the IKE filter")
            assert {x.group for x in p.buffer.view} == {"IKE"} and len(p.buffer.view) == 10
            assert "Subsystems: IKE" in screen_text(app)

    run_async(go())


def test_keeps_up_with_a_fast_writer_and_still_answers_keys(tmp_path: Path) -> None:
    """20 000 lines a second for two seconds: all arrive, memory stays within the ring, keys answer."""
    log = tmp_path / "charon.log"
    log.write_text("")
    total = 40_000
    stop = threading.Event()

    def writer() -> None:
        with log.open("a", buffering=1) as f:
            for start in range(0, total, 200):
                if stop.is_set():
                    return
                f.write("".join(line(n) for n in range(start, start + 200)))
                time.sleep(0.01)  # 200 lines per 10 ms

    async def go() -> list[float]:
        app = PaneApp(log, capacity=10_000)
        latencies: list[float] = []
        async with app.run_test(size=(120, 30)) as pilot:
            p = pane(app)
            thread = threading.Thread(target=writer)
            thread.start()
            try:
                while p.buffer.received < total and thread.is_alive():
                    # A key as the terminal driver delivers it: posted to the app, answered by its binding.
                    app.pinged = None
                    sent = time.perf_counter()
                    app.post_message(events.Key("k", "k"))
                    await wait_until(pilot, lambda: app.pinged is not None, "the key's binding", timeout=10)
                    assert app.pinged is not None
                    latencies.append(app.pinged - sent)
                    await pilot.pause(0.02)
            finally:
                stop.set()
                thread.join()
            await received(pilot, total)
            assert len(p.buffer.lines) == 10_000 and len(p.buffer.view) <= 12_500
            assert p.dropped == 0
            assert f"message {total - 1}" in screen_text(app)
        return latencies

    latencies = sorted(run_async(go()))
    assert len(latencies) >= 10
    # Typically a millisecond or two; the bound leaves room for a busy CI machine.
    assert latencies[len(latencies) // 2] < 0.1, latencies
