"""A checkbox and a radio button whose state shows without colour too (NO_COLOR, monochrome terminals)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Checkbox, RadioButton, RadioSet


class Check(Checkbox):
    """A checkbox that shows [X] or [ ]."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # Textual's is a plain class attribute
        return "X" if self.value else " "


class Radio(RadioButton):
    """A radio button that shows (●) or ( )."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # Textual's is a plain class attribute
        return "●" if self.value else " "


class Radios(RadioSet):
    """A radio set whose arrows choose, as radio groups do elsewhere (WAI-ARIA, browsers): Textual's only
    move a highlight and wait for Enter or Space, so a newcomer thinks Right chose what it did not."""

    # Textual's own next/previous actions also run on mount: only the keys choose.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,right", "choose(1)", "Next choice", show=False),
        Binding("up,left", "choose(-1)", "Previous choice", show=False),
    ]

    def action_choose(self, step: int) -> None:
        if step > 0:
            self.action_next_button()
        else:
            self.action_previous_button()
        if self._selected is not None and self._selected != self.pressed_index:
            self.action_toggle_button()
