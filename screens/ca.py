"""The certificate authority step: create one (DN, key type, lifetime, passphrase) or import one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, RadioButton, RadioSet, Static

from screens.forms import FormScreen
from screens.widgets.choice import Choice
from screens.widgets.field import Field, int_or_text, text_input
from screens.widgets.secret import SecretField
from screens.widgets.toggles import Radio, Radios
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model.answers import CA, Secret
from wizard.model.secrets import SecretSource
from wizard.pki.keytypes import KeyType
from wizard.pki.names import dn_value
from wizard.plan import staging
from wizard.plan.session import CaImport
from wizard.problems import InvalidAnswers

KEY_CHOICES: tuple[tuple[str, KeyType], ...] = (
    ("rsa-4096 (the article's CA key)", KeyType.RSA_4096),
    ("rsa-3072", KeyType.RSA_3072),
    ("rsa-2048", KeyType.RSA_2048),
    ("ecdsa-p256 (fast)", KeyType.ECDSA_P256),
    ("ecdsa-p384", KeyType.ECDSA_P384),
    ("ed25519 (not every client)", KeyType.ED25519),
)

KEEP_SAFE = ("Keep the CA key safe. It signs every certificate of this VPN: whoever holds it can let anyone "
             f"in. It stays in {paths.CA_KEY} (0600), where charon never looks; copy it to an offline place "
             "(a USB stick in a drawer) and keep no other copies.")


def key_select(value: KeyType, id: str, choices: tuple[tuple[str, KeyType], ...] = KEY_CHOICES) -> Choice[KeyType]:
    return Choice(choices, value=value, id=id)


def dn_fields(dn: str) -> dict[str, str] | None:
    """The C, O and CN of a DN made of at most those three, in that order; None for any other DN."""
    from cryptography.x509.oid import NameOID

    from wizard.pki import names

    labels = {NameOID.COUNTRY_NAME: "C", NameOID.ORGANIZATION_NAME: "O", NameOID.COMMON_NAME: "CN"}
    try:
        name = names.parse_dn(dn)
    except ValueError:
        return None
    found = [(labels.get(attr.oid), attr.value) for attr in name]
    keys = [key for key, _ in found if key is not None]
    if len(keys) != len(found) or len(set(keys)) != len(keys) or keys != sorted(keys, key=["C", "O", "CN"].index):
        return None
    return {str(key): str(value) for key, value in found}


@lru_cache(maxsize=8)
def _inspect(cert: str, key: str, passphrase: bytes | None, stamp: tuple[float, float]) -> staging.ImportedCa | str:
    # Cached per file state: an encrypted key costs a key derivation per attempt, and this runs per keystroke.
    try:
        return staging.inspect_ca(cert, key, passphrase)
    except ValueError as exc:
        return str(exc)


def stored_passphrase(secret: Secret | None, environ: Mapping[str, str], root: Root | None = None,
                      typed: Mapping[str, str] | None = None) -> tuple[bytes | None, str]:
    """The passphrase an {env}/{file} reference holds (a typed one: from the session, else under ``root``), or
    None and why it cannot be read (a variable not set yet, a missing file): the screen shows the reason.
    Anything else is a bug and is not caught."""
    try:
        source = SecretSource(environ=environ, root=root or Root.of(None), typed=typed or {})
        return source.resolve(secret, "ca.passphrase"), ""
    except InvalidAnswers as exc:
        return None, "; ".join(p.message for p in exc.problems)


def inspect_import(cert: str, key: str, passphrase: bytes | None) -> staging.ImportedCa | str:
    try:
        stamp = (Path(cert).stat().st_mtime, Path(key).stat().st_mtime)
    except OSError:
        stamp = (0.0, 0.0)
    return _inspect(cert, key, passphrase, stamp)


class CaScreen(FormScreen):
    HELP = "ca"
    _passphrase_problem = ""  # why the stored passphrase reference cannot be read, when it cannot

    def form(self) -> ComposeResult:
        ca = self.ctx.answers.ca
        assert self.ctx.session is not None, "the CA step comes after the welcome step"
        imported = self.ctx.session.ca_import
        with Radios(id="ca-mode", compact=True):
            yield Radio("Create a new CA", value=imported is None, id="ca-create", compact=True)
            yield Radio("Import an existing CA", value=imported is not None, id="ca-import", compact=True)
        parts = dn_fields(ca.dn)
        with Vertical(id="create-group", classes="group" + (" -hidden" if imported else "")):
            if parts is not None:
                # The article's three DN fields; a DN with other attributes (from an answers file) is
                # edited whole below instead.
                yield Field("Country (C)", text_input(parts.get("C", ""), id="ca-dn-c", placeholder="CH"),
                            field="ca.dn#C", hint="two letters; may stay empty")
                yield Field("Organization (O)", text_input(parts.get("O", ""), id="ca-dn-o"), field="ca.dn#O")
                yield Field("Common name (CN)", text_input(parts.get("CN", ""), id="ca-dn-cn"), field="ca.dn#CN")
                yield Field("", Static(""), classes="catch-all", field="ca.dn", exact=True)
            else:
                yield Field("Distinguished name", text_input(ca.dn, id="ca-dn"), field="ca.dn",
                            hint="C country, O organization, CN common name")
            yield Field("Key type", key_select(ca.key, "ca-key"), field="ca.key")
            yield Field("Lifetime (days)", text_input(str(ca.lifetime_days), id="ca-lifetime"),
                        field="ca.lifetime_days", hint="the article: 3650 (10 years)")
        with Vertical(id="import-group", classes="group" + ("" if imported else " -hidden")):
            yield Field("CA certificate (PEM)", text_input(imported.cert if imported else "", id="ca-cert-file"),
                        field="ca_import.cert")
            yield Field("CA key (PEM)", text_input(imported.key if imported else "", id="ca-key-file"),
                        field="ca_import.key")
            yield Static("", id="import-info", markup=False)
        yield SecretField("Key passphrase", field="ca.passphrase", key="ca-passphrase",
                          current=ca.passphrase, choices=("none", "type"), id="ca-passphrase")
        yield Static(KEEP_SAFE, id="keep-safe", classes="warning", markup=False)

    @property
    def importing(self) -> bool:
        return self.query_one("#ca-import", RadioButton).value

    @on(RadioSet.Changed, "#ca-mode")
    def _mode(self) -> None:
        self.query_one("#create-group").set_class(self.importing, "-hidden")
        self.query_one("#import-group").set_class(not self.importing, "-hidden")

    def _passphrase(self) -> bytes | None:
        secret = self.query_one(SecretField)
        self._passphrase_problem = ""
        if secret.kind == "type":
            text, _ = secret.typed_text()
            if text:
                return text.encode()
        typed = self.ctx.session.typed if self.ctx.session else {}
        passphrase, self._passphrase_problem = stored_passphrase(secret.value(), os.environ, self.ctx.root, typed)
        return passphrase

    def _import_files(self) -> tuple[str, str]:
        return (self.query_one("#ca-cert-file", Input).value.strip(),
                self.query_one("#ca-key-file", Input).value.strip())

    def _imported(self) -> staging.ImportedCa | str | None:
        cert, key = self._import_files()
        if not cert or not key:
            return None
        return inspect_import(cert, key, self._passphrase())

    def sections(self) -> dict[str, Any]:
        passphrase = self.query_one(SecretField).value()
        if self.importing:
            found = self._imported()
            if isinstance(found, staging.ImportedCa):
                return {"ca": CA(dn=found.dn, key=found.key, lifetime_days=found.lifetime_days,
                                 passphrase=passphrase)}
            return {"ca": self.ctx.answers.ca}
        plain: dict[str, Any] = {
            "dn": self._dn(),
            "key": self.query_one("#ca-key", Choice).value,
            "lifetime_days": int_or_text(self.query_one("#ca-lifetime", Input).value),
        }
        if passphrase is not None:
            plain["passphrase"] = passphrase
        return {"ca": plain}

    def _dn(self) -> str:
        whole = self.query("#ca-dn")
        if whole:
            return self.query_one("#ca-dn", Input).value
        values = {key: self.query_one(f"#ca-dn-{key.lower()}", Input).value.strip() for key in ("C", "O", "CN")}
        return ", ".join(f"{key}={dn_value(value)}" for key, value in values.items() if value)

    def claims(self, widget: Field, key: str) -> bool:
        # A DN problem about the country goes under Country, where the focus goes too; the rest of the
        # DN's problems sit below its last field.
        if key == "ca.dn" and widget.field in ("ca.dn#C", "ca.dn") and self._country_problem():
            return widget.field == "ca.dn#C"
        return super().claims(widget, key)

    def _country_problem(self) -> bool:
        if not self.query("#ca-dn-c") or self.checked is None:
            return False
        message = self.checked.problems.get("ca.dn", "")
        country = self.query_one("#ca-dn-c", Input).value.strip()
        return bool(country) and f"C={country}" in message

    def ui_problems(self) -> dict[str, str]:
        out = super().ui_problems()
        if self.importing:
            cert, key = self._import_files()
            if not cert:
                out["ca_import.cert"] = "give the CA certificate file"
            if not key:
                out["ca_import.key"] = "give the CA key file"
            found = self._imported()
            info = self.query_one("#import-info", Static)
            if isinstance(found, str):
                out["ca_import.key"] = found
                if self._passphrase_problem:  # why the passphrase given could not be tried
                    out["ca.passphrase"] = self._passphrase_problem
                info.update("")
            elif found is not None:
                info.update(f"CA: {found.dn}, {found.key.value}, valid until {found.not_after:%Y-%m-%d}"
                            + (", key encrypted" if found.encrypted else ""))
        return out

    def session_changes(self) -> dict[str, Any]:
        if self.importing:
            cert, key = self._import_files()
            return {"ca_import": CaImport(str(Path(cert).resolve()), str(Path(key).resolve()))}
        return {"ca_import": None}
