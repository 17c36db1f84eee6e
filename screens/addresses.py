"""The addresses step: addresses for clients (pool or DHCP), DNS servers, full or split tunnel, proposals preset."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, RadioSet, Static

from screens.forms import FormScreen
from screens.variants import radio, radio_value
from screens.widgets.choice import Choice
from screens.widgets.field import Field, split_list, text_input
from screens.widgets.toggles import Check
from wizard.model.answers import CustomProposals
from wizard.system.resolvers import HostResolvers, host_resolvers

ROAD_WARRIOR = (("ikev2-cert", "ikev2_cert"), ("ikev2-eap", "ikev2_eap"), ("ikev1-xauth", "ikev1_xauth"))
FULL = ["0.0.0.0/0"]
# Public resolvers with a published pair of IPv4 addresses, the privacy-minded first.
PUBLIC_DNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("quad9", "Quad9", ("9.9.9.9", "149.112.112.112")),
    ("cloudflare", "Cloudflare", ("1.1.1.1", "1.0.0.1")),
    ("google", "Google", ("8.8.8.8", "8.8.4.4")),
)


def dns_menu(host: HostResolvers) -> list[tuple[str, str, tuple[str, ...]]]:
    """(key, label, addresses) of each DNS choice: this server's resolvers when clients can use them, the
    public ones, and custom (the addresses typed below it)."""
    menu = [("host", f"this server's resolver ({', '.join(host.usable)})", host.usable)] if host.usable else []
    menu += [(key, f"{name} ({', '.join(addrs)})", addrs) for key, name, addrs in PUBLIC_DNS]
    return [*menu, ("custom", "custom: type the addresses", ())]


def dns_choice(menu: list[tuple[str, str, tuple[str, ...]]], current: list[str]) -> str:
    """The menu entry the answers' DNS servers are, else custom."""
    return next((key for key, _label, addrs in menu if addrs and list(addrs) == current), "custom")


def skipped_hint(host: HostResolvers) -> str:
    """Why this server's resolver is not (or not wholly) on the menu."""
    if not host.skipped:
        return ""
    lead = "skipped: " if host.usable else "this server's resolver is not offered: "
    return lead + "; ".join(f"{what} {why}" for what, why in host.skipped)


