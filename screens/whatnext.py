"""The last step: which client files go to which system, how to fetch them, and the commands for later."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Static

from screens.base import StepScreen
from screens.context import StepResult
from wizard.plan.handout import next_steps


class WhatNextScreen(StepScreen):
    HELP = "whatnext"
    # The last step: Next is Quit, and the footer says it once.
    BINDINGS: ClassVar[list[Any]] = [Binding("q", "quit", "Quit"), Binding("ctrl+n", "next", "Next", show=False)]

    def body(self) -> ComposeResult:
        session = self.ctx.session
        assert session is not None, "the last step comes after the welcome step"
        lines = next_steps(session.answers, self.ctx.root)
        yield Static("\n".join(lines), id="whatnext-text", markup=False)

    def buttons(self) -> ComposeResult:
        yield Button("Back", id="back", compact=True)
        yield Button("Quit", id="quit", variant="primary", compact=True)

    def on_mount(self) -> None:
        # Down and PageDown scroll the hand-out from the first key: here the body itself is what to read
        # (Tab reaches the buttons, q quits).
        body = self.query_one("#body")
        body.can_focus = True
        body.focus()

    def action_next(self) -> None:
        self.action_quit()

    def action_quit(self) -> None:
        self.dismiss(StepResult("quit"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "quit":
            self.action_quit()
