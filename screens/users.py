"""The users step, shown with a password variant (EAP, XAUTH, L2TP) only: its users, with generated or
typed passwords.

One list for all three: a user can log in through several variants. The answers keep a list per
variant; this screen merges them by name and splits them again. A user has one password for all their
variants ("Same password for all", on by default: one generated password, see wizard.model.credentials),
or one per variant.
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
    password: Any  # the one password for all variants (same: True), else the first variant's
    same: bool = True
    own: tuple[tuple[str, Any], ...] = ()  # same: False: (alias, password) per variant

    def password_for(self, alias: str) -> Any:
        return dict(self.own).get(alias, self.password) if not self.same else self.password


def _plain(secret: Any) -> Any:
    return secret.model_dump(exclude_none=True, mode="json") if hasattr(secret, "model_dump") else secret


def enabled_user_variants(variants: Variants) -> list[tuple[str, str, str]]:
    local = variants.with_local_users()  # users kept in RADIUS are not listed here
    return [v for v in USER_VARIANTS if v[0] in local]


def merge(variants: Variants) -> list[UserEntry]:
    logins: dict[str, list[tuple[str, Any, bool]]] = {}
    for alias, attr, _ in USER_VARIANTS:
        section = getattr(variants, attr)
        for user in section.users if section is not None else []:
            logins.setdefault(user.name, []).append((alias, user.password, user.own_password))
    out = []
    for name, found in logins.items():
        # One password for all unless a variant has its own: a flag, or a reference that differs.
        same = not any(own for _a, _p, own in found) and all(p == found[0][1] for _a, p, _o in found)
        out.append(UserEntry(name, tuple(a for a, _p, _o in found), found[0][1], same,
                             () if same else tuple((a, p) for a, p, _o in found)))
    return out


def split(variants: Variants, entries: list[UserEntry]) -> dict[str, Any]:
    """The variants as plain data with each enabled variant's user list rebuilt from ``entries``."""
    data = variants.model_dump(by_alias=True, exclude_none=True, mode="json")
    for alias, attr, _ in USER_VARIANTS:
        if getattr(variants, attr) is None:
            continue
        data[alias]["users"] = [
            {"name": e.name, "password": _plain(e.password_for(alias)), **({} if e.same else {"own_password": True})}
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
        with Horizontal(classes="variant-row login-row"):
            yield Static("Logs in with", classes="field-label")
            for alias, _attr, label in self.choices:
                yield Check(label, value=(alias in u.variants) if u else True, id=f"user-{alias}", compact=True)
        yield Field("", Static(""), classes="catch-all", field="user.variants")
        same = u.same if u else True
        if len(self.choices) > 1:
            yield Check("Same password for all", value=same, id="user-same", compact=True)
        yield SecretField("Password", field="user.password", key="user-pending",
                          current=u.password if u else GENERATE, generated=GENERATE, id="user-password")
        for alias, _attr, label in self.choices:
            own = u.password_for(alias) if u and alias in u.variants else GENERATE
            yield SecretField(f"{label}", field=f"user.password.{alias}", key="user-pending",
                              current=own, generated=GENERATE, id=f"user-password-{alias}")

    def on_mount(self) -> None:
        self._show_passwords()
        super().on_mount()

    def chosen(self) -> tuple[str, ...]:
        return tuple(alias for alias, _a, _l in self.choices if self.query_one(f"#user-{alias}", Checkbox).value)

    def same(self) -> bool:
        """One password for all the user's variants: asked for, or only one variant chosen."""
        boxes = self.query("#user-same").results(Checkbox)
        return next((box.value for box in boxes), True) or len(self.chosen()) < 2

    def _show_passwords(self) -> None:
        """One password field, or one per chosen variant: hidden fields keep no problems (forms._shown)."""
        same, chosen = self.same(), self.chosen()
        self.query_one("#user-password", SecretField).display = same
        for alias, _attr, _label in self.choices:
            self.query_one(f"#user-password-{alias}", SecretField).display = not same and alias in chosen

    def on_checkbox_changed(self) -> None:
        self._show_passwords()
        super().on_checkbox_changed()

    def entry(self) -> UserEntry:
        name = self.query_one("#user-name", Input).value.strip()
        secret = self.query_one("#user-password", SecretField)
        secret.key = typed_key("user", name)
        chosen = self.chosen()
        if self.same():
            return UserEntry(name, chosen, secret.value())
        own = []
        for alias in chosen:
            field = self.query_one(f"#user-password-{alias}", SecretField)
            field.key = typed_key(f"user-{alias}", name)
            own.append((alias, field.value()))
        return UserEntry(name, chosen, own[0][1], False, tuple(own))

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
        if widget.field.startswith("user.password."):
            return f".{widget.field.rsplit('.', 1)[1]}.users" in key and key.endswith(".password")
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
        return (item.name, *marks, secret_label(item.password) if item.same else "per variant")

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

