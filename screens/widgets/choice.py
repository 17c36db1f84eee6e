"""A value picked in place from a short list: ``◀ ecdsa-p256 ▶``, changed with Left/Right or Space.

Textual's Select opens an overlay that takes the focus a moment later: keys typed ahead (over a slow
SSH link they arrive in bursts) land before it is ready and are lost or re-open it. This widget has
no overlay, so every key counts, in order. Typing a letter jumps to the next choice starting with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

T = TypeVar("T")


class Choice(Widget, Generic[T], can_focus=True):
    DEFAULT_CSS = """
    Choice { height: 1; width: 1fr; background: $boost; }
    Choice:focus { text-style: bold reverse; }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("right,space", "move(1)", "Next choice", show=False),
        Binding("left", "move(-1)", "Previous choice", show=False),
    ]
    index: reactive[int] = reactive(0)

    @dataclass
    class Changed(Message):
        choice: Choice[Any]
        value: Any

        @property
        def control(self) -> Choice[Any]:
            return self.choice

    def __init__(self, options: Sequence[tuple[str, T]], value: T, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.options = list(options)
        values = [v for _label, v in self.options]
        self.set_reactive(Choice.index, values.index(value) if value in values else 0)

    @property
    def value(self) -> T:
        return self.options[self.index][1]

    @value.setter
    def value(self, value: T) -> None:
        self.index = [v for _label, v in self.options].index(value)

    def render(self) -> Text:
        label = self.options[self.index][0]
        return Text.assemble(("◀ ", "dim"), label, (" ▶", "dim"), no_wrap=True, overflow="ellipsis")

    def action_move(self, step: int) -> None:
        self.index = (self.index + step) % len(self.options)

    def watch_index(self) -> None:
        self.post_message(self.Changed(self, self.value))

    def on_click(self, event: events.Click) -> None:
        self.focus()
        self.action_move(-1 if event.x < 2 else 1)

    def on_key(self, event: events.Key) -> None:
        char = (event.character or "").lower()
        if len(char) == 1 and char.isalnum():
            n = len(self.options)
            for step in range(1, n + 1):
                candidate = (self.index + step) % n
                if self.options[candidate][0].lower().startswith(char):
                    self.index = candidate
                    event.stop()
                    return
