"""The variants' part of the answers: checks across sections, and the warnings that name a field.

The key-type rules come from real charons (test_variants_ikev1_keys.py); the bad fixtures in
tests/data/answers/bad/ show each error with its field and line through the YAML loader.
"""

from __future__ import annotations

import pytest

from wizard.model import answers_file
from wizard.model.answers import Answers, answers_warnings
from wizard.problems import InvalidAnswers

BASE = "version: 1\nserver: {address: vpn.example.com}\n"


def parse(extra: str) -> Answers:
    return answers_file.parse(BASE + extra, "a.yaml")


def problems(extra: str) -> dict[str, str]:
    with pytest.raises(InvalidAnswers) as info:
        parse(extra)
    return {p.field: p.message for p in info.value.problems}


def warnings(extra: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in answers_warnings(parse(extra)):
        out.setdefault(finding.field, []).append(finding.message)
    return out


@pytest.mark.parametrize("key", ["ecdsa-p256", "ecdsa-p384", "ed25519"])
def test_xauth_with_certificates_needs_an_rsa_host_key(key: str) -> None:
    found = problems(f"host: {{key: {key}}}\nvariants: {{ikev1-xauth: {{}}}}\n")
    assert list(found) == ["host.key"], found
    # the PSK flavour signs nothing with the host key
    parse(f"host: {{key: {key}}}\nvariants: {{ikev1-xauth: {{auth: psk}}}}\n")


def test_l2tp_with_certificates_takes_rsa_or_ecdsa_hosts_but_not_ed25519() -> None:
    parse("host: {key: ecdsa-p384}\nclients: [{name: a@example.com, key: ecdsa-p256}]\n"
          "variants: {l2tp: {auth: cert}}\n")
    assert "no Ed25519 signatures" in problems("host: {key: ed25519}\nvariants: {l2tp: {auth: cert}}\n")["host.key"]


def test_client_keys_that_cannot_use_an_ikev1_variant() -> None:
    clients = "clients: [{name: a@example.com, key: ecdsa-p256}, {name: b@example.com}]\n"
    # only IKEv1 variants: the ECDSA client could never log in -> error on that client
    found = problems(clients + "variants: {ikev1-xauth: {}}\n")
    assert list(found) == ["clients[0].key"] and "signs with RSA only" in found["clients[0].key"]
    # with ikev2-cert on, the client still has a way in -> a warning naming it
    flagged = warnings(clients + "variants: {ikev2-cert: {}, ikev1-xauth: {}, l2tp: {auth: cert}}\n")
    assert len(flagged["clients[0].key"]) == 2 and "clients[1].key" not in flagged
    assert all("can still use ikev2-cert" in m for m in flagged["clients[0].key"])


def test_ikev1_allows_one_network() -> None:
    found = problems("variants: {ikev1-xauth: {local_ts: [10.0.0.0/8, 10.1.0.0/16]}}\n")
    assert "single network per tunnel" in found["variants.ikev1-xauth.local_ts"]
    parse("variants: {ikev1-xauth: {local_ts: [10.0.0.0/8]}}\n")


def test_l2tp_addresses_stay_out_of_the_pool() -> None:
    found = problems("variants: {ikev2-eap: {}, l2tp: {local_ip: 10.10.10.1, ip_range: 10.10.9.10-10.10.9.20}}\n")
    assert found == {"variants.l2tp.local_ip": "10.10.10.1 lies inside pool.addresses 10.10.10.0/24"}, found
    found = problems("variants: {ikev2-eap: {}, l2tp: {ip_range: 10.10.9.10-10.10.11.20}}\n")
    assert list(found) == ["variants.l2tp.ip_range"], found  # a range around the whole pool
    parse("variants: {ikev2-eap: {}, l2tp: {}}\n")  # the defaults (192.168.42.x, 10.10.10.0/24) do not meet
    # no road-warrior variant, or DHCP: no pool of this server's own to collide with
    parse("variants: {l2tp: {ip_range: 10.10.10.10-10.10.10.20}}\n")
    parse("variants: {ikev2-eap: {}, l2tp: {ip_range: 10.10.10.10-10.10.10.20}}\npool: {addresses: dhcp}\n")


def test_transport_peer_cannot_be_the_server() -> None:
    found = problems("variants: {transport: {peers: [{name: me, address: vpn.example.com}]}}\n")
    assert found == {"variants.transport.peers[0].address": "vpn.example.com is this server's own address"}


def test_the_two_ikev1_psk_variants_exclude_each_other() -> None:
    found = problems("variants: {ikev1-xauth: {auth: psk}, l2tp: {auth: psk}}\n")
    assert "picks the pre-shared key before it knows which connection" in found["variants"]
    parse("variants: {ikev1-xauth: {auth: psk}, l2tp: {auth: cert}}\nclients: [{name: a@example.com}]\n")


def test_warnings_name_the_field() -> None:
    flagged = warnings("variants:\n  ikev2-eap: {}\n  ikev1-xauth: {users: [{name: c, password: hunter2}]}\n"
                       "  l2tp: {auth: cert, psk: null}\n"
                       "  transport: {peers: [{name: p, address: 192.0.2.1, auth: psk, psk: literal-key}]}\n")
    assert "no users" in flagged["variants.ikev2-eap.users"][0]
    assert "literal password" in flagged["variants.ikev1-xauth.users[0].password"][0]
    assert "literal pre-shared key" in flagged["variants.transport.peers[0].psk"][0]
    assert any("l2tp use client certificates" in m for m in flagged["clients"])


def test_every_variant_at_once_loads_and_renders_in_both_layouts() -> None:
    from pathlib import Path

    from wizard.model.answers import updated
    from wizard.model.credentials import Credential, secret_key
    from wizard.render.connections import connections, server_spec
    from wizard.render.ipsec import ipsec_conf, ipsec_secrets
    from wizard.render.swanctl import swanctl_conf

    answers = answers_file.load(Path(__file__).parent / "data/answers/good/all_variants.yaml")
    assert answers.variants.enabled() == ["ikev2-cert", "ikev2-eap", "ikev1-xauth", "transport", "l2tp"]
    keys = [secret_key("eap", "bob"), secret_key("eap", "carol.smith@example.com"), secret_key("xauth", "dave"),
            secret_key("transport", "db"), secret_key("l2tp"), secret_key("l2tp", "erin")]
    creds = {k: Credential(k, k, f"secret-{i}".encode(), True) for i, k in enumerate(keys)}
    server = server_spec(answers, creds)
    legacy = ipsec_conf(server, ca_dn=answers.ca.dn, uniqueids=answers.uniqueids, charondebug=answers.logging)
    legacy += ipsec_secrets(answers.host.key, server.secrets)
    modern = swanctl_conf(server_spec(updated(answers, layout="swanctl"), creds))
    for conn in connections(answers):
        assert f"conn {conn.name}\n" in legacy and f"\n   {conn.name} {{\n" in modern
    assert "rightsourceip=%dhcp" in legacy and "pools = dhcp" in modern
    assert "secret-0" not in legacy + modern  # EAP users are NT hashes
