"""A checkbox and a radio button whose state shows without colour too (NO_COLOR, monochrome terminals)."""

from __future__ import annotations

from textual.widgets import Checkbox, RadioButton


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
