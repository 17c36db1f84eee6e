"""The legacy layout, in the Arch Wiki article's style: /etc/ipsec.conf and /etc/ipsec.secrets."""

from __future__ import annotations

from wizard.fs.paths import HOST_KEY_NAME
from wizard.model import formats
from wizard.pki.keytypes import KeyType
from wizard.render.confsyntax import Value, ipsec_secret, render_ipsec_conf
from wizard.render.connections import ConnSpec, SecretSpec, ServerSpec, ike_identity
from wizard.render.strongswan_d import HEADER

_AUTO = {"none": "add", "trap": "route", "start": "start"}
_SECRET_KIND = {"ntlm": "NTLM", "xauth": "XAUTH", "ike": "PSK"}


def _source_ip(spec: ConnSpec, server: ServerSpec) -> str | None:
    if spec.pool == "dhcp":
        return "%dhcp"
    pool = server.pool(spec.pool)
    return pool.addrs if pool else None


def _subnet(selectors: tuple[str, ...]) -> str:
    # swanctl's dynamic[udp/1701] is ipsec.conf's %dynamic[udp/1701]
    return ",".join(f"%{ts}" if ts.startswith("dynamic") else ts for ts in selectors)


def conn_options(spec: ConnSpec, server: ServerSpec, ca_dn: str) -> dict[str, Value]:
    """One conn section; ``ca_dn`` is the CA's subject, which rightca names (ipsec.conf pins by DN)."""
    opts: dict[str, Value] = {
        "keyexchange": "ikev2" if spec.version == 2 else "ikev1",
        # "!" stops charon from appending its default proposals (reference §1.6).
        "ike": ",".join(spec.ike_proposals) + "!",
        "esp": ",".join(spec.esp_proposals) + "!",
    }
    if spec.dpd_delay:
        opts["dpdaction"] = {"trap": "hold"}.get(spec.dpd_action, spec.dpd_action)
        opts["dpddelay"] = spec.dpd_delay
    else:
        opts["dpdaction"] = "none"
    opts["rekey"] = "yes" if spec.rekey else "no"
    if not spec.mobike:
        opts["mobike"] = "no"
    opts["fragmentation"] = "yes"
    opts["left"] = "%any"
    opts["leftauth"] = spec.local_auth
    opts["leftid"] = ike_identity(spec.local_id)
    if spec.local_cert:
        opts["leftcert"] = spec.local_cert
        opts["leftsendcert"] = "always"
    if spec.local_ts:
        opts["leftsubnet"] = _subnet(spec.local_ts)
    opts["right"] = spec.remote_addrs or "%any"
    if spec.remote_id:
        opts["rightid"] = ike_identity(spec.remote_id)
    if spec.remote_ts:
        opts["rightsubnet"] = _subnet(spec.remote_ts)
    opts["rightauth"] = spec.remote_auth
    if spec.remote_auth2:
        opts["rightauth2"] = spec.remote_auth2
    if spec.remote_ca:
        opts["rightca"] = ca_dn
    if not spec.send_certreq:
        opts["rightsendcert"] = "never"
    if spec.eap_id_any:
        opts["eap_identity"] = "%any"
    if spec.pool:
        if spec.dns:
            opts["rightdns"] = ",".join(spec.dns)
        source = _source_ip(spec, server)
        if source:
            opts["rightsourceip"] = source
    if spec.mode != "tunnel":
        opts["type"] = spec.mode
    opts["auto"] = _AUTO[spec.start_action]
    return opts


def ipsec_conf(server: ServerSpec, *, ca_dn: str, uniqueids: bool, charondebug: str) -> str:
    setup: dict[str, Value] = {
        "uniqueids": "yes" if uniqueids else "never",
        # Kept for readers of the article; the loggers in strongswan.d/swan-wizard.conf take precedence.
        "charondebug": charondebug,
    }
    conns = [(spec.name, conn_options(spec, server, ca_dn)) for spec in server.connections]
    header = "# ipsec.conf - strongSwan IPsec configuration file\n" + HEADER.rstrip("\n")
    return render_ipsec_conf(setup, conns, header=header)


def _key_kind(key_type: KeyType) -> str:
    if key_type.is_rsa:
        return "RSA"
    if key_type.is_ecdsa:
        return "ECDSA"
    return "PKCS8"  # Ed25519: ipsec.secrets names no dedicated type, PKCS8 loads any key


def _secret_line(secret: SecretSpec) -> str:
    # IKE identities get ipsec.conf's spelling; EAP/XAUTH owners are plain user names, as in the article.
    fields = secret.owner_fields or ("",) * len(secret.owners)
    selectors = [(ike_identity(o) if secret.kind == "ike" else o, f)
                 for o, f in zip(secret.owners, fields, strict=True)]
    kind = _SECRET_KIND[secret.kind]
    if secret.kind == "ntlm":
        return ipsec_secret(selectors, kind, "0x" + secret.value.hex(), quote=False)
    text = formats.secret_text(secret.value, secret.field)  # the rule of every secret, hex-written or not
    if secret.value[:2] in (b"0x", b"0s"):
        return ipsec_secret(selectors, kind, "0x" + secret.value.hex(), quote=False)
    return ipsec_secret(selectors, kind, text, field=secret.field)


def ipsec_secrets(host_key: KeyType, secrets: tuple[SecretSpec, ...] = ()) -> str:
    """ipsec.secrets: the host key (of type ``host_key``) by file name, then the users' and PSK secrets."""
    kind = _key_kind(host_key)
    lines = ["# /etc/ipsec.secrets - strongSwan IPsec secrets file\n", HEADER,
             "\n# The VPN host's private key (relative to /etc/ipsec.d/private)\n",
             ipsec_secret((), kind, HOST_KEY_NAME, quote=False)]
    if secrets:
        lines.append("\n# Users and pre-shared keys (EAP-MSCHAPv2 users as NT hashes)\n")
        lines += [_secret_line(s) for s in secrets]
    return "".join(lines)
