"""charon's settings: the article's charondebug as filelog/syslog/journal levels, and the dhcp plugin."""

from __future__ import annotations

from wizard.model import answers_file
from wizard.model.answers import Answers
from wizard.render.connections import ServerSpec, connections, pools
from wizard.render.ipsec import ipsec_conf
from wizard.render.strongswan_d import log_levels, settings_tree, strongswan_settings
from wizard.render.swanctl import swanctl_conf

BASE = "version: 1\nserver: {address: vpn.example.com}\n"


def parse(extra: str = "") -> Answers:
    return answers_file.parse(BASE + extra)


def test_charondebug_maps_to_every_logger_over_a_default_of_1() -> None:
    answers = parse('logging: "cfg 2, dmn 2, ike 2, net 2"\n')
    assert log_levels(answers) == {"default": 1, "cfg": 2, "dmn": 2, "ike": 2, "net": 2}
    tree = settings_tree(answers)
    filelog = tree["charon"]["filelog"]["swan-wizard"]
    assert filelog["path"] == "/var/log/swan-wizard/charon.log" and filelog["flush_line"] is True
    expected = {"default": 1, "cfg": 2, "dmn": 2, "ike": 2, "net": 2}
    assert {k: filelog[k] for k in expected} == expected
    assert tree["charon"]["syslog"]["daemon"] == expected
    assert tree["charon-systemd"]["journal"] == expected
    text = strongswan_settings(answers)
    assert "   syslog {\n      identifier = charon\n      daemon {\n         default = 1\n         cfg = 2\n" in text


def test_explicit_default_and_silenced_subsystems() -> None:
    levels = log_levels(parse('logging: "default 0, knl -1, ike 4"\n'))
    assert levels == {"default": 0, "knl": -1, "ike": 4}


def test_dhcp_pool_writes_the_articles_plugin_settings() -> None:
    answers = parse("variants: {ikev2-cert: {}}\n"
                    "pool: {addresses: dhcp, dhcp: {force_server_address: true, server: 192.168.0.255}}\n")
    dhcp = settings_tree(answers)["charon"]["plugins"]["dhcp"]
    assert dhcp["force_server_address"] is True and dhcp["server"] == "192.168.0.255" and dhcp["load"] is True
    text = strongswan_settings(answers)
    assert "      dhcp {\n         load = yes\n         server = 192.168.0.255\n" in text
    assert "         force_server_address = yes\n" in text
    assert "      farp {\n         load = yes\n" in text  # LAN hosts reach the DHCP-addressed clients
    # and both layouts ask the dhcp plugin for the address
    assert "pools = dhcp" in swanctl_conf(ServerSpec(connections(answers), pools(answers)))
    ipsec = answers_file.parse(BASE + "layout: ipsec\nvariants: {ikev2-cert: {}}\npool: {addresses: dhcp}\n")
    assert "rightsourceip=%dhcp" in ipsec_conf(ServerSpec(connections(ipsec), pools(ipsec)), ca_dn=ipsec.ca.dn,
                                                uniqueids=True, charondebug="")


def test_no_plugin_section_without_dhcp() -> None:
    assert "plugins" not in settings_tree(parse())["charon"]


def test_dhcp_pool_still_pushes_the_dns_servers_through_the_attr_plugin() -> None:
    answers = answers_file.parse(BASE + "pool: {addresses: dhcp, dns: [192.0.2.53, 192.0.2.54]}\n")
    assert settings_tree(answers)["charon"]["plugins"]["attr"] == {"dns": ["192.0.2.53", "192.0.2.54"]}
    text = strongswan_settings(answers)
    assert "      attr {\n         dns = 192.0.2.53, 192.0.2.54\n      }" in text
