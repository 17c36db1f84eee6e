"""Small modal dialogs: confirm an action, run a confirmed command and show its output."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Log, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes", no: str = "Cancel",
                 default_yes: bool = False) -> None:
        super().__init__()
        self.question, self.detail, self.yes, self.no = question, detail, yes, no
        # Which button Enter presses at first: the safe one, unless the caller knows going on is safe too.
        self.default_yes = default_yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            if self.detail:
                yield Static(self.detail, classes="dialog-detail", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no, id="no", compact=True)
                yield Button(self.yes, id="yes", variant="warning", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#yes" if self.default_yes else "#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)


@dataclass
class CommandOutput(Message):
    text: str


@dataclass
class CommandDone(Message):
    returncode: int


class CommandScreen(ModalScreen[int]):
    """Runs one argv the admin confirmed and shows its output; dismisses with the exit status."""

    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "close", "Close")]

    def __init__(self, argv: tuple[str, ...], title: str) -> None:
        super().__init__()
        self.argv = argv
        self.title_text = title
        self.returncode: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Static("$ " + " ".join(self.argv), classes="dialog-detail", markup=False)
            yield Log(id="command-log", max_lines=2000)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", compact=True, disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self._run()

    @work(thread=True, exit_on_error=False)
    def _run(self) -> None:
        try:
            proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True, errors="replace")
        except OSError as exc:
            self.post_message(CommandOutput(f"cannot run {self.argv[0]}: {exc.strerror}"))
            self.post_message(CommandDone(127))
            return
        assert proc.stdout is not None
        for line in proc.stdout:
            self.post_message(CommandOutput(line.rstrip("\n")))
        self.post_message(CommandDone(proc.wait()))

    def on_command_output(self, message: CommandOutput) -> None:
        self.query_one(Log).write_line(message.text)

    def on_command_done(self, message: CommandDone) -> None:
        self.returncode = message.returncode
        self.query_one(Log).write_line(f"-- exit status {message.returncode}")
        close = self.query_one("#close", Button)
        close.disabled = False
        close.focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        if self.returncode is not None:
            self.dismiss(self.returncode)
