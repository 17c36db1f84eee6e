"""The live charon log: follows the filelog, filters by subsystem and level, searches, pauses, follows.

Throughput and memory: a worker thread reads and parses the file (``wizard.system.logtail``) and hands the
lines over in batches, at most one batch per ``batch_interval`` and only once the previous batch was
taken, so the message queue never fills up however fast charon writes. While the UI is busy the
worker keeps at most ``capacity`` pending lines (older ones are counted as dropped), and the pane
keeps at most ``capacity`` lines: memory stays bounded whatever the rate. Only the visible rows are
rendered (a Line API widget), so a refresh costs the same with ten lines or fifty thousand.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive, var
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, SelectionList, Static
from textual.worker import get_current_worker

from screens.widgets.choice import Choice
from wizard.system.logtail import MAX_LEVEL, SUBSYSTEMS, LogBuffer, LogFilter, LogFollower, LogLine, parse_line

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_LEVEL_STYLES = {0: Style(bold=True), 1: Style(), 2: Style(color="cyan"), 3: Style(dim=True), 4: Style(dim=True)}
_TIME = Style(dim=True)
_IKE = Style(color="magenta")
_MATCH = Style(reverse=True, bold=True)
MAX_WIDTH = 1000  # horizontal scrolling reaches this far; longer lines are cut


@dataclass
class LinesArrived(Message):
    lines: list[LogLine]
    dropped: int


@dataclass
class TailStatus(Message):
    text: str | None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TailStatus)


def render_text(line: LogLine, search: str = "") -> Text:
    # One character for one: the parser's offsets stay valid for styling.
    raw = _CONTROL.sub("?", line.raw.replace("\t", " "))
    text = Text(raw, no_wrap=True, end="")
    if line.group:
        head = raw.find("[")
        close = raw.find("]", head)
        text.stylize(_TIME, 0, max(raw.rfind(" ", 0, head), 0))
        text.stylize(_LEVEL_STYLES.get(line.level, Style()), head, close + 1)
        if line.ike:
            text.stylize(_IKE, close + 2, line.body - 1)
        text.stylize(_LEVEL_STYLES.get(line.level, Style()) if line.level == 0 else Style(), line.body)
    if search:
        lowered, needle = raw.lower(), search.lower()
        start = lowered.find(needle)
        while start >= 0:
            text.stylize(_MATCH, start, start + len(needle))
            start = lowered.find(needle, start + len(needle))
    return text


class LogView(ScrollView, can_focus=True):
    """The rows of a LogBuffer's view; renders only what is on screen."""

    DEFAULT_CSS = """
    LogView { background: $surface; }
    LogView:focus { background-tint: $foreground 5%; }
    """
    follow: var[bool] = var(True)

    @dataclass
    class FollowChanged(Message):
        follow: bool

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LogView.FollowChanged)

    def __init__(self, buffer: LogBuffer, id: str | None = None) -> None:
        super().__init__(id=id)
        self.buffer = buffer
        self._width = 0

    def _sync(self, trimmed_before: int) -> None:
        cut = self.buffer.trimmed - trimmed_before
        lines = len(self.buffer.view)
        if self._width < MAX_WIDTH:
            # Only the newest lines can widen the view; older ones were measured when they arrived.
            tail = self.buffer.view[-200:]
            self._width = min(MAX_WIDTH, max([self._width, *(cell_len(line.raw) for line in tail)]))
        following = self.follow
        self.virtual_size = Size(self._width, lines)
        # force: the scrollbars are only worked out at the next layout, and until then Textual would
        # refuse to scroll a view that just outgrew its window.
        if following:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        elif cut > 0:
            # Scrolled back: keep the same lines in view while old ones fall off the front.
            self.scroll_to(y=max(self.scroll_y - cut, 0), animate=False, immediate=True, force=True)
            self.follow = False
        self.refresh()

    def add(self, lines: list[LogLine], *, paused: bool = False) -> int:
        before = self.buffer.trimmed
        added = self.buffer.extend(lines, to_view=not paused)
        if not paused:
            self._sync(before)
        return added

    def refilter(self, new: LogFilter | None = None) -> None:
        before = self.buffer.trimmed
        if new is not None:
            self.buffer.set_filter(new)
        else:
            self.buffer.rebuild()
        self._width = min(MAX_WIDTH, max((cell_len(line.raw) for line in self.buffer.view[-2000:]), default=0))
        self.follow = True
        self._sync(before)

    def clear(self) -> None:
        self.buffer.clear()
        self._width = 0
        self.virtual_size = Size(0, 0)
        self.refresh()

    def watch_follow(self, follow: bool) -> None:
        self.post_message(self.FollowChanged(follow))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Follow exactly when at the bottom: scrolling up stops following, End (or scrolling down) resumes.
        self.follow = round(new_value) >= self.max_scroll_y

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        rich_style = self.rich_style
        view = self.buffer.view
        if index >= len(view):
            return Strip.blank(width, rich_style)
        text = render_text(view[index], self.buffer.filter.text)
        text.stylize(rich_style)
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(scroll_x, scroll_x + width, rich_style).apply_offsets(scroll_x, index)


