"""The answers model: every choice the wizard collects, the contract of the answers YAML file.

The TUI edits it section by section, ``swan-wizard apply`` loads it from YAML; both then hand the
same frozen ``Answers`` to the planner. The JSON Schema (``swan-wizard schema``) is generated from
these classes. Loading and error reporting live in ``wizard.model.answers_file``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Protocol, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from wizard.findings import Finding, Loc, field_loc, field_path
from wizard.model import formats
from wizard.model.proposals import check_proposal, ikev1_split
from wizard.pki.keytypes import KeyType
from wizard.problems import InvalidAnswers

SCHEMA_VERSION: Final = 1

LOG_SUBSYSTEMS = ("dmn", "mgr", "ike", "chd", "job", "cfg", "knl", "net", "asn", "enc", "tls", "esp",
                  "lib", "tnc", "imc", "imv", "pts", "default")
_DURATION = re.compile(r"[0-9]+[smhd]?")
_HOSTNAME_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# 64 characters: the name becomes the certificate's CN, which X.509 caps at 64 (RFC 5280 ub-common-name).
_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+-]{0,63}")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        # One rule for every free-text field, before any other check (and before a message quotes the
        # value): what no output format can hold -- a line break would start a new line of ipsec.secrets,
        # of a PowerShell script or of a README -- is refused here with the field's name.
        if type(value) is str and value.isascii() and value.isprintable():
            return value  # the common case, in C (see problems.unsafe_char)
        if not isinstance(value, (str, list)):
            return value  # a number, a boolean, a mapping: its own fields are checked in turn
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            problem = formats.plain_text_problem(item) if isinstance(item, str) else None
            if problem:
                where = f"entry {i + 1} " if isinstance(value, list) else ""
                raise ValueError(where + problem)
        return value


class SecretRef(Section):
    """Where a password comes from. Saved answers hold only references, never the secret itself."""

    env: str | None = Field(None, description="name of an environment variable holding the secret")
    file: str | None = Field(None, description="file holding the secret (first line); relative to the answers file")
    generate: bool | None = Field(None, description="generate a random secret and store it 0600")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        chosen = [k for k in ("env", "file", "generate") if getattr(self, k) not in (None, False)]
        if len(chosen) != 1:
            raise ValueError("give exactly one of env, file or generate: true")
        if self.env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.env):
            raise ValueError(f"'{self.env}' is not an environment variable name")
        return self


# A literal string is accepted (with a warning) so a quick test file works; the UI never saves one.
def _secret_kind(value: Any) -> str:
    return "literal" if isinstance(value, str) else "reference"


Secret = Annotated[
    Annotated[SecretRef, Tag("reference")]
    | Annotated[str, Field(min_length=1, description="literal secret (discouraged)"), Tag("literal")],
    Discriminator(_secret_kind),
]
GENERATE = SecretRef(generate=True)


def _no_scope(text: str) -> str:
    # Python's ipaddress takes any text after "%" as an IPv6 scope id ("fe80::1%eth0"), line breaks
    # included; no configuration file here has a place for a scope, so an address never carries one.
    if "%" in text:
        raise ValueError(f"'{text}' carries a scope id (after '%'); give the address without it")
    return text


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address without a scope id."""
    return ipaddress.ip_address(_no_scope(text))


def ip_network(text: str, strict: bool = True) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IP network without a scope id."""
    return ipaddress.ip_network(_no_scope(text), strict=strict)


def is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def check_hostname_or_ip(value: str) -> str:
    value = _no_scope(value.strip())
    if not value:
        raise ValueError("is required: a DNS name or an IP address")
    if is_ip(value):
        return str(ip_address(value))
    name = value.rstrip(".")
    if not name or len(name) > 253 or not all(_HOSTNAME_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"'{value}' is neither a DNS name nor an IP address")
    if name.replace(".", "").isdigit():
        raise ValueError(f"'{value}' looks like an IPv4 address but is not a valid one")
    return name.lower()


def check_cn_name(value: str) -> str:
    """A DNS name or IP that also becomes a certificate's CN, which X.509 caps at 64 characters."""
    value = check_hostname_or_ip(value)
    if len(value) > 64:
        raise ValueError(f"'{value}' is longer than 64 characters, the limit of a certificate's CN; "
                         "use a shorter name here and put this one in alt_names")
    return value


class PskChoice(Section):
    """Variants that authenticate with certificates or a pre-shared key: a psk only goes with auth: psk."""

    @model_validator(mode="after")
    def _psk_only_with_psk(self) -> PskChoice:
        if getattr(self, "psk", None) is not None and getattr(self, "auth", None) != "psk":
            raise ValueError("psk only applies with auth: psk")
        return self


class Server(Section):
    address: str = Field(description="what clients dial (DNS name or IP): host certificate CN and SAN, server identity")
    alt_names: list[str] = Field(default_factory=list, description="further names or IPs clients may dial")

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        return check_cn_name(value)

    @field_validator("alt_names")
    @classmethod
    def _check_alt_names(cls, values: list[str]) -> list[str]:
        return [check_hostname_or_ip(v) for v in values]


# The DN a CA gets when its server address cannot name it (the address is not valid yet).
FALLBACK_CA_DN: Final = "CN=VPN CA"
_X509_NAME_MAX = 64  # ub-common-name and ub-organization-name (RFC 5280)


