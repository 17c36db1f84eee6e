"""What a wizard step is: a screen built from a :class:`~screens.context.StepContext`, with the step
bar, a body, Back/Next buttons and the footer, that dismisses with a :class:`~screens.context.StepResult`.

Forms (fields validated as you type) build on it in ``screens.forms``; the widgets live in
``screens.widgets``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input

from screens.context import StepContext, StepResult
from screens.widgets.stepbar import StepBar


class StepScreen(Screen[StepResult]):
    """A wizard step: step bar, a scrolling body, Back/Next buttons, footer with the keys."""

    HELP: ClassVar[str] = "welcome"
    NEXT_LABEL: ClassVar[str] = "Next"
    # Forms scroll; screens that share their height between panes (review, apply, log) lay out with fr units.
    SCROLL_BODY: ClassVar[bool] = True
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "back", "Back"),
        Binding("f1", "help", "Help"),
        Binding("ctrl+n", "next", "Next"),
    ]

    def __init__(self, ctx: StepContext) -> None:
        super().__init__()
        self.ctx = ctx

    @property
    def writing(self) -> bool:
        """Whether files are being written right now: quitting would leave half a change behind, so the
        app refuses to quit and a hang-up waits (the step then posts ``screens.messages.ApplyFinished``)."""
        return False

    def compose(self) -> ComposeResult:
        yield StepBar(self.ctx.steps, self.ctx.key, self.ctx.root)
        # The body itself takes no focus: Tab goes field to field, and typing lands in the first field.
        with VerticalScroll(id="body", can_focus=False) if self.SCROLL_BODY else Vertical(id="body"):
            yield from self.body()
        with Horizontal(id="buttons"):
            yield from self.buttons()
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def buttons(self) -> ComposeResult:
        yield Button("Back", id="back", compact=True)
        yield Button(self.NEXT_LABEL, id="next", variant="primary", compact=True)

    def action_help(self) -> None:
        from screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.HELP))

    def action_back(self) -> None:
        self.dismiss(StepResult("back"))

    def action_next(self) -> None:
        self.dismiss(StepResult("next"))

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    @on(Input.Submitted)
    def _enter_moves_on(self, event: Input.Submitted) -> None:
        # Enter in a field goes to the next one, like Tab; on the last it reaches the buttons.
        event.stop()
        self.focus_next()
