"""The screens' words for the answers' problems: each field by its on-screen label, pydantic's messages
("Input should be a valid integer, ...") in plain words, and the YAML spellings inside the model's own
messages ("set auth: cert", "users[1]") as the screens name them.

The command line keeps the dotted field paths and the answers file's spellings: its reader edits the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

# On-screen label per field path ("[]" stands for any index; "{n}" is that index counted from 1). A path
# not listed takes its nearest listed parent's label (``ca.passphrase.env`` is the CA key passphrase).
LABELS: Final[Mapping[str, str]] = {
    "version": "Answers version",
    "layout": "Layout",
    "server": "Address clients dial",
    "server.address": "Address clients dial",
    "server.alt_names": "Extra names",
    "ca": "Certificate authority",
    "ca.dn": "CA name (country, organization, common name)",
    "ca.dn#C": "Country (C)",
    "ca.dn#O": "Organization (O)",
    "ca.dn#CN": "Common name (CN)",
    "ca.key": "CA key type",
    "ca.lifetime_days": "CA lifetime (days)",
    "ca.passphrase": "CA key passphrase",
    "ca_import.cert": "CA certificate (PEM)",
    "ca_import.key": "CA key (PEM)",
    "host": "Host certificate",
    "host.key": "Host key type",
    "host.lifetime_days": "Host lifetime (days)",
    "clients": "Clients",
    "clients[]": "client {n}",
    "clients[].name": "client {n}: Name",
    "clients[].key": "client {n}: Key type",
    "clients[].lifetime_days": "client {n}: Lifetime (days)",
    "clients[].p12_password": "client {n}: PKCS#12 password",
    "clients[].p12_encryption": "client {n}: Bundle encryption",
    "clients[].on_demand": "client {n}: Connect on demand",
    "revoked": "Revoked certificates",
    "revoked[]": "revoked certificate {n}",
    "revoked[].name": "revoked certificate {n}: client",
    "revoked[].serial": "revoked certificate {n}: serial number",
    "revoked[].revoked_at": "revoked certificate {n}: date",
    "variants": "VPN variants",
    "variants.ikev2-cert": "IKEv2 with certificates",
    "variants.ikev2-cert.local_ts": "Networks (split tunnel)",
    "variants.ikev2-eap": "IKEv2 with EAP",
    "variants.ikev2-eap.local_ts": "Networks (split tunnel)",
    "variants.ikev2-eap.users": "IKEv2 with EAP: Users",
    "variants.ikev2-eap.users[]": "IKEv2 with EAP: user {n}",
    "variants.ikev2-eap.users[].name": "IKEv2 with EAP: user {n}: Name",
    "variants.ikev2-eap.users[].password": "IKEv2 with EAP: user {n}: Password",
    "variants.ikev2-eap.users[].own_password": "IKEv2 with EAP: user {n}: Same password for all (off)",
    "variants.ikev2-eap.backend": "IKEv2 with EAP: Users live in",
    "variants.ikev1-xauth": "IKEv1 Cisco IPsec",
    "variants.ikev1-xauth.auth": "IKEv1 Cisco IPsec: Authentication",
    "variants.ikev1-xauth.psk": "IKEv1 Cisco IPsec: Group PSK",
    "variants.ikev1-xauth.users": "IKEv1 Cisco IPsec: Users",
    "variants.ikev1-xauth.users[]": "IKEv1 Cisco IPsec: user {n}",
    "variants.ikev1-xauth.users[].name": "IKEv1 Cisco IPsec: user {n}: Name",
    "variants.ikev1-xauth.users[].password": "IKEv1 Cisco IPsec: user {n}: Password",
    "variants.ikev1-xauth.users[].own_password": "IKEv1 Cisco IPsec: user {n}: Same password for all (off)",
    "variants.ikev1-xauth.local_ts": "Networks (split tunnel)",
    "variants.ikev1-xauth.backend": "IKEv1 Cisco IPsec: Users live in",
    "variants.transport": "Transport mode",
    "variants.transport.peers": "Transport mode: Peers",
    "variants.transport.peers[]": "Transport mode: peer {n}",
    "variants.transport.peers[].name": "Transport mode: peer {n}: Name",
    "variants.transport.peers[].address": "Transport mode: peer {n}: Address",
    "variants.transport.peers[].id": "Transport mode: peer {n}: Identity",
    "variants.transport.peers[].auth": "Transport mode: peer {n}: Authentication",
    "variants.transport.peers[].psk": "Transport mode: peer {n}: Pre-shared key",
    "variants.transport.peers[].start": "Transport mode: peer {n}: Start",
    "variants.l2tp": "L2TP/IPsec",
    "variants.l2tp.auth": "L2TP/IPsec: Authentication",
    "variants.l2tp.psk": "L2TP/IPsec: Pre-shared key",
    "variants.l2tp.users": "L2TP/IPsec: Users",
    "variants.l2tp.users[]": "L2TP/IPsec: user {n}",
    "variants.l2tp.users[].name": "L2TP/IPsec: user {n}: Name",
    "variants.l2tp.users[].password": "L2TP/IPsec: user {n}: Password",
    "variants.l2tp.users[].own_password": "L2TP/IPsec: user {n}: Same password for all (off)",
    "variants.l2tp.ip_range": "L2TP/IPsec: Address range",
    "variants.l2tp.local_ip": "L2TP/IPsec: Server's PPP address",
    "pool": "Client addresses",
    "pool.addresses": "Address pool",
    "pool.dns": "DNS servers",
    "pool.dns[]": "DNS server {n}",
    "pool.dhcp": "DHCP",
    "pool.dhcp.server": "DHCP server",
    "pool.dhcp.force_server_address": "the DHCP server runs on this host",
    "pool.dhcp.identity_lease": "DHCP: lease per identity",
    "pool.dhcp.interface": "DHCP: interface",
    "proposals": "Proposals",
    "proposals.ike": "Proposals: IKE",
    "proposals.esp": "Proposals: ESP",
    "proposals.ike_v1": "Proposals: IKEv1 IKE",
    "proposals.esp_v1": "Proposals: IKEv1 ESP",
    "dpd": "Dead peer detection",
    "dpd.action": "Dead peer detection: action",
    "dpd.delay": "Dead peer detection: delay",
    "rekey": "Rekey",
    "uniqueids": "One connection per identity",
    "logging": "Log levels",
    "networking": "Networking",
    "networking.forwarding": "IP forwarding",
    "networking.firewall": "Firewall",
    "networking.nat": "NAT",
    "networking.wan_interface": "WAN interface",
    "networking.mss_clamp": "clamp TCP MSS",
    "networking.esp": "ESP carried by",
    "networking.accept_failed_checks": "Apply despite the FAIL lines",
    "radius": "RADIUS",
    "radius.servers": "RADIUS server",
    "radius.servers[]": "RADIUS server {n}",
    "radius.servers[].address": "RADIUS server",
    "radius.servers[].port": "Ports",
    "radius.servers[].acct_port": "Ports",
    "radius.servers[].secret": "Shared secret",
    "radius.nas_identifier": "RADIUS: NAS identifier",
    "radius.accounting": "Send accounting records",
    "radius.eap_method": "RADIUS: EAP method",
    "radius.client_snippet": "RADIUS: FreeRADIUS client entry",
    # the screens' own groups
    "tunnel": "Tunnel",
    "local_ts": "Networks (split tunnel)",
    "user": "User",
    "user.name": "Name",
    "user.password": "Password",
    "user.variants": "Variants",
}

_INDEX = re.compile(r"\[(\d+)\]")


def label(path: str) -> str:
    """The on-screen name of a dotted field path (``clients[1].name`` -> ``client 2: Name``)."""
    numbers = [int(n) + 1 for n in _INDEX.findall(path)]
    template = _INDEX.sub("[]", path)
    while template:
        if template in LABELS:
            return LABELS[template].format(n=numbers[-1] if numbers else "")
        template = re.sub(r"(\.[^.]*|\[\]|#[^.]*)$", "", template) if re.search(r"[.#\[]", template) else ""
    return path.replace("_", " ")


# pydantic's error types the answers model can raise (tests/test_tui_guidance.py finds them by validating
# bad values for every field), in plain words; {…} are the error's context values.
PLAIN: Final[Mapping[str, str]] = {
    "missing": "is required",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be on or off",
    "bool_type": "must be on or off",
    "string_type": "must be text",
    "string_too_short": "is required",
    "string_too_long": "may be at most {max_length} characters long",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "too_short": "is required: give at least {min_length}",
    "too_long": "may hold at most {max_length}",
    "list_type": "must be a list of values",
    "model_type": "must be a group of settings",
    "model_attributes_type": "must be a group of settings",
    "dict_type": "must be a group of settings",
    "datetime_parsing": "must be a date and time like 2026-01-31T12:00:00Z",
    "datetime_from_date_parsing": "must be a date and time like 2026-01-31T12:00:00Z",
    "datetime_type": "must be a date and time like 2026-01-31T12:00:00Z",
    "union_tag_invalid": "is not one of the forms this setting takes",
    "union_tag_not_found": "is not one of the forms this setting takes",
    "extra_forbidden": "is not a setting the wizard knows",
    "enum": "is not one of the choices",
    "literal_error": "is not one of the choices",
}
# Types whose message is the model's own sentence (a validator's ValueError, the cross-section checks):
# it only needs the YAML spellings in it put the screens' way (on_screen).
OWN_WORDS: Final = frozenset({"value_error", "assertion_error", "variants"})


def plain(kind: str, message: str, context: Mapping[str, Any] | None = None) -> str:
    """The loader's ``message`` for an error of pydantic type ``kind`` in the screens' words."""
    if kind in OWN_WORDS or kind in ("literal_error", "enum"):
        return on_screen(message)  # the model's own sentence; the loader already names the choices
    template = PLAIN.get(kind, "is not valid")
    try:
        return template.format(**(context or {}))
    except (KeyError, IndexError):
        return re.sub(r"\{[^}]*\}", "", template).rstrip(": ")


# The answers file's spellings inside the model's messages, as the screens name and offer them.
_SPELLINGS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\bset auth: cert\b", "choose Authentication: certificate"),
    (r"\bauth: cert\b", "Authentication: certificate"),
    (r"\bauth: psk\b", "Authentication: pre-shared key"),
    (r"\bset backend: local\b", "choose Users live in: this server"),
    (r"\bbackend: radius\b", "Users live in: a RADIUS server"),
    (r"\bbackend: local\b", "Users live in: this server"),
    (r"\bremove users\b", "remove the users"),
    (r"\bl2tp with\b", "L2TP/IPsec with"),
    (r"'ikev2-cert: \{\}'", "IKEv2 with certificates"),
    (r"\blocal_ip\b", "Server's PPP address"),
    (r"\bip_range\b", "Address range"),
    (r"\blocal_ts\b", "Networks"),
    (r"\balt_names\b", "Extra names"),
    (r"\bpsk only applies\b", "a pre-shared key only applies"),
))
# ("transport" and "l2tp" are ordinary words in these messages too: only the hyphenated names are names.)
_VARIANT_NAMES = {"ikev2-cert": "IKEv2 with certificates", "ikev2-eap": "IKEv2 with EAP",
                  "ikev1-xauth": "IKEv1 Cisco IPsec"}
_ENTRY = re.compile(r"\b(clients|users|servers|peers|dns)\[(\d+)\]")
_ENTRY_WORD = {"clients": "client", "users": "user", "servers": "RADIUS server", "peers": "peer", "dns": "DNS server"}


def on_screen(message: str) -> str:
    """A model message with its YAML spellings (``users[1]``, ``auth: cert``, dotted paths) in the
    screens' words."""
    text = _ENTRY.sub(lambda m: f"{_ENTRY_WORD[m.group(1)]} {int(m.group(2)) + 1}", message)
    text = _SET_PATH.sub(_set_words, text)
    for pattern, words in _SPELLINGS:
        text = pattern.sub(words, text)
    for path in sorted(_dotted_paths(), key=len, reverse=True):
        if path in text:
            text = text.replace(path, label(path))
    for alias, name in _VARIANT_NAMES.items():
        text = re.sub(rf"(?<![\w.-]){re.escape(alias)}(?![\w-])", name, text)
    return text


# "set networking.forwarding: true" -> "tick IP forwarding"; "set networking.esp: kernel" -> "choose ..."
_SET_PATH = re.compile(r"\bset ((?:server|ca|host|networking|pool|variants|radius|proposals)\.[\w.-]+): ([\w.-]+)")


def _set_words(match: re.Match[str]) -> str:
    name, value = label(match.group(1)), match.group(2)
    if value in ("true", "false"):
        return f"{'tick' if value == 'true' else 'untick'} '{name}'"
    return f"choose {name}: {value}"


def _dotted_paths() -> Iterator[str]:
    return (p for p in LABELS if "." in p and "[]" not in p and "#" not in p)
