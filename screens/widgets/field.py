"""A labelled form field that shows the answers loader's message for its field, and the small helpers
that turn typed text into answer values."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, Static


class Field(Widget):
    """A label, a control, and below them the loader's message for ``field`` (or a warning)."""

    DEFAULT_CSS = """
    Field { height: auto; margin: 0 0 0 0; }
    Field > .field-row { height: auto; }
    Field .field-label { width: 22; padding: 0 1 0 0; }
    Field .field-message { display: none; padding: 0 0 0 22; }
    Field.-error .field-message { display: block; color: $text-error; }
    Field.-warning .field-message { display: block; color: $text-warning; }
    Field .field-hint { padding: 0 0 0 22; color: $text-muted; }
    Field.catch-all > .field-row { display: none; }
    Field.catch-all .field-message { padding: 0; }
    """

    def __init__(self, label: str, control: Widget, *, field: str, hint: str = "", exact: bool = False,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.label = label
        self.control = control
        self.field = field
        self.hint = hint
        self.exact = exact  # claim only problems reported for exactly this field, not for fields inside it
        self._shown_message: tuple[str | None, str | None] = (None, None)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(self.label, classes="field-label")
            yield self.control
        yield Static("", classes="field-message", markup=False)
        if self.hint:
            yield Static(self.hint, classes="field-hint", markup=False)

    def set_message(self, problem: str | None, warning: str | None = None) -> None:
        shown = (problem, warning)
        if shown == self._shown_message:
            return  # nothing new: no relayout, no bytes down a slow link
        self._shown_message = shown
        message = self.query_one(".field-message", Static)
        self.set_class(problem is not None, "-error")
        self.set_class(problem is None and warning is not None, "-warning")
        text = problem if problem is not None else (f"note: {warning}" if warning else "")
        message.update(text)

    @property
    def has_problem(self) -> bool:
        return self.has_class("-error")


def text_input(value: str = "", *, id: str, placeholder: str = "", password: bool = False) -> Input:
    # No cursor blink: nothing redraws while the admin thinks (slow links) and snapshots are stable.
    inp = Input(value, placeholder=placeholder, id=id, password=password, compact=True)
    inp.cursor_blink = False
    return inp


def split_list(text: str) -> list[str]:
    """"a, b  c" -> ["a", "b", "c"]: how list fields are typed in one line."""
    return [part for part in text.replace(",", " ").split() if part]


def int_or_text(text: str) -> int | str:
    """An int when the text is one, else the text itself, so the loader reports it as it would in YAML."""
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else stripped