def default_ca_dn(address: str) -> str:
    """The CA's DN when the answers give none: named after the server clients dial, so the CA a client
    installs says which VPN it belongs to (``vpn.example.com`` gives ``O=example.com, CN=vpn.example.com
    VPN CA``); the organisation is the name's domain, left out for an IP address or a one-label name."""
    try:
        name = check_hostname_or_ip(address)
    except ValueError:
        return FALLBACK_CA_DN
    parts = []
    labels = name.split(".")
    if not is_ip(name) and len(labels) > 1:
        domain = ".".join(labels[1:]) if len(labels) > 2 else name
        if len(domain) <= _X509_NAME_MAX:
            parts.append(f"O={domain}")
    cn = f"{name} VPN CA"
    parts.append(f"CN={cn if len(cn) <= _X509_NAME_MAX else 'VPN CA'}")
    return ", ".join(parts)


def _address_of(server: Any) -> str | None:
    if isinstance(server, Server):
        return server.address
    if isinstance(server, dict) and isinstance(server.get("address"), str):
        return str(server["address"])
    return None


def with_default_ca_dn(data: Any) -> Any:
    """Answers data with the CA's DN derived from the server address where the admin set none: the one
    place the UI's answers and a loaded file get it. A DN that is given is kept, whatever it says."""
    if not isinstance(data, dict):
        return data
    address = _address_of(data.get("server"))
    ca = data.get("ca", {})
    if address is None:
        return data
    if isinstance(ca, CA):
        if "dn" in ca.model_fields_set:
            return data
        ca = ca.model_dump(by_alias=True, exclude_none=True, exclude={"dn"})
    if isinstance(ca, dict) and "dn" not in ca:
        return {**data, "ca": {**ca, "dn": default_ca_dn(address)}}
    return data


class CA(Section):
    dn: str = Field(FALLBACK_CA_DN, description="distinguished name of the CA (default: named after server.address, "
                                                 "e.g. O=example.com, CN=vpn.example.com VPN CA)")
    key: KeyType = KeyType.RSA_4096
    lifetime_days: int = Field(3650, ge=1, le=36500)
    passphrase: Secret | None = Field(None, description="encrypt the CA key at rest with this passphrase")

    @field_validator("dn")
    @classmethod
    def _check_dn(cls, value: str) -> str:
        from wizard.pki.names import format_dn, parse_dn

        try:
            return format_dn(parse_dn(value))
        except ValueError as exc:
            raise ValueError(str(exc)) from None


class Host(Section):
    key: KeyType = KeyType.RSA_2048
    lifetime_days: int = Field(730, ge=1, le=36500)


class Client(Section):
    name: str = Field(description="client identity: an e-mail address (rfc822 SAN) or a plain name (DNS SAN)")
    key: KeyType = KeyType.RSA_2048
    lifetime_days: int = Field(730, ge=1, le=36500)
    p12_password: Secret = Field(default_factory=lambda: GENERATE)
    p12_encryption: Literal["legacy", "aes256"] = Field(
        "legacy", description="legacy (PBE-SHA1-3DES: imports on Windows, macOS/iOS, Android) or aes256")
    on_demand: bool = Field(False, description="Apple profiles connect on demand (VPN On Demand: always connect)")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value:
            raise ValueError("is required: a name such as alice@example.com")
        if "/" in value or "\\" in value:
            raise ValueError(f"'{value}' contains a path separator; a client name becomes a directory name")
        if value in (".", ".."):
            raise ValueError(f"'{value}' is not a usable client name")
        if not _CLIENT_NAME.fullmatch(value):
            raise ValueError(
                f"'{value}' may only hold letters, digits and @ . _ + - (at most 64, starting with a letter or digit)")
        return value


class Revoked(Section):
    """A revoked client certificate (``swan-wizard client revoke``)."""

    name: str = Field(description="the client the certificate was issued to")
    serial: str = Field(description="the certificate's serial number in hexadecimal")
    revoked_at: datetime = Field(description="when it was revoked (UTC)")

    @field_validator("serial")
    @classmethod
    def _check_serial(cls, value: str | int) -> str:
        text = str(value).strip().lower().replace(":", "").removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]{1,40}", text):
            raise ValueError(f"'{value}' is not a hexadecimal certificate serial number")
        return format(int(text, 16), "x")


def check_networks(values: list[str]) -> list[str]:
    if not values:
        raise ValueError("give at least one network (0.0.0.0/0 for a full tunnel)")
    out = []
    for v in values:
        _no_scope(v)
        try:
            out.append(str(ip_network(v, strict=True)))
        except ValueError as exc:
            raise ValueError(f"'{v}' is not a network: {exc}{_did_you_mean(v)}") from None
    return out


def _did_you_mean(value: str) -> str:
    """For an address with host bits (10.0.0.1/24), the network it lies in: what was almost surely meant."""
    try:
        return f"; did you mean {ip_network(value, strict=False)}?"
    except ValueError:
        return ""


_IFNAME = formats.IFNAME
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+-]{0,127}")


class User(Section):
    """A username/password login (EAP-MSCHAPv2, XAUTH or L2TP's CHAP)."""

    name: str
    password: Secret = Field(default_factory=lambda: GENERATE)
    own_password: bool = Field(
        False, description="a generated password of its own here: by default a user on several of ikev2-eap, "
                           "ikev1-xauth and l2tp gets one generated password for all of them")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value:
            raise ValueError("is required: a login name such as alice")
        if not _USER_NAME.fullmatch(value):
            raise ValueError(f"'{value}' may only hold letters, digits and @ . _ + - "
                             "(and start with a letter or digit)")
        return value


