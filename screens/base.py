"""What every wizard step shares: the context it is built from, the result it returns, the step bar,
labelled fields that show the answers loader's message for their field, and validation as you type.

Attributes go down (a step is constructed from a :class:`StepContext`), results go up (a step
``dismiss``-es a :class:`StepResult` holding the sections it edited; the app replaces the whole answers
value). Steps never read the app's state directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Input, Label, RadioButton, RadioSet, Static

from wizard.fs.paths import Root

if TYPE_CHECKING:
    # Only for annotations: the answers model (pydantic) is imported when a form first validates, so the
    # welcome screen paints without paying for it (bench/bench_tui.py measures start-up).
    from wizard.model import field_check
    from wizard.model.answers import Answers
    from wizard.plan.preflight import Report
    from wizard.plan.session import Session

Go = Literal["next", "back", "goto", "quit", "stay"]


@dataclass(frozen=True)
class StepContext:
    """Everything a step is built from (attributes down)."""

    key: str
    root: Root
    session: Session | None  # None only on the welcome step, before the admin chose how to begin
    steps: tuple[tuple[str, str], ...]  # (key, title) of the steps shown in the step bar
    report: Report | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)  # e.g. the reviewed plan for the apply step

    @property
    def answers(self) -> Answers:
        assert self.session is not None, "the welcome step has no answers yet"
        return self.session.answers


@dataclass(frozen=True)
class StepResult:
    """What a step hands back: where to go, and the sections it edited."""

    go: Go
    changes: Mapping[str, Any] = field(default_factory=dict)  # section -> validated model
    typed: Mapping[str, str] = field(default_factory=dict)  # typed-secret key -> value, stored 0600 by the app
    session: Session | None = None  # a whole new session (welcome: resume, modify, start over)
    session_changes: Mapping[str, Any] = field(default_factory=dict)  # e.g. ca_import
    target: str | None = None  # with go="goto"
    report: Report | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    exit_code: int | None = None  # with go="quit"


class Check(Checkbox):
    """A checkbox whose state shows without colour too (NO_COLOR, monochrome terminals): [X] or [ ]."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # Textual's is a plain class attribute
        return "X" if self.value else " "