class SubsystemsScreen(ModalScreen[frozenset[str] | None]):
    """Choose the subsystems to show; dismisses with the set (None: all), or keeps the old on Esc."""

    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+n", "ok", "OK")]

    def __init__(self, current: frozenset[str] | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        chosen = self.current if self.current is not None else frozenset(SUBSYSTEMS)
        with Vertical(classes="dialog"):
            yield Static("Subsystems to show (space toggles)", classes="dialog-title", markup=False)
            yield SelectionList[str](*((name, name, name in chosen) for name in SUBSYSTEMS), id="groups")
            with Horizontal(classes="dialog-buttons"):
                yield Button("All", id="all", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("OK", id="ok", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @on(Button.Pressed, "#all")
    def _all(self) -> None:
        self.query_one(SelectionList).select_all()

    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        selected = frozenset(self.query_one(SelectionList).selected)
        self.dismiss(None if selected >= set(SUBSYSTEMS) else selected)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(self.current)


class LogPane(Widget):
    """A filter bar, the log rows and a status line, fed by a file-following worker thread."""

    BINDINGS: ClassVar[list[Any]] = [
        Binding("p", "pause", "Pause"),
        Binding("f", "follow", "Follow"),
        Binding("slash", "search", "Search"),
        Binding("s", "subsystems", "Subsystems"),
        Binding("plus", "level(1)", "Level+", show=False),
        Binding("minus", "level(-1)", "Level-", show=False),
        Binding("c", "clear", "Clear", show=False),
    ]
    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    LogPane > #log-filters { height: 1; }
    LogPane #log-groups { width: auto; margin: 0 1 0 0; }
    LogPane #log-level { width: 21; margin: 0 1 0 0; }
    LogPane #log-search { width: 1fr; }
    LogPane > LogView { height: 1fr; }
    LogPane > #log-status { height: 1; color: $text-muted; }
    """
    paused: reactive[bool] = reactive(False)

    def __init__(self, path: Path, *, capacity: int = 50_000, poll_interval: float = 0.1,
                 batch_interval: float = 0.05, id: str | None = None) -> None:
        super().__init__(id=id)
        self.path = path
        self.capacity = capacity
        self.poll_interval = poll_interval
        self.batch_interval = batch_interval
        self.buffer = LogBuffer(capacity)
        self.dropped = 0
        self.batches = 0
        self.tail_status: str | None = None
        self._taken = threading.Event()  # set when the UI has taken the last batch: the worker may post again
        self._taken.set()
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-filters"):
            yield Button("Subsystems: all", id="log-groups", compact=True)
            yield Choice([(f"level ≤ {n}" + (" (all)" if n == MAX_LEVEL else ""), n) for n in range(MAX_LEVEL + 1)],
                         value=MAX_LEVEL, id="log-level")
            search = Input(placeholder="/ search", id="log-search", compact=True)
            search.cursor_blink = False
            yield search
        yield LogView(self.buffer, id="log-view")
        yield Static("", id="log-status", markup=False)

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        self._update_status()
        self._follow_file()

    def on_unmount(self) -> None:
        self._stop.set()

    # -- the reader thread --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="logtail")
    def _follow_file(self) -> None:
        worker = get_current_worker()
        follower = LogFollower(self.path)
        pending: deque[LogLine] = deque(maxlen=self.capacity)
        dropped = 0
        last_post = 0.0
        status: str | None = "starting"
        try:
            while not worker.is_cancelled and not self._stop.is_set():
                raw = follower.poll()
                if raw:
                    overflow = len(pending) + len(raw) - self.capacity
                    if overflow > 0:
                        dropped += min(overflow, len(pending) + len(raw))
                    pending.extend(parse_line(text) for text in raw)
                if follower.error != status:
                    status = follower.error
                    self.post_message(TailStatus(status))
                now = time.monotonic()
                if pending and self._taken.is_set() and now - last_post >= self.batch_interval:
                    self._taken.clear()
                    batch = list(pending)
                    pending.clear()
                    self.post_message(LinesArrived(batch, dropped))
                    dropped, last_post = 0, now
                if not raw:
                    # Idle (or waiting for the UI): wake up for the next batch slot or new data.
                    self._stop.wait(self.batch_interval if pending else self.poll_interval)
        finally:
            follower.close()

    # -- messages from the reader -----------------------------------------------------------------------

    def on_lines_arrived(self, message: LinesArrived) -> None:
        self.batches += 1
        self.dropped += message.dropped
        self.view.add(message.lines, paused=self.paused)
        self._taken.set()
        self._update_status()

    def on_log_view_follow_changed(self) -> None:
        self._update_status()

    def on_tail_status(self, message: TailStatus) -> None:
        self.tail_status = message.text
        self._update_status()

    def _update_status(self) -> None:
        view = self.query_one(LogView)
        if self.paused:
            state = "PAUSED (p resumes)"
        elif view.follow:
            state = "following"
        else:
            state = "scrolled back (End follows)"
        parts = [state, f"{len(self.buffer.view)} shown", f"{self.buffer.received} read"]
        if self.dropped:
            parts.append(f"{self.dropped} dropped")
        # The file's name when all is well (F1 names the full path); the whole sentence when waiting for it.
        parts.append(self.tail_status or self.path.name)
        self.query_one("#log-status", Static).update(" · ".join(parts))

    # -- filters and keys ---------------------------------------------------------------------------------

    def _filter(self, **changes: Any) -> None:
        f = self.buffer.filter
        self.view.refilter(LogFilter(groups=changes.get("groups", f.groups),
                                     max_level=changes.get("max_level", f.max_level),
                                     text=changes.get("text", f.text)))
        self._update_status()

    @on(Choice.Changed, "#log-level")
    def _level_changed(self, event: Choice.Changed) -> None:
        if isinstance(event.value, int) and event.value != self.buffer.filter.max_level:
            self._filter(max_level=event.value)

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._filter(text=event.value)

    @on(Input.Submitted, "#log-search")
    def _search_done(self) -> None:
        self.view.focus()

    def action_level(self, step: int) -> None:
        level = min(max(self.buffer.filter.max_level + step, 0), MAX_LEVEL)
        self.query_one("#log-level", Choice).value = level

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.view.refilter()  # catch up with everything collected while paused
        self._update_status()

    def action_follow(self) -> None:
        self.paused = False
        self.view.refilter()
        self.view.focus()
        self._update_status()

    def action_search(self) -> None:
        self.query_one("#log-search", Input).focus()

    def action_clear(self) -> None:
        self.view.clear()
        self._update_status()

    @on(Button.Pressed, "#log-groups")
    def action_subsystems(self) -> None:
        def chosen(groups: frozenset[str] | None) -> None:
            label = "all" if groups is None else (",".join(sorted(groups)) or "none")
            self.query_one("#log-groups", Button).label = f"Subsystems: {label[:24]}"
            if groups != self.buffer.filter.groups:
                self._filter(groups=groups)

        self.app.push_screen(SubsystemsScreen(self.buffer.filter.groups), chosen)

    def watch_paused(self) -> None:
        if self.is_mounted:
            self._update_status()