class _Named(Protocol):
    @property  # read-only: the sections are frozen
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def unique_names(items: list[N], what: str) -> list[N]:
    """One rule for every list of names (clients, users): ``Dave`` and ``dave`` are the same entry, since
    certificate file names and login names on clients' devices are easily typed in either case. The
    message is the one the form shows under the name being typed: no list indexes."""
    seen: dict[str, str] = {}
    for item in items:
        key = item.name.lower()
        if key in seen:
            other = seen[key]
            raise ValueError(f"there is already a {what} '{other}'"
                             + (f"; '{item.name}' is the same name (names are compared ignoring case)"
                                if other != item.name else ""))
        seen[key] = item.name
    return items


def _unique_users(users: list[User]) -> list[User]:
    return unique_names(users, "user")


def _one_spelling_per_user(variants: Variants) -> None:
    """The rule of ``unique_names`` across the password variants: a user in several of them is one user,
    so ``Dave`` on EAP and ``dave`` on XAUTH is one name spelled two ways (the admin means one person;
    the secrets, profiles and README would say two)."""
    spelled: dict[str, tuple[str, str]] = {}
    for alias in ("ikev2-eap", "ikev1-xauth", "l2tp"):
        section = getattr(variants, alias.replace("-", "_"))
        for user in section.users if section is not None else []:
            first = spelled.setdefault(user.name.lower(), (user.name, alias))
            if first[0] != user.name:
                raise ValueError(f"user '{user.name}' ({alias}) is '{first[0]}' in {first[1]}: spell one user "
                                 "the same everywhere (names are compared ignoring case)")


class Ikev2Cert(Section):
    """IKEv2 road warrior with client certificates (the article's conn IPSec-IKEv2)."""

    local_ts: list[str] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        description="networks reached through the tunnel: 0.0.0.0/0 for a full tunnel, else a split tunnel")

    _check_ts = field_validator("local_ts")(lambda v: check_networks(v))


class Ikev2Eap(Section):
    """IKEv2, server certificate, users with EAP-MSCHAPv2 (the article's conn IPSec-IKEv2-EAP)."""

    local_ts: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    users: list[User] = Field(default_factory=list)
    backend: Literal["local", "radius"] = Field(
        "local", description="local: the users below, as NT hashes on this server; radius: the users live in "
                             "the RADIUS servers of the radius section (charon's eap-radius plugin)")

    _check_ts = field_validator("local_ts")(lambda v: check_networks(v))
    _check_users = field_validator("users")(lambda v: _unique_users(v))
    _users_where_they_live = model_validator(mode="after")(lambda self: _users_live_in_backend(self))


def _users_live_in_backend(section: Any) -> Any:
    # With RADIUS, charon never looks at local EAP/XAuth secrets: users listed here could not log in.
    if section.backend == "radius" and section.users:
        raise ValueError("with backend: radius the users live in the RADIUS server, not here; "
                         "remove users (add them on the RADIUS server) or set backend: local")
    return section


_RADIUS_SECRET_MAX = 128  # FreeRADIUS and most NAS implementations stop here; RFC 2865 sets no limit


class RadiusServer(Section):
    """One RADIUS server charon's eap-radius plugin sends the EAP conversation to."""

    address: str = Field(description="the RADIUS server's IP address or DNS name")
    port: int = Field(1812, ge=1, le=65535, description="its authentication port")
    acct_port: int = Field(1813, ge=1, le=65535, description="its accounting port")
    secret: Secret = Field(default_factory=lambda: GENERATE,
                           description="the shared secret with this server (default: generated, kept 0600)")

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        return check_hostname_or_ip(value)


class Radius(Section):
    """The RADIUS servers behind ``variants.ikev2-eap.backend: radius``, in order of preference."""

    servers: list[RadiusServer] = Field(
        default_factory=list, description="tried in this order: a server that does not answer is passed over")
    nas_identifier: str = Field("strongSwan", min_length=1, max_length=253,
                                description="NAS-Identifier sent in every RADIUS request")
    accounting: bool = Field(False, description="send accounting Start/Stop (and interim) records")
    eap_method: Literal["mschapv2", "tls"] = Field(
        "mschapv2", description="the EAP method clients use through RADIUS: mschapv2 (user name and password) "
                                "or tls (client certificates the RADIUS server checks)")
    client_snippet: bool = Field(False, description="write a FreeRADIUS clients.conf entry for this gateway "
                                                    "(with the shared secret, 0600) under /etc/swan-wizard/radius/")

    @field_validator("servers")
    @classmethod
    def _unique_servers(cls, servers: list[RadiusServer]) -> list[RadiusServer]:
        seen: dict[str, int] = {}
        for i, server in enumerate(servers):
            if server.address in seen:
                raise ValueError(f"servers[{i}] {server.address} repeats servers[{seen[server.address]}]")
            seen[server.address] = i
        return servers


