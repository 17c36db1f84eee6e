"""swanctl.conf per variant: what each answer turns into (the real daemons load it: test_variants_*.py)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers
from wizard.model.credentials import Credential, secret_key
from wizard.model.proposals import IKEV1_ESP, IKEV1_IKE, MODERN_ESP, MODERN_IKE, SEED_IKE
from wizard.model.secrets import SecretSource
from wizard.pki.ntlm import nt_hash
from wizard.plan.planner import build_plan
from wizard.render import connections as connections_module
from wizard.render import ipsec as render_ipsec
from wizard.render.connections import SecretSpec, ServerSpec, connections, pools, secrets
from wizard.render.swanctl import connection_tree, secret_section, secret_value, swanctl_conf

BASE = "version: 1\nserver: {address: vpn.example.com}\nclients: [{name: alice@example.com}]\n"


def parse(extra: str) -> Answers:
    return answers_file.parse(BASE + extra)


def tree(answers: Answers, name: str) -> dict[str, Any]:
    spec = next(s for s in connections(answers) if s.name == name)
    return connection_tree(spec)


def conf(answers: Answers, specs: tuple[SecretSpec, ...] = ()) -> str:
    return swanctl_conf(ServerSpec(connections(answers), pools(answers), specs))


def creds(pairs: dict[str, str]) -> dict[str, Credential]:
    """Credentials by secret_key, given as {"xauth-psk": ..., "eap-bob": ...} (variant-owner, "psk" the group's)."""
    out = {}
    for short, v in pairs.items():
        variant, owner = short.split("-", 1)
        k = secret_key(variant, None if owner == "psk" else owner)  # type: ignore[arg-type]
        out[k] = Credential(k, f"field-{k}", v.encode(), True)
    return out


def test_ikev2_cert_road_warrior() -> None:
    conn = tree(parse("variants: {ikev2-cert: {}}\n"), "IPSec-IKEv2")
    assert conn["version"] == 2 and conn["proposals"] == list(MODERN_IKE)
    assert conn["send_cert"] == "always" and conn["pools"] == "swan-wizard-v4"
    assert conn["local"] == {"auth": "pubkey", "certs": "vpn-host.pem", "id": "vpn.example.com"}
    assert conn["remote"] == {"auth": "pubkey", "cacerts": "swan-wizard-ca.pem"}
    child = conn["children"]["IPSec-IKEv2"]
    assert child["local_ts"] == ["0.0.0.0/0"] and child["esp_proposals"] == list(MODERN_ESP)
    # the article: dpdaction=clear, dpddelay=300s, rekey=no
    assert conn["dpd_delay"] == "300s" and child["dpd_action"] == "clear"
    assert conn["rekey_time"] == "0s" and child["rekey_time"] == "0s"
    assert conn["unique"] == "replace"


def test_split_tunnel_dpd_rekey_and_uniqueness_as_asked() -> None:
    answers = parse("variants: {ikev2-cert: {local_ts: [10.1.0.0/16, '2001:db8::/64']}}\n"
                    "dpd: {action: restart, delay: 30s}\nrekey: true\nuniqueids: false\n")
    conn = tree(answers, "IPSec-IKEv2")
    child = conn["children"]["IPSec-IKEv2"]
    assert child["local_ts"] == ["10.1.0.0/16", "2001:db8::/64"]
    assert conn["dpd_delay"] == "30s" and child["dpd_action"] == "restart"
    assert "rekey_time" not in conn and "rekey_time" not in child
    assert conn["unique"] == "never"
    hold = tree(parse("variants: {ikev2-cert: {}}\ndpd: {action: hold}\n"), "IPSec-IKEv2")
    assert hold["children"]["IPSec-IKEv2"]["dpd_action"] == "trap"  # ipsec.conf's hold is swanctl's trap
    off = tree(parse("variants: {ikev2-cert: {}}\ndpd: {action: none}\n"), "IPSec-IKEv2")
    assert "dpd_delay" not in off and "dpd_action" not in off["children"]["IPSec-IKEv2"]


def test_pool_with_dns_or_dhcp() -> None:
    answers = parse("variants: {ikev2-cert: {}}\npool: {addresses: 10.9.0.0/24, dns: [1.1.1.1, '2606:4700::1111']}\n")
    text = conf(answers)
    assert "pools {\n   swan-wizard-v4 {\n      addrs = 10.9.0.0/24\n      dns = 1.1.1.1, 2606:4700::1111\n" in text
    dhcp = parse("variants: {ikev2-cert: {}}\npool: {addresses: dhcp}\n")
    assert tree(dhcp, "IPSec-IKEv2")["pools"] == "dhcp"  # served by the dhcp plugin, no pools section
    assert pools(dhcp) == () and "\npools {" not in conf(dhcp)


def test_ikev2_eap_with_nt_hash_secrets() -> None:
    answers = parse("variants: {ikev2-eap: {users: [{name: bob}, {name: 'carol@example.com'}]}}\n")
    conn = tree(answers, "IPSec-IKEv2-EAP")
    assert conn["remote"] == {"auth": "eap-mschapv2", "eap_id": "%any"}
    assert conn["send_certreq"] == "no" and conn["send_cert"] == "always"
    specs = secrets(answers, creds({"eap-bob": "bob's secret", "eap-carol@example.com": "0xnot-hex"}))
    text = conf(answers, specs)
    assert "ntlm-eap-bob {\n      id = bob\n      secret = 0x" + nt_hash("bob's secret").hex() in text
    # a user name with "." or "@" cannot name a swanctl section: the section gets a safe, unique name
    assert "   ntlm-eap-carol_example_com-" in text and "      id = carol@example.com\n" in text
    assert "bob's secret" not in text and "not-hex" not in text


def test_ikev1_cert_and_xauth() -> None:
    answers = parse("variants: {ikev1-xauth: {users: [{name: carol}], local_ts: [10.0.0.0/8]}}\n")
    conn = tree(answers, "CiscoIPSec")
    assert conn["version"] == 1 and conn["proposals"] == list(IKEV1_IKE)
    assert conn["remote"] == {"auth": "pubkey", "cacerts": "swan-wizard-ca.pem"}
    assert conn["remote-2"] == {"auth": "xauth"}  # the second round: XAUTH after the certificate
    assert conn["children"]["CiscoIPSec"]["esp_proposals"] == list(IKEV1_ESP)
    assert conn["children"]["CiscoIPSec"]["local_ts"] == ["10.0.0.0/8"]
    specs = secrets(answers, creds({"xauth-carol": "carol-pw"}))
    assert specs == (SecretSpec("xauth", "carol", ("carol",), b"carol-pw"),)
    assert "xauth-carol {\n      id = carol\n      secret = carol-pw\n" in conf(answers, specs)


def test_ikev1_psk_and_xauth() -> None:
    answers = parse("variants: {ikev1-xauth: {auth: psk, users: [{name: carol}]}}\n")
    conn = tree(answers, "CiscoIPSec")
    assert conn["local"] == {"auth": "psk", "id": "vpn.example.com"} and "send_cert" not in conn
    assert conn["remote"] == {"auth": "psk"} and conn["remote-2"] == {"auth": "xauth"}
    text = conf(answers, secrets(answers, creds({"xauth-psk": "group-key", "xauth-carol": "pw"})))
    # no owner: IKEv1 main mode needs the PSK before it knows who the client is
    assert "ike-xauth-psk {\n      secret = group-key\n   }" in text


def test_transport_peers() -> None:
    answers = parse("variants: {transport: {peers: [{name: db, address: 192.0.2.7, id: db.example.com}, "
                    "{name: web, address: web.example.com, auth: psk, start: start}]}}\n")
    db = tree(answers, "transport-db")
    assert db["remote_addrs"] == "192.0.2.7" and db["mobike"] == "no" and "pools" not in db
    assert db["remote"] == {"auth": "pubkey", "id": "db.example.com", "cacerts": "swan-wizard-ca.pem"}
    child = db["children"]["transport-db"]
    assert child["mode"] == "transport" and child["start_action"] == "trap" and child["dpd_action"] == "trap"
    assert "local_ts" not in child and "remote_ts" not in child  # dynamic: the two hosts themselves
    web = tree(answers, "transport-web")
    assert web["local"] == {"auth": "psk", "id": "vpn.example.com"}
    assert web["children"]["transport-web"]["start_action"] == "start"
    text = conf(answers, secrets(answers, creds({"transport-web": "web-key"})))
    assert "ike-transport-web {\n      id-1 = vpn.example.com\n      id-2 = web.example.com\n" in text


def test_l2tp() -> None:
    answers = parse("variants: {l2tp: {users: [{name: dave}]}}\n")
    conn = tree(answers, "L2TP-IPsec")
    assert conn["version"] == 1 and conn["local"]["auth"] == "psk" and conn["remote"] == {"auth": "psk"}
    child = conn["children"]["L2TP-IPsec"]
    assert child["mode"] == "transport"
    assert child["local_ts"] == ["dynamic[udp/1701]"] and child["remote_ts"] == ["dynamic[udp]"]
    assert "pools" not in conn  # pppd hands out the inner addresses
    cert = tree(parse("variants: {l2tp: {auth: cert}}\n"), "L2TP-IPsec")
    assert cert["local"]["certs"] == "vpn-host.pem" and cert["remote"]["cacerts"] == "swan-wizard-ca.pem"


def test_every_variant_at_once_like_the_article() -> None:
    answers = parse("variants: {ikev2-cert: {}, ikev2-eap: {}, ikev1-xauth: {}, l2tp: {}, "
                    "transport: {peers: [{name: p, address: 192.0.2.9}]}}\nproposals: seed\n")
    specs = connections(answers)
    assert [s.name for s in specs] == ["IPSec-IKEv2", "IPSec-IKEv2-EAP", "CiscoIPSec", "transport-p", "L2TP-IPsec"]
    # IKEv2 conns sharing %any must share proposals: the IKE config is picked before the peer config
    assert {s.ike_proposals for s in specs if s.version == 2} == {SEED_IKE}
    assert {s.ike_proposals for s in specs if s.version == 1} == {SEED_IKE}
    text = conf(answers)
    assert text.count("\n   IPSec-IKEv2 {") == 1 and text.count("pools = swan-wizard-v4") == 3


def test_secret_values_that_look_encoded_are_sent_as_hex() -> None:
    assert secret_value(SecretSpec("xauth", "a", ("a",), b"plain")) == "plain"
    # charon would decode a leading 0x/0s as hex/base64: send those as hex so the bytes stay the same
    assert secret_value(SecretSpec("ike", "a", (), b"0sAAAA")) == "0x" + b"0sAAAA".hex()
    assert secret_value(SecretSpec("ntlm", "a", ("a",), b"\x01\x02")) == "0x0102"


def test_secret_section_names_are_safe_and_unique() -> None:
    names = [secret_section(SecretSpec("xauth", n, (n,), b"x")) for n in ("a.b", "a_b", "a@b", "a+b", "plain-1")]
    assert len(set(names)) == len(names)
    assert names[1] == "xauth-a_b" and names[4] == "xauth-plain-1"
    assert all(re.fullmatch(r"xauth-[A-Za-z0-9_-]+", n) for n in names), names


@pytest.mark.parametrize("layout", ["swanctl", "ipsec"])
def test_a_plan_derives_the_connections_once(layout: str, tmp_path: Path, source: SecretSource,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner derives the specs once; swanctl.conf, ipsec.conf and the profiles all get them handed."""
    answers = parse(f"layout: {layout}\nca: {{key: ecdsa-p256}}\nhost: {{key: ecdsa-p256}}\n"
                    "variants: {ikev2-cert: {}, ikev2-eap: {users: [{name: bob}]},"
                    " ikev1-xauth: {auth: psk, users: [{name: c}]}}\n")
    calls: list[Answers] = []
    derive = connections_module._road_warrior  # every derivation of the connection specs goes through it
    monkeypatch.setattr(connections_module, "_road_warrior", lambda a: calls.append(a) or derive(a))
    plan = build_plan(answers, Root.of(tmp_path / "root"), source)
    assert len(calls) == 1
    assert any(f.path.name in ("swan-wizard.conf", "ipsec.conf") for f in plan.files)


@pytest.mark.parametrize("render", [swanctl_conf, connection_tree, render_ipsec.ipsec_conf, render_ipsec.conn_options,
                                    render_ipsec.ipsec_secrets])
def test_renderers_take_their_spec_not_the_answers(render: Any) -> None:
    assert "Answers" not in str(inspect.signature(render))
