"""The variants step: which of the article's VPN variants to run, their options, and the configuration layout."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, DataTable, Input, RadioSet, Static

from screens.clients import secret_label, typed_key
from screens.forms import Edited, FormDialog, FormScreen
from screens.widgets.field import Field, int_or_text, split_list, text_input
from screens.widgets.secret import SecretField
from screens.widgets.toggles import Check, Radio, Radios
from wizard.fs.paths import Root
from wizard.model.answers import Answers, TransportPeer

VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("ikev2-cert", "IKEv2 with certificates", "clients log in with their certificate"),
    ("ikev2-eap", "IKEv2 with EAP", "server cert; users log in with a password"),
    ("ikev1-xauth", "IKEv1 Cisco IPsec", "certificate or group PSK, then XAUTH"),
    ("transport", "Transport mode", "host-to-host IPsec with named peers"),
    ("l2tp", "L2TP/IPsec", "IKEv1 + xl2tpd: CHAP users, non-IP traffic"),
)


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json") if model is not None else {}


def radio(id: str, choices: tuple[tuple[str, str], ...], value: str) -> Radios:
    return Radios(*(Radio(label, value=key == value, id=f"{id}-{key}", compact=True)
                      for label, key in choices), id=id, compact=True, classes="inline")


def radio_value(radios: RadioSet, default: str) -> str:
    pressed = radios.pressed_button
    if pressed is None or pressed.id is None or radios.id is None:
        return default
    return pressed.id.removeprefix(f"{radios.id}-")


class PeerDialog(FormDialog):
    HELP = "variants"

    def __init__(self, answers: Answers, root: Root, peers: list[TransportPeer], index: int) -> None:
        super().__init__(answers, root)
        self.peers = peers
        self.index = index
        self.original = peers[index] if index < len(peers) else None
        self.TITLE_TEXT = "Edit transport peer" if self.original else "Add a transport peer"

    @property
    def prefix(self) -> str:
        return f"variants.transport.peers[{self.index}]"

    def form(self) -> ComposeResult:
        p = self.original
        yield Field("Name", text_input(p.name if p else "", id="peer-name", placeholder="office"),
                    field=f"{self.prefix}.name", hint="the connection is called transport-<name>")
        yield Field("Address", text_input(p.address if p else "", id="peer-address"), field=f"{self.prefix}.address")
        yield Field("Identity", text_input(p.id or "" if p else "", id="peer-id", placeholder="(its address)"),
                    field=f"{self.prefix}.id")
        yield Field("Authentication", radio("peer-auth", (("certificate", "cert"), ("pre-shared key", "psk")),
                                            p.auth if p else "cert"), field=f"{self.prefix}.auth")
        yield SecretField("Pre-shared key", field=f"{self.prefix}.psk", key="transport-pending",
                          current=p.psk if p else None, id="peer-psk")
        # Labels short enough for the three to fit the dialog at 80 columns.
        yield Field("Start", radio("peer-start", (("on traffic", "trap"), ("at once", "start"),
                                                  ("by the peer", "none")), p.start if p else "trap"),
                    field=f"{self.prefix}.start", hint="by the peer: this host waits for it to connect")

    def on_radio_set_changed(self) -> None:
        self.query_one("#peer-psk").display = radio_value(self.query_one("#peer-auth", RadioSet), "cert") == "psk"

    def on_mount(self) -> None:
        self.on_radio_set_changed()

    def sections(self) -> dict[str, Any]:
        name = self.query_one("#peer-name", Input).value.strip()
        secret = self.query_one(SecretField)
        secret.key = typed_key("transport", name)
        item: dict[str, Any] = {"name": name, "address": self.query_one("#peer-address", Input).value.strip(),
                                "auth": radio_value(self.query_one("#peer-auth", RadioSet), "cert"),
                                "start": radio_value(self.query_one("#peer-start", RadioSet), "trap")}
        identity = self.query_one("#peer-id", Input).value.strip()
        if identity:
            item["id"] = identity
        if item["auth"] == "psk" and secret.value() is not None:
            item["psk"] = secret.value()
        peers: list[Any] = list(self.peers)
        if self.index < len(peers):
            peers[self.index] = item
        else:
            peers.append(item)
        base = _dump(self.answers.variants)
        base["transport"] = {"peers": [_dump(p) if isinstance(p, TransportPeer) else p for p in peers]}
        return {"variants": base}

    def claims(self, widget: Field, key: str) -> bool:
        if key == "variants.transport.peers" and widget.field.endswith(".name"):
            return True  # "peer 'x' is listed twice"
        return super().claims(widget, key)

    def item(self) -> TransportPeer:
        assert self.checked is not None and self.checked.answers is not None
        transport = self.checked.answers.variants.transport
        assert transport is not None
        return transport.peers[self.index]


class VariantsScreen(FormScreen):
    HELP = "variants"
    BINDINGS: ClassVar[list[Any]] = [Binding("a", "add_peer", "Add peer", show=False)]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        transport = self.ctx.answers.variants.transport
        self.peers: list[TransportPeer] = list(transport.peers) if transport else []
        self.pending_typed: dict[str, str] = {}

    def form(self) -> ComposeResult:
        v = self.ctx.answers.variants
        enabled = set(v.enabled())
        yield Field("Layout", radio("layout", (("swanctl (modern)", "swanctl"),
                                               ("ipsec.conf (the article's)", "ipsec")), self.ctx.answers.layout),
                    field="layout")
        for key, title, what in VARIANTS:
            with Horizontal(classes="variant-row"):
                yield Check(title, value=key in enabled, id=f"use-{key}", compact=True)
                yield Static(what, classes="variant-what", markup=False)
            if key == "ikev2-eap":
                yield from self._eap_options()
            elif key == "ikev1-xauth":
                x = v.ikev1_xauth
                with Vertical(id="opts-ikev1-xauth", classes="variant-options"):
                    yield Field("Authentication", radio("xauth-auth", (("client certificate", "cert"),
                                                                       ("group PSK", "psk")), x.auth if x else "cert"),
                                field="variants.ikev1-xauth.auth")
                    yield SecretField("Group PSK", field="variants.ikev1-xauth.psk", key="xauth-psk",
                                      current=x.psk if x else None, id="xauth-psk")
            elif key == "transport":
                with Vertical(id="opts-transport", classes="variant-options"):
                    table: DataTable[str] = DataTable(id="peers-table", cursor_type="row")
                    yield table
                    with Horizontal(classes="row-buttons"):
                        yield Button("Add peer", id="add-peer", compact=True)
                        yield Button("Edit", id="edit-peer", compact=True)
                        yield Button("Remove", id="remove-peer", compact=True)
                    yield Field("", Static(""), classes="catch-all", field="variants.transport.peers")
            elif key == "l2tp":
                lt = v.l2tp
                with Vertical(id="opts-l2tp", classes="variant-options"):
                    auth = radio("l2tp-auth", (("pre-shared key", "psk"), ("certificate", "cert")),
                                 lt.auth if lt else "psk")
                    yield Field("Authentication", auth, field="variants.l2tp.auth")
                    yield SecretField("Pre-shared key", field="variants.l2tp.psk", key="l2tp-psk",
                                      current=lt.psk if lt else None, id="l2tp-psk")
                    yield Field("Address range", text_input(lt.ip_range if lt else "192.168.42.10-192.168.42.250",
                                                            id="l2tp-range"), field="variants.l2tp.ip_range")
                    yield Field("Server's PPP address", text_input(lt.local_ip if lt else "192.168.42.1",
                                                                   id="l2tp-local"), field="variants.l2tp.local_ip")
        yield Field("", Static(""), classes="catch-all", field="variants", exact=True)

    def _eap_options(self) -> ComposeResult:
        """Where EAP users live: here (the users step) or in a RADIUS server (one in the form; more in the file)."""
        answers = self.ctx.answers
        eap = answers.variants.ikev2_eap
        radius = answers.radius
        first = radius.servers[0] if radius and radius.servers else None
        with Vertical(id="opts-ikev2-eap", classes="variant-options"):
            yield Field("Users live in", radio("eap-backend", (("this server", "local"), ("a RADIUS server", "radius")),
                                               eap.backend if eap else "local"),
                        field="variants.ikev2-eap.backend",
                        hint="RADIUS: charon asks that server (eap-radius); users are added there")
            with Vertical(id="radius-options"):
                yield Field("RADIUS server", text_input(first.address if first else "", id="radius-address",
                                                        placeholder="192.0.2.10"),
                            field="radius.servers[0].address")
                yield Field("Ports", text_input(f"{first.port} {first.acct_port}" if first else "1812 1813",
                                                id="radius-ports"),
                            field="radius.servers[0].port", hint="authentication, then accounting")
                yield SecretField("Shared secret", field="radius.servers[0].secret", key="radius-0",
                                  current=first.secret if first else None, id="radius-secret")
                yield Check("Send accounting records (Start/Stop)", value=radius.accounting if radius else False,
                            id="radius-accounting", compact=True)
                if radius and len(radius.servers) > 1:
                    yield Static(f"{len(radius.servers) - 1} more server(s) in the answers file are kept as they are.",
                                 classes="field-hint", markup=False)
                yield Field("", Static(""), classes="catch-all", field="radius", exact=True)

    def _radius_section(self) -> dict[str, Any]:
        radius = _dump(self.ctx.answers.radius)
        servers = list(radius.get("servers", []))
        ports = split_list(self.query_one("#radius-ports", Input).value)
        first: dict[str, Any] = dict(servers[0]) if servers else {}
        first["address"] = self.query_one("#radius-address", Input).value.strip()
        if ports:
            first["port"] = int_or_text(ports[0])
        if len(ports) > 1:
            first["acct_port"] = int_or_text(ports[1])
        secret = self.query_one("#radius-secret", SecretField).value()
        first.pop("secret", None)
        if secret is not None:
            first["secret"] = secret
        radius["servers"] = [first, *servers[1:]]
        radius["accounting"] = self.query_one("#radius-accounting", Checkbox).value
        return radius

    def on_mount(self) -> None:
        table = self.query_one("#peers-table", DataTable)
        table.add_columns("Name", "Address", "Auth", "PSK", "Start")
        self._fill_peers()
        self._show_options()

    def _fill_peers(self) -> None:
        table = self.query_one("#peers-table", DataTable)
        table.clear()
        for p in self.peers:
            table.add_row(p.name, p.address, p.auth, secret_label(p.psk) if p.auth == "psk" else "-",
                          p.start)

    def _checked(self, key: str) -> bool:
        return self.query_one(f"#use-{key}", Checkbox).value

    def _show_options(self) -> None:
        for key in ("ikev2-eap", "ikev1-xauth", "transport", "l2tp"):
            self.query_one(f"#opts-{key}").display = self._checked(key)
        self.query_one("#radius-options").display = self._eap_backend() == "radius"
        xauth_psk = radio_value(self.query_one("#xauth-auth", RadioSet), "cert") == "psk"
        self.query_one("#xauth-psk").display = xauth_psk
        l2tp_psk = radio_value(self.query_one("#l2tp-auth", RadioSet), "psk") == "psk"
        self.query_one("#l2tp-psk").display = l2tp_psk

    def _eap_backend(self) -> str:
        return radio_value(self.query_one("#eap-backend", RadioSet), "local")

    def on_checkbox_changed(self) -> None:
        self._show_options()

    def on_radio_set_changed(self) -> None:
        self._show_options()

    def sections(self) -> dict[str, Any]:
        v = self.ctx.answers.variants
        data: dict[str, Any] = {}
        if self._checked("ikev2-cert"):
            data["ikev2-cert"] = _dump(v.ikev2_cert)
        out: dict[str, Any] = {}
        if self._checked("ikev2-eap"):
            eap = _dump(v.ikev2_eap)
            eap["backend"] = self._eap_backend()
            if eap["backend"] == "radius":
                # The users live in RADIUS now: the local list would only be refused.
                eap.pop("users", None)
                out["radius"] = self._radius_section()
            data["ikev2-eap"] = eap
        if self._checked("ikev1-xauth"):
            x = _dump(v.ikev1_xauth)
            x["auth"] = radio_value(self.query_one("#xauth-auth", RadioSet), "cert")
            psk = self.query_one("#xauth-psk", SecretField).value() if x["auth"] == "psk" else None
            x.pop("psk", None)
            if psk is not None:
                x["psk"] = psk
            data["ikev1-xauth"] = x
        if self._checked("transport"):
            data["transport"] = {"peers": [_dump(p) for p in self.peers]}
        if self._checked("l2tp"):
            lt = _dump(v.l2tp)
            lt["auth"] = radio_value(self.query_one("#l2tp-auth", RadioSet), "psk")
            psk = self.query_one("#l2tp-psk", SecretField).value() if lt["auth"] == "psk" else None
            lt.pop("psk", None)
            if psk is not None:
                lt["psk"] = psk
            lt["ip_range"] = self.query_one("#l2tp-range", Input).value.strip()
            lt["local_ip"] = self.query_one("#l2tp-local", Input).value.strip()
            data["l2tp"] = lt
        return {"layout": radio_value(self.query_one("#layout", RadioSet), "swanctl"), "variants": data, **out}

    def typed(self) -> dict[str, str]:
        return {**self.pending_typed, **super().typed()}

    def _edit_peer(self, index: int) -> None:
        def done(result: Edited | None) -> None:
            if result is None:
                return
            if index < len(self.peers):
                self.peers[index] = result.value
            else:
                self.peers.append(result.value)
            self.pending_typed.update(result.typed)
            self._fill_peers()
            self.revalidate()

        self.app.push_screen(PeerDialog(self.ctx.answers, self.ctx.root, self.peers, index), done)

    @on(Button.Pressed, "#add-peer")
    def action_add_peer(self) -> None:
        if self._checked("transport"):
            self._edit_peer(len(self.peers))

    @on(Button.Pressed, "#edit-peer")
    def _edit_selected(self) -> None:
        if self.peers:
            self._edit_peer(self.query_one("#peers-table", DataTable).cursor_row)

    @on(DataTable.RowSelected, "#peers-table")
    def _row(self, event: DataTable.RowSelected) -> None:
        self._edit_peer(event.cursor_row)

    @on(Button.Pressed, "#remove-peer")
    def _remove(self) -> None:
        if self.peers:
            del self.peers[self.query_one("#peers-table", DataTable).cursor_row]
            self._fill_peers()
            self.revalidate()
