"""ipsec.conf and ipsec.secrets per variant, in the article's style (starter loads them: test_variants_*.py)."""

from __future__ import annotations

from wizard.model import answers_file
from wizard.model.answers import Answers
from wizard.model.credentials import Credential, secret_key
from wizard.model.proposals import IKEV1_ESP, IKEV1_IKE, MODERN_IKE
from wizard.pki.keytypes import KeyType
from wizard.pki.ntlm import nt_hash
from wizard.render.connections import ServerSpec, connections, pools, secrets
from wizard.render.ipsec import conn_options, ipsec_conf, ipsec_secrets

BASE = "version: 1\nlayout: ipsec\nserver: {address: vpn.example.com}\nclients: [{name: alice@example.com}]\n"


def parse(extra: str) -> Answers:
    return answers_file.parse(BASE + extra)


def server(answers: Answers) -> ServerSpec:
    return ServerSpec(connections(answers), pools(answers))


def options(answers: Answers, name: str) -> dict[str, object]:
    return conn_options(next(s for s in connections(answers) if s.name == name), server(answers), answers.ca.dn)


def conf(answers: Answers) -> str:
    return ipsec_conf(server(answers), ca_dn=answers.ca.dn, uniqueids=answers.uniqueids, charondebug=answers.logging)


def creds(pairs: dict[str, str]) -> dict[str, Credential]:
    """Credentials by secret_key, given as {"xauth-psk": ..., "eap-bob": ...} (variant-owner, "psk" the group's)."""
    out = {}
    for short, v in pairs.items():
        variant, owner = short.split("-", 1)
        k = secret_key(variant, None if owner == "psk" else owner)  # type: ignore[arg-type]
        out[k] = Credential(k, f"field-{k}", v.encode(), True)
    return out


def test_ikev2_cert_like_the_article() -> None:
    conn = options(parse("variants: {ikev2-cert: {}}\n"), "IPSec-IKEv2")
    assert conn["keyexchange"] == "ikev2"
    assert conn["ike"] == ",".join(MODERN_IKE) + "!"  # "!": no charon defaults appended
    assert conn["dpdaction"] == "clear" and conn["dpddelay"] == "300s" and conn["rekey"] == "no"
    assert conn["left"] == "%any" and conn["leftid"] == "@vpn.example.com" and conn["leftcert"] == "vpn-host.pem"
    assert conn["leftsendcert"] == "always" and conn["leftsubnet"] == "0.0.0.0/0"
    assert conn["right"] == "%any" and conn["rightauth"] == "pubkey"
    assert conn["rightca"] == "O=example.com, CN=vpn.example.com VPN CA"
    assert conn["rightsourceip"] == "10.10.10.0/24" and conn["rightdns"] == "8.8.8.8,8.8.4.4"
    assert conn["auto"] == "add"


def test_dhcp_pool_and_split_tunnel() -> None:
    conn = options(parse("variants: {ikev2-cert: {local_ts: [10.1.0.0/16, 10.2.0.0/16]}}\n"
                         "pool: {addresses: dhcp, dns: [192.168.0.1]}\n"), "IPSec-IKEv2")
    assert conn["rightsourceip"] == "%dhcp" and conn["rightdns"] == "192.168.0.1"
    assert conn["leftsubnet"] == "10.1.0.0/16,10.2.0.0/16"


def test_dpd_none_uniqueids_and_rekey() -> None:
    answers = parse("variants: {ikev2-cert: {}}\ndpd: {action: none}\nuniqueids: false\nrekey: true\n")
    conn = options(answers, "IPSec-IKEv2")
    assert conn["dpdaction"] == "none" and "dpddelay" not in conn and conn["rekey"] == "yes"
    text = conf(answers)
    assert "config setup\n    uniqueids=never\n" in text
    assert 'charondebug="cfg 2, dmn 2, ike 2, net 2"' in text


def test_ikev2_eap() -> None:
    conn = options(parse("variants: {ikev2-eap: {}}\n"), "IPSec-IKEv2-EAP")
    assert conn["rightauth"] == "eap-mschapv2" and conn["eap_identity"] == "%any"
    assert conn["rightsendcert"] == "never" and "rightca" not in conn


def test_ikev1_xauth_cert_and_psk() -> None:
    cert = options(parse("variants: {ikev1-xauth: {}}\n"), "CiscoIPSec")
    assert cert["keyexchange"] == "ikev1" and cert["ike"] == ",".join(IKEV1_IKE) + "!"
    assert cert["esp"] == ",".join(IKEV1_ESP) + "!"
    assert cert["leftauth"] == "pubkey" and cert["rightauth"] == "pubkey" and cert["rightauth2"] == "xauth"
    psk = options(parse("variants: {ikev1-xauth: {auth: psk}}\n"), "CiscoIPSec")
    assert psk["leftauth"] == "psk" and psk["rightauth"] == "psk" and psk["rightauth2"] == "xauth"
    assert "leftcert" not in psk


def test_transport_and_l2tp() -> None:
    answers = parse("variants: {transport: {peers: [{name: db, address: 192.0.2.7}]}, l2tp: {}}\n")
    db = options(answers, "transport-db")
    assert db["type"] == "transport" and db["auto"] == "route" and db["dpdaction"] == "hold"
    assert db["right"] == "192.0.2.7" and db["rightid"] == "192.0.2.7" and db["mobike"] == "no"
    assert "leftsubnet" not in db and "rightsourceip" not in db
    l2tp = options(answers, "L2TP-IPsec")
    assert l2tp["type"] == "transport" and l2tp["keyexchange"] == "ikev1"
    assert l2tp["leftsubnet"] == "%dynamic[udp/1701]" and l2tp["rightsubnet"] == "%dynamic[udp]"
    assert l2tp["leftauth"] == "psk" and l2tp["rightauth"] == "psk"


def test_secrets_hold_nt_hashes_and_no_eap_password() -> None:
    answers = parse("variants: {ikev2-eap: {users: [{name: bob}]}, ikev1-xauth: {auth: psk, users: [{name: carol}]}, "
                    "transport: {peers: [{name: web, address: 192.0.2.8, id: web.example.com, auth: psk}]}}\n")
    specs = secrets(answers, creds({"eap-bob": "bob-password", "xauth-psk": "group key", "xauth-carol": "c-pw",
                                    "transport-web": "0sLooksBase64"}))
    text = ipsec_secrets(answers.host.key, specs)
    assert ": RSA vpn-host.key\n" in text
    assert f"bob : NTLM 0x{nt_hash('bob-password').hex()}\n" in text and "bob-password" not in text
    assert 'carol : XAUTH "c-pw"\n' in text
    assert ': PSK "group key"\n' in text  # no selector: IKEv1 main mode needs it before the identity
    # a value charon would decode (0s = base64) goes as hex, so the bytes stay what the peer types
    assert f"@vpn.example.com @web.example.com : PSK 0x{b'0sLooksBase64'.hex()}\n" in text


def test_host_key_kind_follows_the_key() -> None:
    answers = parse("variants: {ikev2-cert: {}}\n")
    assert ": ECDSA vpn-host.key" in ipsec_secrets(KeyType.ECDSA_P256)
    assert ": PKCS8 vpn-host.key" in ipsec_secrets(KeyType.ED25519)
    assert ": RSA vpn-host.key" in ipsec_secrets(answers.host.key)
