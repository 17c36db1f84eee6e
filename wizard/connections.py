"""What each enabled VPN variant asks of charon, independent of the configuration layout.

Both renderers (swanctl.conf and the legacy ipsec.conf) translate these specs, so the two layouts
cannot drift apart on what a variant means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wizard import paths
from wizard.answers import Answers, CustomProposals
from wizard.proposals import preset

POOL_V4 = "swan-wizard-v4"


@dataclass(frozen=True)
class PoolSpec:
    name: str
    addrs: str
    dns: tuple[str, ...]


@dataclass(frozen=True)
class ConnSpec:
    name: str  # the article's conn names, used by both layouts (they show up in charon's log)
    version: Literal[1, 2]
    ike_proposals: tuple[str, ...]
    esp_proposals: tuple[str, ...]
    local_id: str
    local_cert: str
    remote_auth: str  # pubkey | eap-mschapv2 | psk
    remote_auth2: str | None = None  # xauth in a second round (IKEv1 Cisco)
    remote_ca: str | None = None  # pin client certificates to this CA (file name)
    eap_id_any: bool = False
    send_certreq: bool = True
    pool: str | None = None  # pool name, "dhcp", or None
    dns: tuple[str, ...] = ()
    local_ts: tuple[str, ...] = ("0.0.0.0/0",)
    mode: Literal["tunnel", "transport"] = "tunnel"
    dpd_delay: str | None = "300s"
    dpd_action: str = "clear"
    rekey: bool = False
    unique: Literal["replace", "never"] = "replace"


def proposals_for(answers: Answers, kind: str, version: int) -> tuple[str, ...]:
    if version == 1:
        return preset("", kind, 1)
    if isinstance(answers.proposals, CustomProposals):
        return tuple(getattr(answers.proposals, kind))
    return preset(answers.proposals, kind)


def pools(answers: Answers) -> tuple[PoolSpec, ...]:
    if answers.pool.addresses == "dhcp":
        return ()
    return (PoolSpec(POOL_V4, answers.pool.addresses, tuple(answers.pool.dns)),)


def pool_name(answers: Answers) -> str:
    return "dhcp" if answers.pool.addresses == "dhcp" else POOL_V4


def connections(answers: Answers) -> tuple[ConnSpec, ...]:
    common = {
        "local_id": answers.server.address,
        "local_cert": paths.HOST_CERT_NAME,
        "pool": pool_name(answers),
        "dns": tuple(answers.pool.dns),
        "dpd_delay": None if answers.dpd.action == "none" else answers.dpd.delay,
        "dpd_action": answers.dpd.action,
        "rekey": answers.rekey,
        "unique": "replace" if answers.uniqueids else "never",
    }
    specs: list[ConnSpec] = []
    if answers.variants.ikev2_cert is not None:
        specs.append(ConnSpec(
            name="IPSec-IKEv2", version=2,
            ike_proposals=proposals_for(answers, "ike", 2), esp_proposals=proposals_for(answers, "esp", 2),
            remote_auth="pubkey", remote_ca=paths.CA_CERT_NAME,
            local_ts=tuple(answers.variants.ikev2_cert.local_ts), **common))
    return tuple(specs)
