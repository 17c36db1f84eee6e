"""The host certificate step: the address clients dial, extra names, key type and lifetime."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Input, Static

from screens.ca import key_select
from screens.forms import FormScreen
from screens.widgets.choice import Choice
from screens.widgets.field import Field, int_or_text, split_list, text_input
from wizard.fs import paths
from wizard.model.answers import default_ca_dn
from wizard.pki.keytypes import KeyType

HOST_KEYS: tuple[tuple[str, KeyType], ...] = (
    ("rsa-2048 (the article; safe for Apple)", KeyType.RSA_2048),
    ("rsa-3072", KeyType.RSA_3072),
    ("rsa-4096", KeyType.RSA_4096),
    ("ecdsa-p256", KeyType.ECDSA_P256),
    ("ecdsa-p384", KeyType.ECDSA_P384),
    ("ed25519", KeyType.ED25519),
)

WHY = ("Clients check that the name they dialled is in the server's certificate: it goes into the CN and the "
       "subjectAltName, or the connection fails. Every extra name clients may use goes into the subjectAltName "
       "too. serverAuth (the Windows client insists) and ikeIntermediate (older macOS) are always set.")


class HostScreen(FormScreen):
    HELP = "host"

    def form(self) -> ComposeResult:
        answers = self.ctx.answers
        detected = self.ctx.report.detected if self.ctx.report else None
        hint = "the name or IP clients type into their VPN settings"
        if detected and detected.address:
            others = [a for a in detected.addresses if a != detected.address]
            hint = f"detected: {detected.address} on {detected.interface} (default route)"
            if others:
                hint += f"; also {', '.join(others)}"
            if detected.fqdn:
                hint += f"; host name {detected.fqdn}"
        yield Field("Address clients dial", text_input(answers.server.address, id="server-address"),
                    field="server.address", hint=hint)
        yield Field("Extra names", text_input(", ".join(answers.server.alt_names), id="server-alt-names",
                                              placeholder="e.g. vpn.example.org, 203.0.113.10"),
                    field="server.alt_names", hint="other DNS names or IPs clients may dial, comma-separated")
        yield Field("Key type", key_select(answers.host.key, "host-key", HOST_KEYS), field="host.key")
        yield Field("Lifetime (days)", text_input(str(answers.host.lifetime_days), id="host-lifetime"),
                    field="host.lifetime_days", hint="the article: 730; Apple accepts at most 825")
        yield Static(WHY, id="why", classes="explain", markup=False)

    def sections(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "server": {"address": self.query_one("#server-address", Input).value.strip(),
                       "alt_names": split_list(self.query_one("#server-alt-names", Input).value)},
            "host": {"key": self.query_one("#host-key", Choice).value,
                     "lifetime_days": int_or_text(self.query_one("#host-lifetime", Input).value)},
        }
        if self._ca_dn_follows():
            # The CA step showed a DN named after the address known then; a new address renames it.
            out["ca"] = self.ctx.answers.ca.model_dump(by_alias=True, exclude_none=True, mode="json", exclude={"dn"})
        return out

    def _ca_dn_follows(self) -> bool:
        """Whether the CA's DN is still the one derived from the address and no CA exists yet to keep it."""
        answers = self.ctx.answers
        if answers.ca.dn != default_ca_dn(answers.server.address):
            return False
        try:
            return not self.ctx.root(paths.CA_CERT).exists()
        except ValueError:  # a link on the way: keep the DN, the apply reports the link
            return False
