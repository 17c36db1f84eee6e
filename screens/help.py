"""F1: the help text of a step, from the Arch Wiki article's explanations (screens/assets/help/<topic>.md)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from screens import ASSETS


def help_text(topic: str) -> str:
    path = ASSETS / "help" / f"{topic}.md"
    try:
        return path.read_text()
    except OSError:
        return f"# Help\n\nNo help text for '{topic}' ({path} is missing)."


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("f1", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, topic: str) -> None:
        super().__init__()
        self.topic = topic

    def compose(self) -> ComposeResult:
        from rich.markdown import Markdown  # lazy: only a help request pays for the Markdown parser

        with VerticalScroll(id="help"):
            yield Static(Markdown(help_text(self.topic)), id="help-text")
        yield Footer()

    def on_mount(self) -> None:
        # Focus the scroller so the arrow keys and PageUp/PageDown read the text.
        self.query_one("#help", VerticalScroll).focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