class Ikev1Xauth(PskChoice):
    """IKEv1 "Cisco IPsec": client certificate + XAUTH (the article's CiscoIPSec), or PSK + XAUTH."""

    auth: Literal["cert", "psk"] = Field(
        "cert", description="cert: client certificate then XAUTH; psk: group pre-shared key then XAUTH "
                            "(iOS/macOS 'Cisco IPSec', Android 'IPSec Xauth PSK')")
    psk: Secret | None = Field(None, description="the group pre-shared key with auth: psk (default: generated)")
    users: list[User] = Field(default_factory=list)
    local_ts: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"],
                                description="the one network reached through the tunnel (IKEv1: one selector)")
    backend: Literal["local", "radius"] = Field(
        "local", description="local: the users below, in a 0600 file on this server; radius: XAuth logins "
                             "are checked by the RADIUS servers of the radius section (xauth-radius)")

    _check_users = field_validator("users")(lambda v: _unique_users(v))
    _users_where_they_live = model_validator(mode="after")(lambda self: _users_live_in_backend(self))

    @field_validator("local_ts")
    @classmethod
    def _one_ts(cls, values: list[str]) -> list[str]:
        # IKEv1 negotiates one traffic selector per CHILD_SA; charon would silently use only the first.
        networks = check_networks(values)
        if len(networks) > 1:
            raise ValueError(f"IKEv1 negotiates a single network per tunnel, got {len(networks)}; give one "
                             "(0.0.0.0/0 for a full tunnel) or use ikev2-cert/ikev2-eap for a split tunnel")
        return networks


class TransportPeer(PskChoice):
    name: str = Field(description="short name: becomes the connection name transport-<name>")
    address: str = Field(description="the peer's IP address or DNS name")
    id: str | None = Field(None, description="the peer's IKE identity (default: its address); with cert auth "
                                             "it must be in the peer's certificate")
    auth: Literal["cert", "psk"] = "cert"
    psk: Secret | None = None
    start: Literal["trap", "start", "none"] = Field(
        "trap", description="trap: negotiate on the first packet (auto=route); start: at once; none: wait for the peer")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value:
            raise ValueError("is required: a short name such as office")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", value):
            raise ValueError(f"'{value}' may only hold letters, digits, - and _")
        return value

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        return check_cn_name(value)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str | None) -> str | None:
        # strongSwan reads "%any" (and any "%" word) as a keyword: as the owner of a PSK it would match
        # every peer, not this one.
        if value is not None and value.startswith("%"):
            raise ValueError(f"'{value}' is a strongSwan keyword (%any matches every peer), not a peer's identity")
        return value


class Transport(Section):
    """Host-to-host IPsec in transport mode between this server and named peers."""

    peers: list[TransportPeer] = Field(min_length=1)

    @field_validator("peers")
    @classmethod
    def _unique_peers(cls, peers: list[TransportPeer]) -> list[TransportPeer]:
        names = [p.name for p in peers]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"peer '{dup}' is listed twice")
        return peers


class L2tp(PskChoice):
    """L2TP/IPsec: IKEv1 transport mode for UDP 1701, xl2tpd and pppd with CHAP users."""

    auth: Literal["psk", "cert"] = "psk"
    psk: Secret | None = Field(None, description="pre-shared key with auth: psk (default: generated)")
    users: list[User] = Field(default_factory=list)
    ip_range: str = Field("192.168.42.10-192.168.42.250", description="addresses xl2tpd hands out")
    local_ip: str = Field("192.168.42.1", description="the server's address inside the PPP links")

    _check_users = field_validator("users")(lambda v: _unique_users(v))

    @field_validator("ip_range")
    @classmethod
    def _check_range(cls, value: str) -> str:
        try:
            first, last = (ipaddress.IPv4Address(p.strip()) for p in value.split("-"))
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv4 range like 192.168.42.10-192.168.42.250") from None
        if first > last:
            raise ValueError(f"'{value}' runs backwards")
        return f"{first}-{last}"

    @field_validator("local_ip")
    @classmethod
    def _check_local(cls, value: str) -> str:
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv4 address") from None

    @model_validator(mode="after")
    def _consistent(self) -> L2tp:
        first, last = (ipaddress.IPv4Address(p) for p in self.ip_range.split("-"))
        if first <= ipaddress.IPv4Address(self.local_ip) <= last:
            raise ValueError(f"local_ip {self.local_ip} lies inside ip_range {self.ip_range}")
        return self


