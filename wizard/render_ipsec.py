"""The legacy layout, in the Arch Wiki article's style: /etc/ipsec.conf and /etc/ipsec.secrets."""

from __future__ import annotations

from wizard import pki
from wizard.answers import Answers, is_ip
from wizard.confsyntax import Value, ipsec_secret, render_ipsec_conf
from wizard.connections import ConnSpec, connections, pools
from wizard.keytypes import KeyType
from wizard.paths import HOST_KEY_NAME
from wizard.render_strongswan import HEADER


def _ike_id(identity: str) -> str:
    # "@" stops the starter from resolving a DNS name and makes it an FQDN identity, as swanctl's id does.
    return identity if is_ip(identity) else f"@{identity}"


def _source_ip(spec: ConnSpec, answers: Answers) -> str | None:
    if spec.pool == "dhcp":
        return "%dhcp"
    pool = next((p for p in pools(answers) if p.name == spec.pool), None)
    return pool.addrs if pool else None


def conn_options(spec: ConnSpec, answers: Answers) -> dict[str, Value]:
    opts: dict[str, Value] = {
        "keyexchange": "ikev2" if spec.version == 2 else "ikev1",
        # "!" stops charon from appending its default proposals (reference §1.6).
        "ike": ",".join(spec.ike_proposals) + "!",
        "esp": ",".join(spec.esp_proposals) + "!",
    }
    if spec.dpd_delay:
        opts["dpdaction"] = spec.dpd_action
        opts["dpddelay"] = spec.dpd_delay
    else:
        opts["dpdaction"] = "none"
    opts["rekey"] = "yes" if spec.rekey else "no"
    opts["fragmentation"] = "yes"
    opts["left"] = "%any"
    opts["leftid"] = _ike_id(spec.local_id)
    opts["leftcert"] = spec.local_cert
    opts["leftsendcert"] = "always"
    opts["leftsubnet"] = ",".join(spec.local_ts)
    opts["right"] = "%any"
    opts["rightauth"] = spec.remote_auth
    if spec.remote_auth2:
        opts["rightauth2"] = spec.remote_auth2
    if spec.remote_ca:
        opts["rightca"] = answers.ca.dn
    if not spec.send_certreq:
        opts["rightsendcert"] = "never"
    if spec.eap_id_any:
        opts["eap_identity"] = "%any"
    if spec.dns:
        opts["rightdns"] = ",".join(spec.dns)
    source = _source_ip(spec, answers)
    if source:
        opts["rightsourceip"] = source
    if spec.mode != "tunnel":
        opts["type"] = spec.mode
    opts["auto"] = "add"
    return opts


def ipsec_conf(answers: Answers) -> str:
    setup: dict[str, Value] = {
        "uniqueids": "yes" if answers.uniqueids else "never",
        # Kept for readers of the article; the loggers in strongswan.d/swan-wizard.conf take precedence.
        "charondebug": answers.logging,
    }
    conns = [(spec.name, conn_options(spec, answers)) for spec in connections(answers)]
    header = "# ipsec.conf - strongSwan IPsec configuration file\n" + HEADER.rstrip("\n")
    return render_ipsec_conf(setup, conns, header=header)


def _key_kind(key_type: KeyType) -> str:
    if key_type.is_rsa:
        return "RSA"
    if key_type.is_ecdsa:
        return "ECDSA"
    return "PKCS8"  # Ed25519: ipsec.secrets names no dedicated type, PKCS8 loads any key


def ipsec_secrets(answers: Answers, host_key: pki.PrivateKey | None = None) -> str:
    kind = _key_kind(pki.key_type_of(host_key) if host_key is not None else answers.host.key)
    lines = ["# /etc/ipsec.secrets - strongSwan IPsec secrets file\n", HEADER,
             "\n# The VPN host's private key (relative to /etc/ipsec.d/private)\n",
             ipsec_secret("", kind, HOST_KEY_NAME, quote=False)]
    return "".join(lines)
