"""What each enabled VPN variant asks of charon, independent of the configuration layout.

Both renderers (swanctl.conf and the legacy ipsec.conf) translate these specs, so the two layouts
cannot drift apart on what a variant means. Connection names are the Arch Wiki article's (they show
up in charon's log and in ``swanctl --list-sas``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, TypedDict

from wizard.fs import paths
from wizard.model.answers import Answers, CustomProposals, is_ip
from wizard.model.credentials import Credential, secret_key
from wizard.model.proposals import preset
from wizard.pki.ntlm import nt_hash

POOL_V4 = "swan-wizard-v4"
CONN_IKEV2_CERT = "IPSec-IKEv2"
CONN_IKEV2_EAP = "IPSec-IKEv2-EAP"
CONN_IKEV1_XAUTH = "CiscoIPSec"
CONN_L2TP = "L2TP-IPsec"
TRANSPORT_PREFIX = "transport-"


@dataclass(frozen=True)
class PoolSpec:
    name: str
    addrs: str
    dns: tuple[str, ...]


@dataclass(frozen=True)
class ConnSpec:
    name: str
    version: Literal[1, 2]
    ike_proposals: tuple[str, ...]
    esp_proposals: tuple[str, ...]
    local_id: str
    local_auth: Literal["pubkey", "psk"] = "pubkey"
    local_cert: str | None = paths.HOST_CERT_NAME
    remote_auth: str = "pubkey"  # pubkey | eap-mschapv2 | eap-radius | psk
    remote_auth2: str | None = None  # xauth or xauth-radius in a second round (IKEv1 Cisco)
    remote_ca: str | None = None  # pin client certificates to this CA (file name)
    remote_id: str | None = None  # None: any identity
    remote_addrs: str | None = None  # None: any address (road warriors)
    eap_id_any: bool = False
    send_certreq: bool = True
    pool: str | None = None  # pool name, "dhcp", or None (no virtual IP)
    dns: tuple[str, ...] = ()
    local_ts: tuple[str, ...] = ("0.0.0.0/0",)
    remote_ts: tuple[str, ...] | None = None  # None: the peer's (virtual) address
    mode: Literal["tunnel", "transport"] = "tunnel"
    start_action: Literal["none", "trap", "start"] = "none"
    mobike: bool = True
    dpd_delay: str | None = "300s"
    dpd_action: str = "clear"
    rekey: bool = False
    unique: Literal["replace", "never"] = "replace"


@dataclass(frozen=True)
class SecretSpec:
    """One entry of charon's secrets: swanctl ``secrets { <kind>-<suffix> {...} }`` or an ipsec.secrets line."""

    kind: Literal["ntlm", "xauth", "ike"]
    suffix: str
    owners: tuple[str, ...]  # identities the secret belongs to; empty = any
    value: bytes  # for ntlm: the 16-byte NT hash; otherwise the secret itself
    # Where the value and each owner come from in the answers, for a file format's refusal (not content).
    field: str = dataclasses.field(default="", compare=False)
    owner_fields: tuple[str, ...] = dataclasses.field(default=(), compare=False)


def proposals_for(answers: Answers, kind: str, version: int) -> tuple[str, ...]:
    """The "ike" or "esp" list for IKEv2 (``version`` 2) or IKEv1 connections.

    All connections of one IKE version get the same lists: charon picks the IKE config by address
    before it knows which connection a client wants, and a peer config whose proposals differ from
    the negotiated ones is skipped ("no matching peer config found", reference §6 row 4).
    """
    if isinstance(answers.proposals, CustomProposals):
        return answers.proposals.for_version(kind, version)
    return preset(answers.proposals, kind, version)


def pools(answers: Answers) -> tuple[PoolSpec, ...]:
    if answers.pool.addresses == "dhcp" or not uses_pool(answers):
        return ()
    return (PoolSpec(POOL_V4, answers.pool.addresses, tuple(answers.pool.dns)),)


def uses_pool(answers: Answers) -> bool:
    v = answers.variants
    return any(x is not None for x in (v.ikev2_cert, v.ikev2_eap, v.ikev1_xauth))