class Variants(Section):
    ikev2_cert: Ikev2Cert | None = Field(None, alias="ikev2-cert")
    ikev2_eap: Ikev2Eap | None = Field(None, alias="ikev2-eap")
    ikev1_xauth: Ikev1Xauth | None = Field(None, alias="ikev1-xauth")
    transport: Transport | None = None
    l2tp: L2tp | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Variants:
        if not any(getattr(self, name) is not None for name in type(self).model_fields):
            raise ValueError("enable at least one VPN variant, e.g. 'ikev2-cert: {}'")
        if self.ikev1_xauth and self.ikev1_xauth.auth == "psk" and self.l2tp and self.l2tp.auth == "psk":
            raise ValueError("ikev1-xauth with auth: psk and l2tp with auth: psk cannot both be on: IKEv1 main mode "
                             "picks the pre-shared key before it knows which connection the client wants; "
                             "set auth: cert for one of them")
        _one_spelling_per_user(self)
        return self

    def users_in_radius(self) -> list[str]:
        """The enabled variants whose logins RADIUS checks (backend: radius)."""
        return [alias for alias in ("ikev2-eap", "ikev1-xauth")
                if (section := getattr(self, alias.replace("-", "_"))) is not None and section.backend == "radius"]

    def with_local_users(self) -> list[str]:
        """The enabled variants whose users this server keeps (ikev2-eap with backend: radius keeps none)."""
        return [alias for alias in ("ikev2-eap", "ikev1-xauth", "l2tp")
                if (section := getattr(self, alias.replace("-", "_"))) is not None
                and getattr(section, "backend", "local") == "local"]

    def enabled(self) -> list[str]:
        return [f.alias or name for name, f in type(self).model_fields.items() if getattr(self, name) is not None]

    # -- checks across sections: what the variants ask of keys, proposals and addresses ---------------
    # Found by experiment with real charons (tests/test_variants_ikev1_keys.py): IKEv1 signs with one key
    # family for both ends (the auth method is negotiated once), cert+XAUTH is RSA-only (XAuthInitRSA),
    # and IKEv1 has no Ed25519 at all. IKEv2 takes any key type on either side.

    def _ikev1_cert_variants(self) -> list[tuple[str, str]]:
        out = []
        if self.ikev1_xauth is not None and self.ikev1_xauth.auth == "cert":
            out.append(("ikev1-xauth", "rsa"))  # XAUTH after a certificate: RSA signatures only
        if self.l2tp is not None and self.l2tp.auth == "cert":
            out.append(("l2tp", "same"))  # plain IKEv1 certificates: one family (RSA or ECDSA) for both ends
        return out

    @staticmethod
    def _ikev1_key_problem(variant: str, rule: str, key: KeyType, host_key: KeyType | None) -> str | None:
        if key == KeyType.ED25519:
            return f"{key.value}: IKEv1 ({variant}) has no Ed25519 signatures; use an rsa-* or ecdsa-* key"
        if rule == "rsa" and not key.is_rsa:
            return (f"{key.value}: IKEv1 XAUTH with certificates ({variant} auth: cert) signs with RSA only "
                    "(charon looks for an RSA key); use an rsa-* key, or auth: psk")
        if rule == "same" and host_key is not None and key.is_rsa != host_key.is_rsa:
            return (f"{key.value}: IKEv1 ({variant} auth: cert) needs the client and the host key in one family, "
                    f"and host.key is {host_key.value}")
        return None

    def cross_problems(self, answers: Answers) -> list[Finding]:
        """Choices that the variants make impossible (errors) or partly useless (warnings), by field.

        A client key that cannot log in to an IKEv1 variant is an error only when no IKEv2 variant gives
        that client another way in.
        """
        out: list[Finding] = []
        for variant, rule in self._ikev1_cert_variants():
            problem = self._ikev1_key_problem(variant, rule, answers.host.key, None)
            if problem:
                out.append(Finding("answers.ikev1-key", "error", "host.key", problem))
                continue
            for i, client in enumerate(answers.clients):
                problem = self._ikev1_key_problem(variant, rule, client.key, answers.host.key)
                if problem:
                    out.append(Finding("answers.ikev1-key", "warning" if self.ikev2_cert else "error",
                                       field_path(("clients", i, "key")), problem + (
                                           "; this client can still use ikev2-cert" if self.ikev2_cert else "")))
        if isinstance(answers.proposals, CustomProposals) and (self.ikev1_xauth or self.l2tp):
            for kind in ("ike", "esp"):
                if not answers.proposals.for_version(kind, 1):
                    out.append(Finding("answers.ikev1-proposals", "error", f"proposals.{kind}",
                                       f"no IKEv1 proposal follows from these (IKEv1 has CBC ciphers and SHA/MD5 "
                                       f"hashes only for its IKE SA); add proposals.{kind}_v1"))
        road_warriors = any(v is not None for v in (self.ikev2_cert, self.ikev2_eap, self.ikev1_xauth))
        if self.l2tp is not None and road_warriors and answers.pool.addresses != "dhcp":
            pool = ipaddress.ip_network(answers.pool.addresses)
            first, last = (ipaddress.IPv4Address(p) for p in self.l2tp.ip_range.split("-"))  # IPv4: L2tp checked it
            if isinstance(pool, ipaddress.IPv4Network) and (
                    first in pool or last in pool or (first < pool[0] and last > pool[-1])):
                out.append(Finding("answers.l2tp-range", "error", "variants.l2tp.ip_range",
                                   f"{self.l2tp.ip_range} overlaps pool.addresses {pool}; give L2TP its own range"))
            if ipaddress.ip_address(self.l2tp.local_ip) in pool:
                out.append(Finding("answers.l2tp-local-ip", "error", "variants.l2tp.local_ip",
                                   f"{self.l2tp.local_ip} lies inside pool.addresses {pool}"))
        users_in_radius = self.users_in_radius()
        if users_in_radius and (answers.radius is None or not answers.radius.servers):
            out.append(Finding("answers.radius-servers", "error", "radius.servers",
                               " and ".join(f"variants.{alias}.backend" for alias in users_in_radius)
                               + ": radius needs at least one RADIUS server here (address and secret)"))
        if self.transport is not None:
            own = {answers.server.address, *answers.server.alt_names}
            for i, peer in enumerate(self.transport.peers):
                if peer.address in own:
                    out.append(Finding("answers.transport-own-address", "error",
                                       field_path(("variants", "transport", "peers", i, "address")),
                                       f"{peer.address} is this server's own address"))
        return out

    def cross_warnings(self, answers: Answers) -> list[Finding]:
        """Variant choices that work but leave someone out."""
        out = [f for f in self.cross_problems(answers) if f.severity != "error"]
        if self._ikev1_cert_variants() and not answers.clients:
            names = " and ".join(v for v, _ in self._ikev1_cert_variants())
            out.append(Finding("answers.no-client-certificate", "warning", "clients",
                               f"{names} use client certificates, but no client certificate will be issued"))
        out += [Finding("answers.user-without-certificate", "warning", "clients",
                        f"user {name} has no client certificate, which {alias} with auth: cert needs: "
                        f"nobody can log in as {name}; issue one named {name}")
                for alias, name in users_without_certificate(answers)]
        if answers.radius is not None and not self.users_in_radius():
            out.append(Finding("answers.radius-unused", "warning", "radius",
                               "no variant uses these RADIUS servers; set variants.ikev2-eap.backend: radius "
                               "(or variants.ikev1-xauth.backend: radius)"))
        if answers.radius is not None and answers.radius.eap_method == "tls" and self.ikev2_eap is not None:
            out.append(Finding("answers.radius-eap-tls", "warning", "radius.eap_method",
                               "the gateway relays EAP-TLS as it is (nothing changes in its files), but Swan Wizard "
                               "writes no EAP-TLS client profiles: set the clients up for EAP-TLS with the "
                               "certificates the RADIUS server trusts"))
        for i, server in enumerate(answers.radius.servers if answers.radius else []):
            if isinstance(server.secret, str):
                out.append(Finding("answers.literal-secret", "warning", field_path(("radius", "servers", i, "secret")),
                                   "a literal shared secret in an answers file; use {env: NAME} or {file: PATH}"))
        for name in ("ikev2-eap", "ikev1-xauth", "l2tp"):
            variant = getattr(self, name.replace("-", "_"))
            if name in self.users_in_radius():
                continue  # its users live in RADIUS
            if variant is not None and not variant.users:
                out.append(Finding("answers.no-users", "warning", f"variants.{name}.users",
                                   "no users: nobody can log in with this variant"))
            for i, user in enumerate(variant.users if variant is not None else []):
                if isinstance(user.password, str):
                    out.append(Finding("answers.literal-secret", "warning",
                                       field_path(("variants", name, "users", i, "password")),
                                       "a literal password in an answers file; use {env: NAME} or {file: PATH}"))
        psks: list[tuple[Loc, SecretRef | str | None]] = [
            (("variants", "ikev1-xauth", "psk"), self.ikev1_xauth.psk if self.ikev1_xauth else None),
            (("variants", "l2tp", "psk"), self.l2tp.psk if self.l2tp else None)]
        psks += [(("variants", "transport", "peers", i, "psk"), p.psk) for i, p in
                 enumerate(self.transport.peers if self.transport else [])]
        out += [Finding("answers.literal-secret", "warning", field_path(loc),
                        "a literal pre-shared key in an answers file; use {env: NAME} or {file: PATH}")
                for loc, psk in psks if isinstance(psk, str)]
        if isinstance(answers.proposals, CustomProposals):
            for kind in ("ike_v1", "esp_v1"):
                for p in getattr(answers.proposals, kind) or ():
                    out += [Finding("answers.proposal", "warning", f"proposals.{kind}", w)
                            for w in check_proposal(p, kind[:3], 1).warnings]
        return out