class AddressesScreen(FormScreen):
    HELP = "addresses"
    host_dns = HostResolvers(())
    dns_menu: list[tuple[str, str, tuple[str, ...]]] = []  # noqa: RUF012 -- replaced, never mutated

    def form(self) -> ComposeResult:
        a = self.ctx.answers
        pool = a.pool
        dhcp = pool.dhcp
        rw = [getattr(a.variants, attr) for _alias, attr in ROAD_WARRIOR if getattr(a.variants, attr) is not None]
        local_ts = rw[0].local_ts if rw else FULL
        if not rw:
            yield Static("None of the enabled variants hands out addresses (transport mode and L2TP do not use "
                         "the pool); these settings are kept for later.", classes="explain", markup=False)
        yield Field("Client addresses", radio("pool-kind", (("from a pool", "pool"), ("from DHCP", "dhcp")),
                                              "dhcp" if pool.addresses == "dhcp" else "pool"), field="pool")
        with Vertical(id="pool-group", classes="group"):
            yield Field("Address pool", text_input(pool.addresses if pool.addresses != "dhcp" else "10.10.10.0/24",
                                                   id="pool-addresses"), field="pool.addresses",
                        hint="a network clients take their virtual IP from")
        with Vertical(id="dhcp-group", classes="group"):
            yield Field("DHCP server", text_input(dhcp.server if dhcp else "255.255.255.255", id="dhcp-server"),
                        field="pool.dhcp.server", hint="its address, or the broadcast address")
            yield Field("", Check("the DHCP server runs on this host", value=dhcp.force_server_address
                                     if dhcp else False, id="dhcp-force", compact=True),
                        field="pool.dhcp.force_server_address")
        self.host_dns = host_resolvers(self.ctx.root)
        self.dns_menu = dns_menu(self.host_dns)
        yield Field("DNS for clients", Choice([(label, key) for key, label, _ in self.dns_menu],
                                              dns_choice(self.dns_menu, list(pool.dns)), id="dns-choice"),
                    field="pool.dns#menu", hint=skipped_hint(self.host_dns) or "pushed to clients")
        yield Field("DNS servers", text_input(", ".join(pool.dns), id="pool-dns"), field="pool.dns",
                    hint="comma-separated IP addresses", id="dns-custom")
        yield Field("Tunnel", radio("tunnel", (("full: all traffic", "full"), ("split: only these networks", "split")),
                                    "full" if list(local_ts) == FULL else "split"), field="tunnel")
        yield Field("Networks", text_input(", ".join(n for n in local_ts if list(local_ts) != FULL),
                                           id="split-nets", placeholder="e.g. 192.168.1.0/24, 10.0.0.0/8"),
                    field="local_ts", hint="networks behind the server, reached through the tunnel",
                    id="split-field")
        choices: tuple[tuple[str, str], ...] = (("modern", "modern"), ("the article's (seed)", "seed"))
        current = a.proposals if isinstance(a.proposals, str) else "custom"
        if current == "custom":
            choices += (("custom (kept from the answers file)", "custom"),)
        yield Field("Proposals", radio("proposals", choices, current), field="proposals")

    def on_mount(self) -> None:
        self._show()

    def on_radio_set_changed(self) -> None:
        self._show()

    def on_choice_changed(self) -> None:
        self._show()

    def _show(self) -> None:
        dhcp = radio_value(self.query_one("#pool-kind", RadioSet), "pool") == "dhcp"
        self.query_one("#pool-group").display = not dhcp
        self.query_one("#dhcp-group").display = dhcp
        split = radio_value(self.query_one("#tunnel", RadioSet), "full") == "split"
        self.query_one("#split-field").display = split
        self.query_one("#dns-custom").display = self.query_one("#dns-choice", Choice).value == "custom"

    def _dns(self) -> list[str]:
        chosen = self.query_one("#dns-choice", Choice).value
        if chosen == "custom":
            return split_list(self.query_one("#pool-dns", Input).value)
        return next(list(addrs) for key, _label, addrs in self.dns_menu if key == chosen)

    def claims(self, widget: Field, key: str) -> bool:
        if widget.field == "local_ts":
            return key.endswith(".local_ts")
        return super().claims(widget, key)

    def sections(self) -> dict[str, Any]:
        a = self.ctx.answers
        dhcp = radio_value(self.query_one("#pool-kind", RadioSet), "pool") == "dhcp"
        pool: dict[str, Any] = {"dns": self._dns()}
        if dhcp:
            old = a.pool.dhcp.model_dump(exclude_none=True, mode="json") if a.pool.dhcp else {}
            pool["addresses"] = "dhcp"
            pool["dhcp"] = {**old, "server": self.query_one("#dhcp-server", Input).value.strip(),
                            "force_server_address": self.query_one("#dhcp-force", Checkbox).value}
        else:
            pool["addresses"] = self.query_one("#pool-addresses", Input).value.strip()
        split = radio_value(self.query_one("#tunnel", RadioSet), "full") == "split"
        local_ts = split_list(self.query_one("#split-nets", Input).value) if split else FULL
        variants = a.variants.model_dump(by_alias=True, exclude_none=True, mode="json")
        for alias, _attr in ROAD_WARRIOR:
            if alias in variants:
                variants[alias]["local_ts"] = local_ts
        choice = radio_value(self.query_one("#proposals", RadioSet), "modern")
        proposals: Any = a.proposals if choice == "custom" and isinstance(a.proposals, CustomProposals) else choice
        return {"pool": pool, "variants": variants, "proposals": proposals}