class Radio(RadioButton):
    """A radio button whose state shows without colour too: (●) or ( )."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # Textual's is a plain class attribute
        return "●" if self.value else " "


class StepBar(Widget):
    """Two lines: the app and the current step, then every step with the current one marked.

    Rendered for the width it has: when the step list does not fit (80 columns, more steps to come),
    the steps already done give way first, then the last ones, each replaced by an ellipsis.
    """

    DEFAULT_CSS = "StepBar { height: 2; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, steps: Iterable[tuple[str, str]], current: str, root: Root) -> None:
        super().__init__(id="stepbar")
        self._steps = tuple(steps)
        self._current = current
        self._root = root

    def render(self) -> Any:
        from rich.text import Text

        width = self.size.width or 80
        keys = [k for k, _ in self._steps]
        index = keys.index(self._current) if self._current in keys else 0
        title = dict(self._steps).get(self._current, "")
        where = "" if self._root.is_live else f"  --root {self._root.path}"
        # Each line is cut at the edge: a long --root path must not push the step list off the bar.
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" Swan Wizard ", style="bold reverse")
        text.append(f"  {index + 1}/{len(keys)} {title}", style="bold")
        text.append(where, style="italic")
        text.append("\n")
        labels = [(f"[{_SHORT.get(k, t)}]" if i == index else _SHORT.get(k, t), i)
                  for i, (k, t) in enumerate(self._steps)]
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


_SHORT = {"welcome": "Welcome", "ca": "CA", "host": "Host", "clients": "Clients", "variants": "Variants",
          "users": "Users", "addresses": "Addresses", "networking": "Network", "review": "Review",
          "apply": "Apply", "running": "Running"}


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


class SecretField(Widget):
    """How one secret is given: generated, typed (stored 0600, referenced by file), none, or kept as is.

    The typed value never goes into the answers: :meth:`result` returns the ``{file: ...}`` reference
    and, separately, the text for the app to store.
    """

    DEFAULT_CSS = """
    SecretField { height: auto; }
    SecretField > .field-row { height: auto; }
    SecretField .field-label { width: 22; padding: 0 1 0 0; }
    SecretField RadioSet { layout: horizontal; height: auto; border: none; padding: 0; width: auto; }
    SecretField RadioSet > RadioButton { margin: 0 2 0 0; width: auto; }
    SecretField .secret-typed { height: auto; }
    SecretField .secret-typed.-hidden { display: none; }
    """

    def __init__(self, label: str, *, field: str, key: str, root: Root, current: Any,
                 choices: tuple[str, ...] = ("generate", "type"), generated: Any = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.field = field
        self.key = key
        self.root = root
        self.current = current
        self.generated = generated  # the value "generate" stands for (None: the model's default)
        from wizard.plan.session import is_typed_ref

        typed = is_typed_ref(root, current)
        kept = current is not None and not typed and not self._is_generated(current)
        self.choices = choices + (("keep",) if kept else ())
        if typed:
            initial = "type"
        elif kept:
            initial = "keep"
        elif current is None and "none" in choices:
            initial = "none"
        else:
            initial = "generate" if "generate" in choices else choices[0]
        self.initial = initial
        self.had_typed = typed

    def _is_generated(self, value: Any) -> bool:
        return getattr(value, "generate", None) is True

    def _keep_label(self) -> str:
        env, file = getattr(self.current, "env", None), getattr(self.current, "file", None)
        if env:
            return f"keep (env {env})"
        if file:
            return f"keep (file {file})"
        return "keep"

    def compose(self) -> ComposeResult:
        labels = {"generate": "generate", "type": "type it", "none": "none", "keep": self._keep_label()}
        prefix = self.id or self.key
        with Horizontal(classes="field-row"):
            yield Label(self.label, classes="field-label")
            with RadioSet(id=f"{prefix}-kind", compact=True):
                for choice in self.choices:
                    yield Radio(labels[choice], value=choice == self.initial, id=f"{prefix}-{choice}", compact=True)
        with Widget(classes="secret-typed" + ("" if self.initial == "type" else " -hidden")):
            placeholder = "(unchanged: already stored)" if self.had_typed else ""
            yield Field("  password", text_input(id=f"{prefix}-text", password=True, placeholder=placeholder),
                        field=f"{self.field}#typed")
            yield Field("  again", text_input(id=f"{prefix}-again", password=True, placeholder=placeholder),
                        field=f"{self.field}#again")

    @property
    def kind(self) -> str:
        radios = self.query_one(RadioSet)
        pressed = radios.pressed_button
        if pressed is None or pressed.id is None:
            return self.initial
        return pressed.id.rsplit("-", 1)[1]

    @on(RadioSet.Changed)
    def _kind_changed(self, event: RadioSet.Changed) -> None:
        self.query_one(".secret-typed").set_class(self.kind != "type", "-hidden")

    def typed_text(self) -> tuple[str, str]:
        prefix = self.id or self.key
        return (self.query_one(f"#{prefix}-text", Input).value, self.query_one(f"#{prefix}-again", Input).value)

    def value(self) -> Any:
        """The reference the answers hold (never the typed text)."""
        kind = self.kind
        if kind == "none":
            return None
        if kind == "keep":
            return self.current
        if kind == "type":
            from wizard.plan.session import typed_secret_ref

            return typed_secret_ref(self.root, self.key)
        return self.generated

    def problems(self) -> dict[str, str]:
        """UI-level checks of the typed text (the loader never sees it)."""
        if self.kind != "type":
            return {}
        text, again = self.typed_text()
        if not text and not again:
            return {} if self.had_typed else {f"{self.field}#typed": "type the secret (or choose another way)"}
        if "\n" in text or "\r" in text:
            return {f"{self.field}#typed": "a secret must be one line"}
        if text != again:
            return {f"{self.field}#again": "the two entries differ"}
        return {}

    def typed(self) -> dict[str, str]:
        if self.kind != "type":
            return {}
        text, _ = self.typed_text()
        return {self.key: text} if text else {}


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


# The form code is shared by full screens and modal dialogs; it runs on a Screen and uses its query().
if TYPE_CHECKING:
    _FormHost = Screen[Any]
else:
    _FormHost = object


class FormMixin(_FormHost):
    """Validation as you type, shared by step screens and item dialogs.

    The sections the form edits (:meth:`sections`, plain data or models) are checked inside the whole
    answers (``wizard.model.field_check``), so each field shows exactly the loader's message for it; checks the
    loader cannot make (a password typed twice) come from :meth:`ui_problems`. Problems and notes no field
    claims are listed under the form.
    """

    checked: field_check.Checked | None = None
    problems_text: str = ""

    def base_answers(self) -> Answers:
        raise NotImplementedError

    def sections(self) -> dict[str, Any]:
        return {}

    def ui_problems(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for secret in self.query(SecretField):
            if _shown(secret):
                out.update(secret.problems())
        return out

    def typed(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for secret in self.query(SecretField):
            if _shown(secret):
                out.update(secret.typed())
        return out

    def claims(self, widget: Field, key: str) -> bool:
        """Whether ``widget`` shows the problem reported under ``key`` (dialogs map list-level ones)."""
        return key == widget.field if widget.exact else _covers(widget.field, key)

    def revalidate(self) -> field_check.Checked:
        from wizard.model import field_check

        sections = self.sections()
        checked = field_check.check(self.base_answers(), sections)
        extra = self.ui_problems()
        problems = {**checked.problems, **extra}
        self.checked = checked
        claimed: set[str] = set()
        noted: set[str] = set()
        for widget in self.query(Field):
            if not _shown(widget):
                continue
            mine = [k for k in extra if widget.field == k] + [k for k in checked.problems if self.claims(widget, k)]
            notes = [k for k in checked.warnings if self.claims(widget, k)]
            widget.set_message(problems[mine[0]] if mine else None,
                               checked.warnings[notes[0]] if notes else None)
            claimed.update(mine)
            noted.update(notes)
        rest = [f"{k}: {m}" for k, m in problems.items() if k not in claimed]
        # Notes only about what this form edits: "no client certificate" is news on the clients step only.
        rest += [f"note: {k}: {m}" for k, m in checked.warnings.items()
                 if k not in noted and _section_of(k) in sections]
        text = "\n".join(rest)
        if text != self.problems_text:
            self.problems_text = text
            for box in self.query("#problems").results(Static):
                box.update(text)
                box.set_class(bool(rest), "-shown")
        return checked

    @property
    def valid(self) -> bool:
        return self.checked is not None and self.checked.ok and not self.ui_problems()

    def on_input_changed(self) -> None:
        self.revalidate()

    def on_checkbox_changed(self) -> None:
        self.revalidate()

    def on_radio_set_changed(self) -> None:
        self.revalidate()

    def on_choice_changed(self) -> None:
        self.revalidate()

    def focus_first_problem(self) -> None:
        previous: Widget | None = None
        for widget in self.query(Field):
            if not _shown(widget):
                continue
            focusable = [w for w in widget.query("*") if w.focusable]
            if widget.has_problem:
                # A message for a whole group (e.g. the DN made of three fields) sits below its last field.
                target = focusable[0] if focusable else previous
                if target is not None:
                    target.focus()
                    return
            if focusable:
                previous = focusable[-1]


class FormScreen(FormMixin, StepScreen):
    """A step whose fields are validated as you type with the answers loader's rules and messages."""

    def base_answers(self) -> Answers:
        return self.ctx.answers

    def body(self) -> ComposeResult:
        yield from self.form()
        yield Static("", id="problems", markup=False)

    def form(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.revalidate()

    def result_changes(self) -> dict[str, Any]:
        checked = self.revalidate()
        assert checked.answers is not None
        return {name: getattr(checked.answers, name) for name in self.sections()}

    def action_next(self) -> None:
        self.revalidate()
        if not self.valid:
            self.focus_first_problem()
            self.notify("Fix the marked fields first.", severity="warning", timeout=3)
            return
        self.dismiss(StepResult("next", changes=self.result_changes(), typed=self.typed(),
                                session_changes=self.session_changes()))

    def action_back(self) -> None:
        # Going back keeps what is valid on this screen, and drops it otherwise (the screen said why).
        self.revalidate()
        if self.valid:
            self.dismiss(StepResult("back", changes=self.result_changes(), typed=self.typed(),
                                    session_changes=self.session_changes()))
        else:
            self.dismiss(StepResult("back"))

    def session_changes(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Edited:
    """What an item dialog returns: the item (a model) and typed secrets to store."""

    value: Any
    typed: Mapping[str, str] = field(default_factory=dict)


class FormDialog(FormMixin, ModalScreen[Edited | None]):
    """A modal form for one list item (a client, a user, a peer), validated like a step."""

    TITLE_TEXT: str = ""  # dialogs set it per instance: "Add ..." or "Edit ..."
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+n", "ok", "OK"),
        Binding("f1", "help", "Help"),
    ]
    HELP: ClassVar[str] = "welcome"

    def __init__(self, answers: Answers, root: Root) -> None:
        super().__init__()
        self.answers = answers
        self.root = root

    def base_answers(self) -> Answers:
        return self.answers

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide", can_focus=False):
            yield Static(self.TITLE_TEXT, classes="dialog-title", markup=False)
            yield from self.form()
            yield Static("", id="problems", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("OK", id="ok", variant="primary", compact=True)
        yield Footer()

    def form(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.revalidate()

    def item(self) -> Any:
        """The edited item, taken from the validated answers."""
        raise NotImplementedError

    def action_ok(self) -> None:
        self.revalidate()
        if not self.valid:
            self.focus_first_problem()
            self.notify("Fix the marked fields first.", severity="warning", timeout=3)
            return
        self.dismiss(Edited(self.item(), self.typed()))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        from screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.HELP))

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.action_ok()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _enter_moves_on(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()


class ListFormScreen(FormScreen):
    """A step that edits a list of items through an item dialog: add, edit (or Enter on a row), remove."""

    BINDINGS: ClassVar[list[Any]] = [
        Binding("a", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("delete", "remove", "Remove"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.items: list[Any] = self.initial_items()
        self.pending_typed: dict[str, str] = {}

    def initial_items(self) -> list[Any]:
        raise NotImplementedError

    def dialog(self, index: int) -> FormDialog:
        """The dialog that edits item ``index`` (== len(items): a new one)."""
        raise NotImplementedError

    def _fill(self) -> None:
        """Show ``items`` in the screen's DataTable."""
        raise NotImplementedError

    def row_buttons(self) -> ComposeResult:
        with Horizontal(classes="row-buttons"):
            yield Button("Add", id="add", compact=True)
            yield Button("Edit", id="edit", compact=True)
            yield Button("Remove", id="remove", compact=True)

    def typed(self) -> dict[str, str]:
        return dict(self.pending_typed)

    def _edit(self, index: int) -> None:
        def done(result: Edited | None) -> None:
            if result is None:
                return
            if index < len(self.items):
                self.items[index] = result.value
            else:
                self.items.append(result.value)
            self.pending_typed.update(result.typed)
            self._fill()
            self.revalidate()

        self.app.push_screen(self.dialog(index), done)

    def _cursor_row(self) -> int:
        from textual.widgets import DataTable

        return self.query_one(DataTable).cursor_row

    @on(Button.Pressed, "#add")
    def action_add(self) -> None:
        self._edit(len(self.items))

    @on(Button.Pressed, "#edit")
    def action_edit(self) -> None:
        if self.items:
            self._edit(self._cursor_row())

    def on_data_table_row_selected(self, event: Any) -> None:
        self._edit(event.cursor_row)

    @on(Button.Pressed, "#remove")
    def action_remove(self) -> None:
        if self.items:
            del self.items[self._cursor_row()]
            self._fill()
            self.revalidate()


def _section_of(key: str) -> str:
    return key.split(".", 1)[0].split("[", 1)[0]


def _covers(field_name: str, problem_key: str) -> bool:
    return problem_key == field_name or problem_key.startswith((field_name + ".", field_name + "["))


def _shown(widget: Widget) -> bool:
    """Whether a widget and all its ancestors are displayed (hidden option groups keep no messages)."""
    node: Any = widget
    while node is not None and isinstance(node, Widget):
        if not node.display:
            return False
        node = node.parent
    return True


# Shipped inside the screens package, so a wheel or .deb install finds them next to the code.
ASSETS = Path(str(resources.files("screens") / "assets"))