def users_without_certificate(answers: Answers) -> list[tuple[str, str]]:
    """(variant alias, user) for users of a certificate-then-password variant (IKEv1 XAUTH or L2TP with
    auth: cert) whom no client certificate of the same name lets in."""
    issued = {c.name for c in answers.clients}
    out = []
    for alias, variant in (("ikev1-xauth", answers.variants.ikev1_xauth), ("l2tp", answers.variants.l2tp)):
        if variant is not None and variant.auth == "cert":
            out += [(alias, u.name) for u in variant.users if u.name not in issued]
    return out


class Dhcp(Section):
    server: str = Field("255.255.255.255", description="DHCP server or broadcast address")
    force_server_address: bool = Field(False, description="needed when the DHCP server runs on this host")
    identity_lease: bool = False
    interface: str | None = None

    @field_validator("interface")
    @classmethod
    def _check_interface(cls, value: str | None) -> str | None:
        if value is not None and not _IFNAME.fullmatch(value):
            raise ValueError(f"'{value}' is not an interface name (at most 15 letters, digits, . _ - : @)")
        return value

    @field_validator("server")
    @classmethod
    def _check_server(cls, value: str) -> str:
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv4 address (the dhcp plugin is DHCPv4 only)") from None


class Pool(Section):
    addresses: str = Field("10.10.10.0/24", description="virtual IP pool (a network) or 'dhcp'")
    dns: list[str] = Field(default_factory=lambda: ["8.8.8.8", "8.8.4.4"])
    dhcp: Dhcp | None = Field(None, description="dhcp plugin settings, with addresses: dhcp")

    @field_validator("addresses")
    @classmethod
    def _check_addresses(cls, value: str) -> str:
        if value == "dhcp":
            return value
        _no_scope(value)
        try:
            net = ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a network or 'dhcp': {exc}{_did_you_mean(value)}") from None
        if net.num_addresses < 4:
            raise ValueError(f"'{value}' is too small for a pool")
        return str(net)

    @field_validator("dns")
    @classmethod
    def _check_dns(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            if not is_ip(_no_scope(str(v))):
                raise ValueError(f"'{v}' is not an IP address (DNS servers are pushed as addresses)")
            out.append(str(ip_address(str(v))))
        return out

    @model_validator(mode="after")
    def _dhcp_only_with_dhcp(self) -> Pool:
        if self.dhcp is not None and self.addresses != "dhcp":
            raise ValueError("dhcp settings only apply with addresses: dhcp")
        return self


class CustomProposals(Section):
    """Your own proposal lists. IKEv2 connections use ike/esp; the IKEv1 ones (ikev1-xauth, l2tp) use
    ike_v1/esp_v1, which default to the single-algorithm proposals that ike/esp allow."""

    ike: list[str] = Field(min_length=1, description="IKEv2 IKE proposals, e.g. aes256gcm16-prfsha384-ecp384")
    esp: list[str] = Field(min_length=1, description="IKEv2 ESP proposals, e.g. aes256gcm16-ecp384-none")
    ike_v1: list[str] | None = Field(
        None, min_length=1, description="IKEv1 IKE proposals, one algorithm of each kind: aes256-sha256-modp2048")
    esp_v1: list[str] | None = Field(
        None, min_length=1, description="IKEv1 ESP proposals, one algorithm of each kind: aes256-sha256")

    @field_validator("ike", "esp", "ike_v1", "esp_v1")
    @classmethod
    def _check(cls, values: list[str] | None, info: Any) -> list[str] | None:
        if values is None:
            return None
        kind, version = info.field_name[:3], 1 if info.field_name.endswith("_v1") else 2
        errors = [e for v in values for e in check_proposal(v, kind, version).errors]
        if errors:
            raise ValueError("; ".join(errors))
        return [v.strip().lower() for v in values]

    def for_version(self, kind: str, version: int) -> tuple[str, ...]:
        """The list for "ike" or "esp" of IKEv2 (``version`` 2) or IKEv1 connections."""
        if version == 2:
            return tuple(getattr(self, kind))
        explicit = getattr(self, f"{kind}_v1")
        return tuple(explicit) if explicit else ikev1_split(getattr(self, kind), kind)


def _proposals_kind(value: Any) -> str:
    return "custom" if isinstance(value, dict | CustomProposals) else "preset"


class Dpd(Section):
    action: Literal["clear", "hold", "restart", "none"] = "clear"
    delay: str = "300s"

    @field_validator("delay")
    @classmethod
    def _check_delay(cls, value: str | int) -> str:
        value = str(value)
        if not _DURATION.fullmatch(value):
            raise ValueError(f"'{value}' is not a duration like 300s, 5m or 1h")
        return value


def parse_log_levels(text: str) -> dict[str, int]:
    """Parse the article's charondebug string ("cfg 2, dmn 2") into subsystem levels."""
    levels: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        bits = part.split()
        if len(bits) != 2:
            raise ValueError(f"'{part}' should be a subsystem and a level, like 'ike 2'")
        name, level = bits[0].lower(), bits[1]
        if name not in LOG_SUBSYSTEMS:
            raise ValueError(f"unknown log subsystem '{name}' (known: {', '.join(LOG_SUBSYSTEMS)})")
        if not re.fullmatch(r"-?[0-9]", level) or not -1 <= int(level) <= 4:
            raise ValueError(f"log level for '{name}' must be -1..4, got '{level}'")
        levels[name] = int(level)
    return levels


# The network checks (wizard.checks.netchecks) by name: the ones a recorded override may name.
NetworkCheck = Literal["interfaces", "server-address", "ports", "sysctl", "kernel", "split-tunnel", "pool", "firewall",
                       "ipv6"]


class Networking(Section):
    forwarding: bool = Field(True, description="write the article's forwarding and redirect sysctls")
    firewall: Literal["auto", "nftables", "iptables", "firewalld", "ufw", "none"] = Field(
        "auto", description="which firewall gets Swan Wizard's rules (auto: the one that is active)")
    nat: bool = Field(True, description="masquerade the pool's traffic out of the WAN interface")
    wan_interface: str = Field("auto", description="the interface towards the internet (auto: the default route's)")
    mss_clamp: bool = Field(True, description="clamp TCP MSS of tunnelled traffic (connected-but-sites-hang fix)")
    esp: Literal["auto", "kernel", "userspace"] = Field(
        "auto", description="who carries ESP: the kernel, or charon's kernel-libipsec plugin in userspace "
                            "(auto: userspace only where the kernel has no ESP)")
    accept_failed_checks: list[NetworkCheck] = Field(
        default_factory=list,
        description="network checks the admin applies despite their FAIL (recorded so Review, the confirm "
                    "dialog and apply say so); empty: any FAIL stops the apply")

    @field_validator("accept_failed_checks")
    @classmethod
    def _unique_checks(cls, values: list[NetworkCheck]) -> list[NetworkCheck]:
        return sorted(set(values))

    @field_validator("wan_interface")
    @classmethod
    def _check_interface(cls, value: str) -> str:
        if value != "auto" and not _IFNAME.fullmatch(value):
            raise ValueError(f"'{value}' is not an interface name (at most 15 letters, digits, . _ - : @)")
        return value


class Answers(Section):
    """Every answer the wizard collects; `swan-wizard apply` replays it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              json_schema_extra={"title": "Swan Wizard answers"})

    version: Literal[1] = SCHEMA_VERSION
    layout: Literal["swanctl", "ipsec"] = Field(
        "swanctl", description="swanctl (modern) or ipsec (legacy ipsec.conf + ipsec.secrets, as in the article)")
    server: Server
    ca: CA = Field(default_factory=CA)
    host: Host = Field(default_factory=Host)
    clients: list[Client] = Field(default_factory=list)
    revoked: list[Revoked] = Field(
        default_factory=list, description="revoked client certificates: kept so every apply publishes them in the CRL")
    variants: Variants = Field(default_factory=lambda: Variants(ikev2_cert=Ikev2Cert()))
    pool: Pool = Field(default_factory=Pool)
    proposals: Annotated[
        Annotated[Literal["modern", "seed"], Tag("preset")] | Annotated[CustomProposals, Tag("custom")],
        Discriminator(_proposals_kind),
    ] = Field("modern", description="modern, seed (the article's exact lists) or {ike: [...], esp: [...]}")
    dpd: Dpd = Field(default_factory=Dpd)
    rekey: bool = Field(False, description="renegotiate SAs before they expire (the article: rekey=no)")
    uniqueids: bool = Field(True, description="one SA per identity: a new connection replaces the old one")
    logging: str = Field("cfg 2, dmn 2, ike 2, net 2", description="charon log levels per subsystem (charondebug)")
    networking: Networking = Field(default_factory=Networking)
    radius: Radius | None = Field(None, description="RADIUS servers for variants.ikev2-eap.backend: radius")

    @model_validator(mode="before")
    @classmethod
    def _default_ca_dn(cls, data: Any) -> Any:
        return with_default_ca_dn(data)

    @field_validator("logging")
    @classmethod
    def _check_logging(cls, value: str) -> str:
        parse_log_levels(value)
        return value

    @field_validator("clients")
    @classmethod
    def _unique_clients(cls, clients: list[Client]) -> list[Client]:
        return unique_names(clients, "client")

    @property
    def log_levels(self) -> dict[str, int]:
        return parse_log_levels(self.logging)

    def layout_problems(self) -> list[Finding]:
        """Errors for values the chosen layout's files cannot hold (formats decides)."""
        if self.layout != "ipsec":
            return []
        checks: list[tuple[tuple[str | int, ...], str, Any]] = [(("ca", "dn"), self.ca.dn, formats.ipsec_conf_value)]
        for i, peer in enumerate(self.variants.transport.peers if self.variants.transport else []):
            if peer.id is not None:
                checks.append((("variants", "transport", "peers", i, "id"), peer.id, formats.ipsec_conf_value))
                if peer.auth == "psk":
                    checks.append((("variants", "transport", "peers", i, "id"), peer.id,
                                   formats.ipsec_secret_selector))
        out: dict[tuple[str | int, ...], str] = {}
        for loc, value, rule in checks:
            try:
                rule(value, "")
            except InvalidAnswers as exc:
                out.setdefault(loc, exc.problems[0].message)  # one message per field
        return [Finding("answers.layout", "error", field_path(loc), message) for loc, message in out.items()]

    @model_validator(mode="after")
    def _variants_fit(self) -> Answers:
        # Checks across sections (key types, proposals, address ranges) live with the variants (Variants);
        # what the legacy layout's files cannot hold is refused here too, so the screens show it.
        errors = [f for f in self.variants.cross_problems(self) if f.severity == "error"]
        errors += self.layout_problems()
        if errors:
            raise ValidationError.from_exception_data("Answers", [
                InitErrorDetails(type=PydanticCustomError("variants", "{message}", {"message": f.message}),
                                 loc=field_loc(f.field), input=None)
                for f in errors])
        return self


def answers_warnings(answers: Answers) -> list[Finding]:
    """Choices that work but that a careful admin should know about (warnings, each named by its field)."""
    out: list[Finding] = []
    if not answers.host.key.is_rsa:
        out.append(Finding("answers.apple-host-key", "warning", "host.key",
                           f"{answers.host.key.value}: iOS/macOS clients have had trouble with non-RSA "
                           "server certificates; rsa-2048 or rsa-3072 is the safe choice"))
    if answers.host.lifetime_days > 825:
        out.append(Finding("answers.apple-host-lifetime", "warning", "host.lifetime_days",
                           "Apple clients refuse server certificates valid for more than 825 days"))
    secrets = [("ca.passphrase", answers.ca.passphrase)]
    secrets += [(field_path(("clients", i, "p12_password")), c.p12_password) for i, c in enumerate(answers.clients)]
    out += [Finding("answers.literal-secret", "warning", field,
                    "a literal password in an answers file; use {env: NAME} or {file: PATH}")
            for field, secret in secrets if isinstance(secret, str)]
    if answers.proposals == "seed":
        out.append(Finding("answers.proposal", "warning", "proposals",
                           "the article's lists offer modp1024 and modp1536 (weak); 'modern' avoids them"))
    elif isinstance(answers.proposals, CustomProposals):
        for kind in ("ike", "esp"):
            for p in getattr(answers.proposals, kind):
                out += [Finding("answers.proposal", "warning", f"proposals.{kind}", w)
                        for w in check_proposal(p, kind).warnings]
    if any(level >= 4 for level in answers.log_levels.values()):
        out.append(Finding("answers.log-secrets", "warning", "logging",
                           "level 4 writes private keys and secrets into charon's log"))
    if answers.variants.ikev2_cert is not None and not answers.clients:
        out.append(Finding("answers.no-client-certificate", "warning", "clients",
                           "ikev2-cert is enabled but no client certificate will be issued"))
    out += answers.variants.cross_warnings(answers)
    return out


M = TypeVar("M", bound=BaseModel)


def updated(model: M, **changes: Any) -> M:
    """A validated copy of ``model`` with ``changes`` (pydantic's model_copy does not validate).

    The model's own rules run again over the new whole (unique names, what goes with what), while the parts
    it keeps go in as the instances they are: pydantic takes an instance of a field's class as it is, and every
    instance here was validated when it was made (nothing builds one without). A change to one client of ten
    thousand does not check the others again."""
    fields = type(model).model_fields
    alias = {name: info.alias or name for name, info in fields.items()}
    data = {alias[name]: value for name in fields if (value := getattr(model, name)) is not None}
    data.update({alias.get(k, k): v for k, v in changes.items()})
    return type(model).model_validate(data)
