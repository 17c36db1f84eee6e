"""A labelled form field that shows the answers loader's message for its field, and the small helpers
that turn typed text into answer values."""

from __future__ import annotations

from textual import events
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


class FieldInput(Input):
    """An Input where keys typed ahead behind a Tab go to the field the Tab moves to.

    Textual queues each key at the widget focused when the key arrives, and a Tab moves the focus only
    once it has bubbled up to the app: "name<Tab>address" arriving in one read (type-ahead, a slow SSH
    link) put the address into the name field. Here Tab moves the focus at once, and a character queued
    here after the focus left is handed on to the widget focused now (where bindings resolve anyway).
    """

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is self and event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            if event.key == "tab":
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
        elif event.is_printable and focused is not None and focused is not self:
            event.stop()
            event.prevent_default()  # Input's own handler would insert it here
            focused.post_message(events.Key(event.key, event.character))


def text_input(value: str = "", *, id: str, placeholder: str = "", password: bool = False) -> Input:
    # No cursor blink: nothing redraws while the admin thinks (slow links) and snapshots are stable.
    inp = FieldInput(value, placeholder=placeholder, id=id, password=password, compact=True)
    inp.cursor_blink = False
    return inp


def split_list(text: str) -> list[str]:
    """"a, b  c" -> ["a", "b", "c"]: how list fields are typed in one line."""
    return [part for part in text.replace(",", " ").split() if part]


def int_or_text(text: str) -> int | str:
    """An int when the text is one, else the text itself, so the loader reports it as it would in YAML."""
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else stripped