def pool_name(answers: Answers) -> str:
    return "dhcp" if answers.pool.addresses == "dhcp" else POOL_V4


class _Proposals(TypedDict):
    """The ConnSpec fields shared by all connections of one IKE version."""

    ike_proposals: tuple[str, ...]
    esp_proposals: tuple[str, ...]


class _RoadWarrior(TypedDict):
    """The ConnSpec fields shared by the road-warrior connections (IKEv2 cert/EAP, IKEv1 XAuth)."""

    local_id: str
    pool: str
    dns: tuple[str, ...]
    dpd_delay: str | None
    dpd_action: str
    rekey: bool
    unique: Literal["replace", "never"]


def _road_warrior(answers: Answers) -> _RoadWarrior:
    return {
        "local_id": answers.server.address,
        "pool": pool_name(answers),
        "dns": tuple(answers.pool.dns),
        "dpd_delay": None if answers.dpd.action == "none" else answers.dpd.delay,
        "dpd_action": answers.dpd.action,
        "rekey": answers.rekey,
        "unique": "replace" if answers.uniqueids else "never",
    }


def connections(answers: Answers) -> tuple[ConnSpec, ...]:
    v = answers.variants
    rw = _road_warrior(answers)
    ike2 = _Proposals(ike_proposals=proposals_for(answers, "ike", 2), esp_proposals=proposals_for(answers, "esp", 2))
    ike1 = _Proposals(ike_proposals=proposals_for(answers, "ike", 1), esp_proposals=proposals_for(answers, "esp", 1))
    specs: list[ConnSpec] = []
    if v.ikev2_cert is not None:
        specs.append(ConnSpec(name=CONN_IKEV2_CERT, version=2, remote_auth="pubkey", remote_ca=paths.CA_CERT_NAME,
                              local_ts=tuple(v.ikev2_cert.local_ts), **ike2, **rw))
    if v.ikev2_eap is not None:
        # No client certificate: the identity comes from an EAP-Identity exchange (eap_id = %any).
        # backend radius: charon relays the EAP conversation to RADIUS (eap-radius), whatever the method.
        method = "eap-radius" if v.ikev2_eap.backend == "radius" else "eap-mschapv2"
        specs.append(ConnSpec(name=CONN_IKEV2_EAP, version=2, remote_auth=method, eap_id_any=True,
                              send_certreq=False, local_ts=tuple(v.ikev2_eap.local_ts), **ike2, **rw))
    if v.ikev1_xauth is not None:
        x = v.ikev1_xauth
        specs.append(ConnSpec(
            name=CONN_IKEV1_XAUTH, version=1,
            local_auth="pubkey" if x.auth == "cert" else "psk",
            local_cert=paths.HOST_CERT_NAME if x.auth == "cert" else None,
            remote_auth="pubkey" if x.auth == "cert" else "psk",
            # backend radius: the eap-radius plugin's XAuth backend asks RADIUS (User-Name/User-Password).
            remote_auth2="xauth-radius" if x.backend == "radius" else "xauth",
            remote_ca=paths.CA_CERT_NAME if x.auth == "cert" else None,
            local_ts=tuple(x.local_ts),  # one network: the model refuses more (IKEv1 uses only the first)
            **ike1, **rw))
    if v.transport is not None:
        for peer in v.transport.peers:
            cert = peer.auth == "cert"
            specs.append(ConnSpec(
                name=f"{TRANSPORT_PREFIX}{peer.name}", version=2, **ike2,
                local_id=answers.server.address, local_auth="pubkey" if cert else "psk",
                local_cert=paths.HOST_CERT_NAME if cert else None,
                remote_auth="pubkey" if cert else "psk", remote_ca=paths.CA_CERT_NAME if cert else None,
                remote_id=peer.id or peer.address, remote_addrs=peer.address,
                local_ts=(), remote_ts=(), mode="transport", start_action=peer.start, mobike=False,
                dpd_delay="30s" if peer.start != "none" else None,
                dpd_action="trap" if peer.start == "trap" else "clear", rekey=True))
    if v.l2tp is not None:
        cert = v.l2tp.auth == "cert"
        specs.append(ConnSpec(
            name=CONN_L2TP, version=1, **ike1, local_id=answers.server.address,
            local_auth="pubkey" if cert else "psk", local_cert=paths.HOST_CERT_NAME if cert else None,
            remote_auth="pubkey" if cert else "psk", remote_ca=paths.CA_CERT_NAME if cert else None,
            # L2TP runs over UDP 1701 between the two hosts' own addresses; pppd hands out the inner ones.
            local_ts=("dynamic[udp/1701]",), remote_ts=("dynamic[udp]",), mode="transport",
            dpd_delay="30s", dpd_action="clear", rekey=False,
            unique="replace" if answers.uniqueids else "never"))
    return tuple(specs)


