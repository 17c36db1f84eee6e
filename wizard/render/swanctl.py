"""The swanctl layout: /etc/swanctl/conf.d/swan-wizard.conf (connections, pools, secrets)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from wizard.fs import paths
from wizard.model import formats
from wizard.render.confsyntax import render_settings
from wizard.render.connections import ConnSpec, PoolSpec, SecretSpec, ServerSpec
from wizard.render.strongswan_d import HEADER

# ipsec.conf's dpdaction=hold is called trap in swanctl.conf (reference §1.6).
_DPD_ACTION = {"clear": "clear", "hold": "trap", "restart": "restart", "none": "clear", "trap": "trap"}


def connection_tree(spec: ConnSpec) -> dict[str, Any]:
    conn: dict[str, Any] = {"version": spec.version}
    if spec.remote_addrs:
        conn["remote_addrs"] = spec.remote_addrs
    conn["proposals"] = list(spec.ike_proposals)
    conn["unique"] = spec.unique
    if spec.dpd_delay:
        conn["dpd_delay"] = spec.dpd_delay
    if not spec.rekey:
        conn["rekey_time"] = "0s"
    if not spec.mobike:
        conn["mobike"] = "no"
    conn["fragmentation"] = "yes"
    if spec.local_cert:
        # Apple clients send no certificate request, and would then get no server certificate (reference §3.1).
        conn["send_cert"] = "always"
    if not spec.send_certreq:
        conn["send_certreq"] = "no"
    if spec.pool:
        conn["pools"] = spec.pool
    local: dict[str, Any] = {"auth": spec.local_auth}
    if spec.local_cert:
        local["certs"] = spec.local_cert
    local["id"] = spec.local_id
    conn["local"] = local
    remote: dict[str, Any] = {"auth": spec.remote_auth}
    if spec.remote_id:
        remote["id"] = spec.remote_id
    if spec.remote_ca:
        remote["cacerts"] = spec.remote_ca
    if spec.eap_id_any:
        remote["eap_id"] = "%any"
    conn["remote"] = remote
    if spec.remote_auth2:
        # A second authentication round: for IKEv1 this is XAUTH after the certificate or PSK.
        conn["remote-2"] = {"auth": spec.remote_auth2}
    child: dict[str, Any] = {}
    if spec.local_ts:
        child["local_ts"] = list(spec.local_ts)
    if spec.remote_ts:
        child["remote_ts"] = list(spec.remote_ts)
    child["esp_proposals"] = list(spec.esp_proposals)
    if spec.mode != "tunnel":
        child["mode"] = spec.mode
    if spec.dpd_delay:
        child["dpd_action"] = _DPD_ACTION[spec.dpd_action]
    if not spec.rekey:
        child["rekey_time"] = "0s"
    if spec.start_action != "none":
        child["start_action"] = spec.start_action
    conn["children"] = {spec.name: child}
    return conn


def pool_tree(pool: PoolSpec) -> dict[str, Any]:
    tree: dict[str, Any] = {"addrs": pool.addrs}
    if pool.dns:
        tree["dns"] = list(pool.dns)
    return tree


def secret_tree(secret: SecretSpec) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    if len(secret.owners) == 1:
        tree["id"] = secret.owners[0]
    else:
        tree.update({f"id-{i}": owner for i, owner in enumerate(secret.owners, 1)})
    tree["secret"] = secret_value(secret)
    return tree


_SECTION_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def secret_section(secret: SecretSpec) -> str:
    """The section name under ``secrets``: it starts with the type, the rest only has to be unique.

    User names may hold "@", "+" and "." (carol.smith@example.com), but a "." in a section name is a
    syntax error for swanctl ("unexpected ., expecting : or '{' or '='": the dot separates settings
    paths), and the serializer writes plain names only. Such characters become "_", with a short hash
    of the original keeping the names unique; the user name itself stays in ``id``.
    """
    safe = _SECTION_UNSAFE.sub("_", secret.suffix)
    if safe != secret.suffix:
        safe += "-" + hashlib.sha256(secret.suffix.encode()).hexdigest()[:8]
    return f"{secret.kind}-{safe}"


def secret_value(secret: SecretSpec) -> str:
    """The secret as charon reads it: values starting 0x/0s would be decoded as hex/base64, so send those as hex."""
    if secret.kind == "ntlm":
        return "0x" + secret.value.hex()
    text = formats.secret_text(secret.value, secret.field)  # the rule of every secret, hex-written or not
    if secret.value[:2] in (b"0x", b"0s"):
        return "0x" + secret.value.hex()
    formats.settings_string(text, secret.field)  # refused here, with the field's name, if swanctl.conf cannot hold it
    return text


def swanctl_conf(server: ServerSpec) -> str:
    tree: dict[str, Any] = {"connections": {spec.name: connection_tree(spec) for spec in server.connections}}
    if server.pools:
        tree["pools"] = {p.name: pool_tree(p) for p in server.pools}
    if server.secrets:
        tree["secrets"] = {secret_section(s): secret_tree(s) for s in server.secrets}
    if server.crl_uri:
        # swanctl cannot hand charon a CRL over 64 KiB (one vici value): charon fetches it from its file.
        tree["authorities"] = {paths.CRL_AUTHORITY: {"cacert": paths.CA_CERT_NAME, "crl_uris": [server.crl_uri]}}
    return HEADER + render_settings(tree)
