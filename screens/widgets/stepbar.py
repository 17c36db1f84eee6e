"""The step bar: the app and the current step, then every step with the current one marked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widget import Widget

from screens.steps import Step
from wizard.fs.paths import Root


class StepBar(Widget):
    """Two lines: the app and the current step (its number is its place among the steps shown), then
    every step by its short name.

    Rendered for the width it has: when the step list does not fit (80 columns, more steps to come),
    the steps already done give way first, then the last ones, each replaced by an ellipsis.
    """

    DEFAULT_CSS = "StepBar { height: 2; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, steps: Iterable[Step], current: str, root: Root) -> None:
        super().__init__(id="stepbar")
        self._steps = tuple(steps)
        self._current = current
        self._root = root

    def render(self) -> Any:
        from rich.text import Text

        width = self.size.width or 80
        keys = [s.key for s in self._steps]
        index = keys.index(self._current) if self._current in keys else 0
        title = next((s.title for s in self._steps if s.key == self._current), "")
        where = "" if self._root.is_live else f"  --root {self._root.path}"
        # Each line is cut at the edge: a long --root path must not push the step list off the bar.
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" Swan Wizard ", style="bold reverse")
        text.append(f"  {index + 1}/{len(keys)} {title}", style="bold")
        text.append(where, style="italic")
        text.append("\n")
        labels = [(f"[{s.short}]" if i == index else s.short, i) for i, s in enumerate(self._steps)]
        first, last = 0, len(labels)

        def needed() -> int:  # labels, one space between, room for the two ellipses
            return sum(len(label) + 1 for label, _ in labels[first:last]) + 3

        while needed() > width and last - first > 1:
            if first < index:
                first += 1
            elif last - 1 > index:
                last -= 1
            else:
                break
        text.append("…" if first else " ")
        for label, i in labels[first:last]:
            text.append(label, style="bold reverse" if i == index else ("dim" if i < index else ""))
            text.append(" ")
        if last < len(labels):
            text.append("…")
        return text
