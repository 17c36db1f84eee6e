"""Forms validated as you type with the answers loader's own rules and messages: the form steps, the
item dialogs (a client, a user, a peer) and the steps that edit a list of items through them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Static

from screens.base import StepScreen
from screens.context import SectionsEdited, StepResult
from screens.widgets.field import Field
from screens.widgets.secret import SecretField
from wizard.fs.paths import Root

if TYPE_CHECKING:
    # Only for annotations: the answers model (pydantic) is imported when a form first validates, so the
    # welcome screen paints without paying for it (bench/bench_tui.py measures start-up).
    from wizard.model import field_check
    from wizard.model.answers import Answers


# The form code is shared by full screens and modal dialogs; it runs on a Screen and uses its query().
if TYPE_CHECKING:
    _FormHost = Screen[Any]
else:
    _FormHost = object


# From this many clients and users on, a form checks the answers when typing pauses, not on every key.
LARGE_ANSWERS = 500
TYPING_PAUSE = 0.3


def _answers_size(answers: Answers) -> int:
    v = answers.variants
    return len(answers.clients) + sum(len(s.users) for s in (v.ikev2_eap, v.ikev1_xauth, v.l2tp) if s is not None)


class FormMixin(_FormHost):
    """Validation as you type, shared by step screens and item dialogs.

    The sections the form edits (:meth:`sections`, plain data or models) are checked inside the whole
    answers (``wizard.model.field_check``), so each field shows exactly the loader's message for it; checks the
    loader cannot make (a password typed twice) come from :meth:`ui_problems`. Problems and notes no field
    claims are listed under the form.
    """

    checked: field_check.Checked | None = None
    problems_text: str = ""
    _pending_check: Timer | None = None

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

    def ui_warnings(self) -> dict[str, str]:
        """Notes the loader cannot make (a weak typed password), by field: shown, never blocking."""
        out: dict[str, str] = {}
        for secret in self.query(SecretField):
            if _shown(secret):
                out.update(secret.warnings())
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
        from wizard.model.wording import label

        sections = self.sections()
        checked = field_check.check(self.base_answers(), sections)
        extra = self.ui_problems()
        extra_notes = self.ui_warnings()
        problems = {**checked.problems, **extra}
        self.checked = checked
        claimed: set[str] = set()
        noted: set[str] = set()
        for widget in self.query(Field):
            if not _shown(widget):
                continue
            mine = [k for k in extra if widget.field == k] + [k for k in checked.problems if self.claims(widget, k)]
            notes = [k for k in checked.warnings if self.claims(widget, k)]
            note = extra_notes.get(widget.field) or (checked.warnings[notes[0]] if notes else None)
            widget.set_message(problems[mine[0]] if mine else None, note)
            claimed.update(mine)
            noted.update(notes)
        rest = [f"{label(k)}: {m}" for k, m in problems.items() if k not in claimed]
        # Notes only about what this form edits: "no client certificate" is news on the clients step only.
        rest += [f"note: {label(k)}: {m}" for k, m in checked.warnings.items()
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

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == LIST_FILTER:
            return  # narrows a list; edits no answer
        if _answers_size(self.base_answers()) < LARGE_ANSWERS:
            self.revalidate()
            return
        # Answers this large take a noticeable time to check (every client is validated): the check waits
        # for a pause in the typing instead of running on every key. OK and Next check at once anyway.
        if self._pending_check is not None:
            self._pending_check.stop()
        self._pending_check = self.set_timer(TYPING_PAUSE, self.revalidate)

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
        self.dismiss(SectionsEdited("next", changes=self.result_changes(), typed=self.typed(),
                                    session_changes=self.session_changes()))

    def action_back(self) -> None:
        # Going back keeps what is valid on this screen, and drops it otherwise (the screen said why).
        self.revalidate()
        if self.valid:
            self.dismiss(SectionsEdited("back", changes=self.result_changes(), typed=self.typed(),
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


# A list this long gets a filter line above it ("/" to reach it): type part of a name to narrow the rows.
FILTER_FROM = 20
LIST_FILTER = "list-filter"


class ListFormScreen(FormScreen):
    """A step that edits a list of items through an item dialog: add, edit (or Enter on a row), remove.
    A long list can be narrowed by typing part of a row into the filter line."""

    BINDINGS: ClassVar[list[Any]] = [
        Binding("a", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("delete", "remove", "Remove"),
        Binding("slash", "filter", "Filter", show=False),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.items: list[Any] = self.initial_items()
        self.pending_typed: dict[str, str] = {}
        self.filter_text = ""
        self.shown_items: list[int] = []  # the items shown, in table order
        self._pending_filter: Timer | None = None

    def initial_items(self) -> list[Any]:
        raise NotImplementedError

    def dialog(self, index: int) -> FormDialog:
        """The dialog that edits item ``index`` (== len(items): a new one)."""
        raise NotImplementedError

    def columns(self) -> tuple[str, ...]:
        """The table's column titles."""
        raise NotImplementedError

    def row(self, item: Any) -> tuple[str, ...]:
        """One item as a table row, in the order of :meth:`columns`."""
        raise NotImplementedError

    def items_table(self, table_id: str) -> ComposeResult:
        from textual.widgets import DataTable

        yield Input(placeholder="filter: type part of a name", id=LIST_FILTER, compact=True)
        yield DataTable(id=table_id, cursor_type="row", zebra_stripes=True)
        yield from self.row_buttons()

    def on_mount(self) -> None:
        from textual.widgets import DataTable

        table = self.query_one(DataTable)
        table.add_columns(*self.columns())
        self._fill()
        table.focus()

    def matching(self) -> list[int]:
        """The items whose row holds the filter text (any case), in list order."""
        needle = self.filter_text.strip().casefold()
        if not needle:
            return list(range(len(self.items)))
        return [i for i, item in enumerate(self.items) if needle in "\t".join(self.row(item)).casefold()]

    def _fill(self) -> None:
        """Show the matching items in the screen's table; the cursor stays on the row it was on."""
        from textual.widgets import DataTable

        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        self.shown_items = self.matching()
        for index in self.shown_items:
            table.add_row(*self.row(self.items[index]))
        if self.shown_items:
            table.move_cursor(row=min(row, len(self.shown_items) - 1))
        self.query_one(f"#{LIST_FILTER}", Input).display = len(self.items) >= FILTER_FROM or bool(self.filter_text)

    @on(Input.Changed, f"#{LIST_FILTER}")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        if len(self.items) < LARGE_ANSWERS:
            self._fill()
            return
        # Refilling thousands of rows on every key would lag: the table follows when typing pauses.
        if self._pending_filter is not None:
            self._pending_filter.stop()
        self._pending_filter = self.set_timer(TYPING_PAUSE, self._fill)

    @on(Input.Submitted, f"#{LIST_FILTER}")
    def _filter_done(self) -> None:
        from textual.widgets import DataTable

        self._fill()
        self.query_one(DataTable).focus()

    def action_filter(self) -> None:
        box = self.query_one(f"#{LIST_FILTER}", Input)
        if box.display:
            box.focus()

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

    def _cursor_item(self) -> int | None:
        """The index in ``items`` of the row under the cursor (None: no row shown)."""
        from textual.widgets import DataTable

        row = self.query_one(DataTable).cursor_row
        return self.shown_items[row] if 0 <= row < len(self.shown_items) else None

    @on(Button.Pressed, "#add")
    def action_add(self) -> None:
        self._edit(len(self.items))

    @on(Button.Pressed, "#edit")
    def action_edit(self) -> None:
        index = self._cursor_item()
        if index is not None:
            self._edit(index)

    def on_data_table_row_selected(self, event: Any) -> None:
        if 0 <= event.cursor_row < len(self.shown_items):
            self._edit(self.shown_items[event.cursor_row])

    @on(Button.Pressed, "#remove")
    def action_remove(self) -> None:
        index = self._cursor_item()
        if index is not None:
            del self.items[index]
            # A removed item's typed password goes from memory now (the app drops it from the session
            # file when the step ends and the answers no longer name it).
            kept = _typed_keys(self.sections())
            self.pending_typed = {k: v for k, v in self.pending_typed.items() if k in kept}
            self._fill()
            self.revalidate()


def _typed_keys(data: object) -> set[str]:
    """The typed-secret keys referenced in sections (models or their plain data)."""
    from pydantic import BaseModel

    from wizard.model.answers import SecretRef
    from wizard.model.secrets import secret_refs, typed_key

    if isinstance(data, BaseModel):
        return {key for _where, ref in secret_refs(data) if (key := typed_key(ref)) is not None}
    if isinstance(data, dict):
        own = typed_key(SecretRef(file=data["file"])) if set(data) == {"file"} and isinstance(data["file"], str) \
            else None
        return ({own} if own else set()).union(*(_typed_keys(v) for v in data.values()))
    if isinstance(data, list | tuple):
        return set().union(*(_typed_keys(v) for v in data))
    return set()


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