def secrets(answers: Answers, creds: dict[str, Credential]) -> tuple[SecretSpec, ...]:
    v = answers.variants
    out: list[SecretSpec] = []
    if v.ikev2_eap is not None and v.ikev2_eap.backend == "local":
        # EAP-MSCHAPv2 works from the NT hash alone: the plaintext password never reaches the disk.
        out += [SecretSpec("ntlm", f"eap-{u.name}", (u.name,), nt_hash(creds[secret_key("eap", u.name)].value),
                           creds[secret_key("eap", u.name)].field, (f"variants.ikev2-eap.users[{i}].name",))
                for i, u in enumerate(v.ikev2_eap.users)]
    if v.ikev1_xauth is not None:
        if v.ikev1_xauth.auth == "psk":
            # IKEv1 main mode looks a PSK up before it knows the peer's identity: no owner, i.e. %any.
            group = creds[secret_key("xauth")]
            out.append(SecretSpec("ike", "xauth-psk", (), group.value, group.field))
        # XAUTH compares the plaintext (xauth-generic): it has to be stored as such, in a 0600 file.
        out += [SecretSpec("xauth", u.name, (u.name,), creds[secret_key("xauth", u.name)].value,
                           creds[secret_key("xauth", u.name)].field, (f"variants.ikev1-xauth.users[{i}].name",))
                for i, u in enumerate(v.ikev1_xauth.users)]
    if v.transport is not None:
        for i, peer in enumerate(v.transport.peers):
            if peer.auth == "psk":
                owners = (answers.server.address, peer.id or peer.address)
                fields = ("server.address", f"variants.transport.peers[{i}].{'id' if peer.id else 'address'}")
                cred = creds[secret_key("transport", peer.name)]
                out.append(SecretSpec("ike", f"transport-{peer.name}", owners, cred.value, cred.field, fields))
    if v.l2tp is not None and v.l2tp.auth == "psk":
        group = creds[secret_key("l2tp")]
        out.append(SecretSpec("ike", "l2tp-psk", (), group.value, group.field))
    return tuple(out)


@dataclass(frozen=True)
class ServerSpec:
    """What charon is told: derived from the answers once per plan, then each renderer takes only this."""

    connections: tuple[ConnSpec, ...]
    pools: tuple[PoolSpec, ...]
    secrets: tuple[SecretSpec, ...] = ()
    # Where charon fetches the CRL itself (an authority's crl_uris) when it is too big to load over vici.
    crl_uri: str | None = None

    def connection(self, name: str) -> ConnSpec | None:
        return next((spec for spec in self.connections if spec.name == name), None)

    def pool(self, name: str | None) -> PoolSpec | None:
        return next((pool for pool in self.pools if pool.name == name), None)

    def proposals(self, kind: Literal["ike", "esp"], version: int) -> tuple[str, ...]:
        """The IKE or ESP proposals of the connections of one IKE version (all the same: see proposals_for)."""
        spec = next((spec for spec in self.connections if spec.version == version), None)
        if spec is None:
            return ()
        return spec.ike_proposals if kind == "ike" else spec.esp_proposals


def server_spec(answers: Answers, creds: dict[str, Credential]) -> ServerSpec:
    return ServerSpec(connections(answers), pools(answers), secrets(answers, creds))


def ike_identity(identity: str) -> str:
    """ipsec.conf spelling: "@" keeps the starter from resolving a DNS name and makes it an FQDN identity."""
    return identity if is_ip(identity) or "=" in identity or "@" in identity else f"@{identity}"
