"""The users step, shown with a password variant (EAP, XAUTH, L2TP) only: its users, with generated or
typed passwords.

One list for all three: a user can log in through several variants. The answers keep a list per
variant; this screen merges them by name and splits them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Static

from screens.clients import secret_label, typed_key
from screens.forms import FormDialog, ListFormScreen
from screens.widgets.field import Field, text_input
from screens.widgets.secret import SecretField
from screens.widgets.toggles import Check
from wizard.fs.paths import Root
from wizard.model.answers import GENERATE, Answers, Client, Variants, users_without_certificate

USER_VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("ikev2-eap", "ikev2_eap", "IKEv2 EAP"),
    ("ikev1-xauth", "ikev1_xauth", "IKEv1 XAUTH"),
    ("l2tp", "l2tp", "L2TP"),
)


@dataclass(frozen=True)
class UserEntry:
    name: str
    variants: tuple[str, ...]  # aliases: ikev2-eap, ikev1-xauth, l2tp
    password: Any


def enabled_user_variants(variants: Variants) -> list[tuple[str, str, str]]:
    local = variants.with_local_users()  # users kept in RADIUS are not listed here
    return [v for v in USER_VARIANTS if v[0] in local]


def merge(variants: Variants) -> list[UserEntry]:
    entries: dict[str, UserEntry] = {}
    for alias, attr, _ in USER_VARIANTS:
        section = getattr(variants, attr)
        for user in section.users if section is not None else []:
            old = entries.get(user.name)
            entries[user.name] = UserEntry(user.name, (*old.variants, alias) if old else (alias,),
                                           old.password if old else user.password)
    return list(entries.values())


def split(variants: Variants, entries: list[UserEntry]) -> dict[str, Any]:
    """The variants as plain data with each enabled variant's user list rebuilt from ``entries``."""
    data = variants.model_dump(by_alias=True, exclude_none=True, mode="json")
    for alias, attr, _ in USER_VARIANTS:
        if getattr(variants, attr) is None:
            continue
        data[alias]["users"] = [
            {"name": e.name, "password": e.password.model_dump(exclude_none=True, mode="json")
             if hasattr(e.password, "model_dump") else e.password}
            for e in entries if alias in e.variants]
    return data


class UserDialog(FormDialog):
    HELP = "users"

    def __init__(self, answers: Answers, root: Root, entries: list[UserEntry], index: int) -> None:
        super().__init__(answers, root)
        self.entries = entries
        self.index = index
        self.original = entries[index] if index < len(entries) else None
        self.TITLE_TEXT = "Edit user" if self.original else "Add a user"
        self.choices = enabled_user_variants(answers.variants)

    def form(self) -> ComposeResult:
        u = self.original
        yield Field("Name", text_input(u.name if u else "", id="user-name", placeholder="alice"), field="user.name")
        with Horizontal(classes="variant-row"):
            yield Static("Logs in with", classes="field-label")
            for alias, _attr, label in self.choices:
                yield Check(label, value=(alias in u.variants) if u else True, id=f"user-{alias}", compact=True)
        yield Field("", Static(""), classes="catch-all", field="user.variants")
        yield SecretField("Password", field="user.password", key="user-pending",
                          current=u.password if u else GENERATE, generated=GENERATE, id="user-password")

    def entry(self) -> UserEntry:
        name = self.query_one("#user-name", Input).value.strip()
        secret = self.query_one(SecretField)
        secret.key = typed_key("user", name)
        chosen = tuple(alias for alias, _a, _l in self.choices if self.query_one(f"#user-{alias}", Checkbox).value)
        return UserEntry(name, chosen, secret.value())

    def sections(self) -> dict[str, Any]:
        entries = list(self.entries)
        if self.index < len(entries):
            entries[self.index] = self.entry()
        else:
            entries.append(self.entry())
        return {"variants": split(self.answers.variants, entries)}

    def ui_problems(self) -> dict[str, str]:
        out = super().ui_problems()
        if not self.entry().variants:
            out["user.variants"] = "choose at least one way to log in"
        return out

    def claims(self, widget: Field, key: str) -> bool:
        # The loader names the user inside one variant's list; here it is the one user being edited.
        if widget.field == "user.name":
            # "variants": one user spelled two ways across the variants (Dave on EAP, dave on XAUTH).
            return key == "variants" or (".users" in key and (key.endswith(".name") or key.endswith(".users")))
        if widget.field == "user.password":
            return ".users" in key and key.endswith(".password")
        return super().claims(widget, key)

    def item(self) -> UserEntry:
        return self.entry()


def nocert_text(missing: list[tuple[str, str]]) -> str:
    if not missing:
        return ""
    by_user: dict[str, list[str]] = {}
    for alias, name in missing:
        by_user.setdefault(name, []).append(alias)
    who = "; ".join(f"{name} ({', '.join(aliases)})" for name, aliases in by_user.items())
    return f"No client certificate, so they cannot log in (auth: cert): {who}."


class UsersScreen(ListFormScreen):
    HELP = "users"

    def initial_items(self) -> list[Any]:
        return merge(self.ctx.answers.variants)

    @property
    def entries(self) -> list[Any]:
        return self.items

    def dialog(self, index: int) -> UserDialog:
        return UserDialog(self.ctx.answers, self.ctx.root, self.entries, index)

    def form(self) -> ComposeResult:
        names = ", ".join(label for _a, _b, label in enabled_user_variants(self.ctx.answers.variants))
        yield Static(f"Users who log in with a name and password ({names}).", classes="explain", markup=False)
        yield from self.items_table("users-table")
        # Certificate-then-password logins: a user without a certificate of the same name cannot log in.
        with Vertical(id="nocert", classes="nocert"):
            yield Static("", id="nocert-text", classes="warning", markup=False)
            yield Button("Issue certificates", id="issue-certs", compact=True)

    def columns(self) -> tuple[str, ...]:
        return ("Name", *(label for _a, _b, label in USER_VARIANTS), "Password")

    def row(self, item: Any) -> tuple[str, ...]:
        marks = ["yes" if alias in item.variants else "-" for alias, _b, _c in USER_VARIANTS]
        return (item.name, *marks, secret_label(item.password))

    def sections(self) -> dict[str, Any]:
        out: dict[str, Any] = {"variants": split(self.ctx.answers.variants, self.entries)}
        if self.issue:
            # Issued with the Clients step's defaults (generated PKCS#12 password); edited there like any other.
            out["clients"] = [*self.ctx.answers.clients, *(Client(name=n) for n in self.issue)]
        return out

    issue: tuple[str, ...] = ()

    def revalidate(self) -> Any:
        checked = super().revalidate()
        missing = users_without_certificate(checked.answers) if checked.answers is not None else []
        names = list(dict.fromkeys(name for _alias, name in missing))
        for box in self.query("#nocert"):
            box.display = bool(names)
            box.query_one("#nocert-text", Static).update(nocert_text(missing))
            box.query_one("#issue-certs", Button).label = f"Issue client certificates for {', '.join(names)}"
        self.missing = names
        return checked

    missing: list[str] = []  # noqa: RUF012 -- replaced, never mutated

    @on(Button.Pressed, "#issue-certs")
    def _issue(self) -> None:
        self.issue = (*self.issue, *(n for n in self.missing if n not in self.issue))
        self.revalidate()
        self.notify(f"Client certificates will be issued for {', '.join(self.issue)} (see the Clients step).",
                    timeout=5)

