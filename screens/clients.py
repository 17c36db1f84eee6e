"""The clients step: client identities: add, edit and remove; key type, lifetime and PKCS#12 password each."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Input, Static

from screens.ca import key_select
from screens.forms import FormDialog, ListFormScreen
from screens.host import HOST_KEYS
from screens.widgets.choice import Choice
from screens.widgets.field import Field, int_or_text, text_input
from screens.widgets.secret import SecretField
from wizard.fs.paths import Root
from wizard.model.answers import GENERATE, Answers, Client, SecretRef
from wizard.plan.session import SECRET_KEY, is_typed_ref

ENCRYPTIONS = (("legacy: 3DES, imports everywhere", "legacy"), ("aes256: stronger, newer clients only", "aes256"))


def secret_label(secret: Any) -> str:
    if secret is None:
        return "-"
    if isinstance(secret, SecretRef):
        if secret.generate:
            return "generated"
        if is_typed_ref(secret):
            return "typed"
        if secret.env:
            return f"env {secret.env}"
        if secret.file:
            return "file"
    return "literal"


def typed_key(prefix: str, name: str) -> str:
    """The file name key of a typed secret; falls back while the name is not valid yet."""
    candidate = f"{prefix}-{name}"
    return candidate if SECRET_KEY.match(candidate) else f"{prefix}-pending"


class ClientDialog(FormDialog):
    HELP = "clients"

    def __init__(self, answers: Answers, root: Root, clients: list[Client], index: int) -> None:
        super().__init__(answers, root)
        self.clients = clients
        self.index = index
        self.original = clients[index] if index < len(clients) else None
        self.TITLE_TEXT = "Edit client" if self.original else "Add a client"

    def form(self) -> ComposeResult:
        c = self.original or Client(name="client")
        i = self.index
        yield Field("Name", text_input(self.original.name if self.original else "", id="client-name",
                                       placeholder="alice@example.com"),
                    field=f"clients[{i}].name", hint="an e-mail address (rfc822 SAN) or a plain name")
        yield Field("Key type", key_select(c.key, "client-key", HOST_KEYS), field=f"clients[{i}].key")
        yield Field("Lifetime (days)", text_input(str(c.lifetime_days), id="client-lifetime"),
                    field=f"clients[{i}].lifetime_days")
        yield SecretField("PKCS#12 password", field=f"clients[{i}].p12_password", key="p12-pending",
                          current=c.p12_password, generated=GENERATE, id="client-p12")
        yield Field("Bundle encryption", Choice(ENCRYPTIONS, value=c.p12_encryption, id="client-encryption"),
                    field=f"clients[{i}].p12_encryption")

    def client_name(self) -> str:
        return self.query_one("#client-name", Input).value.strip()

    def sections(self) -> dict[str, Any]:
        secret = self.query_one(SecretField)
        secret.key = typed_key("p12", self.client_name())
        item: dict[str, Any] = {
            "name": self.client_name(),
            "key": self.query_one("#client-key", Choice).value,
            "lifetime_days": int_or_text(self.query_one("#client-lifetime", Input).value),
            "p12_password": secret.value(),
            "p12_encryption": self.query_one("#client-encryption", Choice).value,
        }
        clients: list[Any] = list(self.clients)
        if self.index < len(clients):
            clients[self.index] = item
        else:
            clients.append(item)
        return {"clients": clients}

    def claims(self, widget: Field, key: str) -> bool:
        # "there is already a client 'Bob'" is about the name being typed here.
        if key == "clients" and widget.field.endswith(".name"):
            return True
        return super().claims(widget, key)

    def item(self) -> Client:
        assert self.checked is not None and self.checked.answers is not None
        return self.checked.answers.clients[self.index]


class ClientsScreen(ListFormScreen):
    HELP = "clients"

    def initial_items(self) -> list[Any]:
        return list(self.ctx.answers.clients)

    @property
    def clients(self) -> list[Client]:
        return self.items

    def dialog(self, index: int) -> ClientDialog:
        return ClientDialog(self.ctx.answers, self.ctx.root, self.clients, index)

    def form(self) -> ComposeResult:
        yield Static("Each client gets a key, a certificate naming it, and a PKCS#12 bundle to import.",
                     classes="explain", markup=False)
        yield from self.items_table("clients-table")

    def columns(self) -> tuple[str, ...]:
        return ("Name", "Key", "Days", "PKCS#12 password", "Encryption")

    def row(self, item: Any) -> tuple[str, ...]:
        c: Client = item
        return (c.name, c.key.value, str(c.lifetime_days), secret_label(c.p12_password),
                c.p12_encryption)

    def sections(self) -> dict[str, Any]:
        return {"clients": self.clients}

