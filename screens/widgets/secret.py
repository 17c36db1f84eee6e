"""How one secret is given on a form: generated, typed (kept by the session, referenced by file), none, or kept."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, RadioSet

from screens.widgets.field import Field, text_input
from screens.widgets.toggles import Radio, Radios


class SecretField(Widget):
    """How one secret is given: generated, typed (kept by the session, referenced by file), none, or kept.

    The typed value never goes into the answers: :meth:`value` returns the ``{file: ...}`` reference
    and :meth:`typed`, separately, the text for the app to keep in memory.
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

    def __init__(self, label: str, *, field: str, key: str, current: Any,
                 choices: tuple[str, ...] = ("generate", "type"), generated: Any = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.field = field
        self.key = key
        self.current = current
        self.generated = generated  # the value "generate" stands for (None: the model's default)
        from wizard.model.secrets import typed_key

        typed = typed_key(current) is not None
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
            with Radios(id=f"{prefix}-kind", compact=True):
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
            from wizard.model.secrets import typed_ref

            if self.had_typed and not self.typed_text()[0]:
                return self.current  # unchanged: the secret already kept under its key (a renamed user too)
            return typed_ref(self.key)
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

    def warnings(self) -> dict[str, str]:
        """A weak typed password: said under it, in zxcvbn's words; the admin may keep it."""
        if self.kind != "type":
            return {}
        from wizard.model.strength import weakness

        why = weakness(self.typed_text()[0])
        return {f"{self.field}#typed": why} if why else {}

    def typed(self) -> dict[str, str]:
        if self.kind != "type":
            return {}
        text, _ = self.typed_text()
        return {self.key: text} if text else {}
