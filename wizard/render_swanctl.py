"""The swanctl layout: /etc/swanctl/conf.d/swan-wizard.conf (connections, pools, secrets)."""

from __future__ import annotations

from typing import Any

from wizard.answers import Answers
from wizard.confsyntax import render_settings
from wizard.connections import ConnSpec, PoolSpec, connections, pools
from wizard.render_strongswan import HEADER

# ipsec.conf's dpdaction=hold is called trap in swanctl.conf (reference §1.6).
_DPD_ACTION = {"clear": "clear", "hold": "trap", "restart": "restart", "none": "clear"}


def connection_tree(spec: ConnSpec) -> dict[str, Any]:
    conn: dict[str, Any] = {"version": spec.version, "proposals": list(spec.ike_proposals)}
    conn["unique"] = spec.unique
    if spec.dpd_delay:
        conn["dpd_delay"] = spec.dpd_delay
    if not spec.rekey:
        conn["rekey_time"] = "0s"
    conn["fragmentation"] = "yes"
    # Apple clients send no certificate request, and would then get no server certificate (reference §3.1).
    conn["send_cert"] = "always"
    if not spec.send_certreq:
        conn["send_certreq"] = "no"
    if spec.pool:
        conn["pools"] = spec.pool
    conn["local"] = {"auth": "pubkey", "certs": spec.local_cert, "id": spec.local_id}
    remote: dict[str, Any] = {"auth": spec.remote_auth}
    if spec.remote_ca:
        remote["cacerts"] = spec.remote_ca
    if spec.eap_id_any:
        remote["eap_id"] = "%any"
    conn["remote"] = remote
    if spec.remote_auth2:
        conn["remote-2"] = {"auth": spec.remote_auth2}
    child: dict[str, Any] = {"local_ts": list(spec.local_ts), "esp_proposals": list(spec.esp_proposals)}
    if spec.mode != "tunnel":
        child["mode"] = spec.mode
    if spec.dpd_delay:
        child["dpd_action"] = _DPD_ACTION[spec.dpd_action]
    if not spec.rekey:
        child["rekey_time"] = "0s"
    conn["children"] = {spec.name: child}
    return conn


def pool_tree(pool: PoolSpec) -> dict[str, Any]:
    tree: dict[str, Any] = {"addrs": pool.addrs}
    if pool.dns:
        tree["dns"] = list(pool.dns)
    return tree


def swanctl_conf(answers: Answers) -> str:
    tree: dict[str, Any] = {"connections": {spec.name: connection_tree(spec) for spec in connections(answers)}}
    pool_specs = pools(answers)
    if pool_specs:
        tree["pools"] = {p.name: pool_tree(p) for p in pool_specs}
    return HEADER + render_settings(tree)
