"""L2TP's files: xl2tpd.conf (xl2tpd parses it: test_variants_l2tp.py), pppd options, chap-secrets block."""

from __future__ import annotations

from wizard.model import answers_file
from wizard.model.answers import Answers
from wizard.model.credentials import Credential
from wizard.render.l2tp import chap_block, ppp_options, xl2tpd_conf
from wizard.render.managed_block import BEGIN as BLOCK_BEGIN
from wizard.render.managed_block import END as BLOCK_END
from wizard.render.managed_block import put as with_managed_block

BASE = "version: 1\nserver: {address: vpn.example.com}\n"


def parse(extra: str) -> Answers:
    return answers_file.parse(BASE + extra)


def test_xl2tpd_conf_has_no_hash_comments() -> None:
    text = xl2tpd_conf(parse("variants: {l2tp: {ip_range: 10.50.0.10-10.50.0.99, local_ip: 10.50.0.1}}\n"))
    # xl2tpd refuses a whole file with a "#" line ("data ... occurs with no context"): ";" only
    assert not [line for line in text.splitlines() if line.lstrip().startswith("#")], text
    assert text.startswith("; Written by Swan Wizard")
    assert "[lns default]\nip range = 10.50.0.10-10.50.0.99\nlocal ip = 10.50.0.1\n" in text
    assert "require chap = yes\nrefuse pap = yes\nrequire authentication = yes\nname = l2tpd\n" in text
    assert "pppoptfile = /etc/ppp/options.xl2tpd\n" in text


def test_ppp_options_push_the_ipv4_dns_servers() -> None:
    text = ppp_options(parse("variants: {l2tp: {}}\npool: {dns: [1.1.1.1, '2606:4700::1111', 9.9.9.9]}\n"))
    lines = text.splitlines()
    assert "+mschap-v2" in lines and "auth" in lines and "mtu 1280" in lines and "mru 1280" in lines
    assert [line for line in lines if line.startswith("ms-dns")] == ["ms-dns 1.1.1.1", "ms-dns 9.9.9.9"]


def test_chap_block_quotes_names_and_passwords() -> None:
    answers = parse("variants: {l2tp: {users: [{name: dave}, {name: 'eve@example.com'}]}}\n")
    creds = {"l2tp.user.dave": Credential("l2tp.user.dave", "f", b'pa"ss\\word', True),
             "l2tp.user.eve@example.com": Credential("l2tp.user.eve@example.com", "f", b"x y", True)}
    block = chap_block(answers, creds)
    assert block == (f'{BLOCK_BEGIN}\n"dave" l2tpd "pa\\"ss\\\\word" *\n"eve@example.com" l2tpd "x y" *\n'
                     f"{BLOCK_END}\n")


def test_managed_block_keeps_other_entries() -> None:
    other = '# Secrets for authentication using CHAP\n"someone" * "their-password" *\n'
    first = with_managed_block(other, f"{BLOCK_BEGIN}\nA\n{BLOCK_END}\n")
    assert first.startswith(other) and first.endswith(f"{BLOCK_BEGIN}\nA\n{BLOCK_END}\n")
    second = with_managed_block(first + '"late" * "entry" *\n', f"{BLOCK_BEGIN}\nB\n{BLOCK_END}\n")
    assert "\nA\n" not in second and second.count(BLOCK_BEGIN) == 1
    assert '"someone" * "their-password" *' in second and '"late" * "entry" *' in second
    removed = with_managed_block(second, None)
    assert BLOCK_BEGIN not in removed and '"someone"' in removed and '"late"' in removed
    assert with_managed_block(None, "X\n") == "X\n"
    assert with_managed_block("no newline", "X\n") == "no newline\nX\n"
