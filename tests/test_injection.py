"""Values that would change what a file means: each reproduction of the trust review, refused or kept intact.

The property-based side (every free-text field, every format, hostile strings) is test_injection_props.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import parseback
import pytest
from applied import files_written

from wizard.model import answers_file, formats
from wizard.model.answers import Answers, Networking, TransportPeer, User
from wizard.model.credentials import Credential
from wizard.problems import InvalidAnswers
from wizard.render import confsyntax
from wizard.render import ipsec as render_ipsec
from wizard.render import swanctl as render_swanctl
from wizard.render.connections import SecretSpec, ServerSpec, connections, secrets, server_spec
from wizard.render.profiles import windows

REPO = Path(__file__).resolve().parents[1]
HOSTILE_ID = 'x@y : PSK "a"\n%any : PSK "attacker-known"\n#'
FAST = "ca: {key: ecdsa-p256}\nhost: {key: ecdsa-p256}\n"


def parse(text: str) -> Answers:
    return answers_file.parse("version: 1\n" + text)


def refused(text: str) -> InvalidAnswers:
    with pytest.raises(InvalidAnswers) as caught:
        parse(text)
    return caught.value


def fields(exc: InvalidAnswers) -> list[str]:
    return [p.field for p in exc.problems]


def y(value: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(value)


def cli(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wizard.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=120)


def transport(layout: str, peer_id: str) -> str:
    return (f"layout: {layout}\nserver: {{address: vpn.example.com}}\n"
            f"variants: {{transport: {{peers: [{{name: p1, address: 198.18.0.2, auth: psk, psk: k, "
            f"id: {y(peer_id)}}}]}}}}\n")


def creds(pairs: dict[str, str]) -> dict[str, Credential]:
    pairs = {"xauth.psk": "group-psk", **pairs}
    return {k: Credential(k, f"variants.field-of-{k}", v.encode(), False) for k, v in pairs.items()}


# ---------------------------------------------------------------- ipsec.secrets: a peer id adds a wildcard PSK

def test_peer_id_with_line_breaks_is_refused_in_both_layouts() -> None:
    for layout in ("ipsec", "swanctl"):
        assert fields(refused(transport(layout, HOSTILE_ID))) == ["variants.transport.peers[0].id"]


def test_peer_id_that_ipsec_secrets_cannot_hold_is_refused_for_that_layout_only() -> None:
    # No line break, but charon splits an ipsec.secrets line at its first " : ": the PSK would be "a".
    peer_id = 'x@y : PSK "a" %any'
    exc = refused(transport("ipsec", peer_id))
    assert fields(exc) == ["variants.transport.peers[0].id"] and "layout: swanctl" in str(exc)
    answers = parse(transport("swanctl", peer_id))
    text = render_swanctl.swanctl_conf(server_spec(answers, creds({"transport.peer.p1": "the-psk"})))
    tree = parseback.settings(text)
    assert tree.section("connections", "transport-p1", "remote").get("id") == peer_id
    secret = tree.section("secrets", "ike-transport-p1")
    assert (secret.get("id-2"), secret.get("secret")) == (peer_id, "the-psk")


@pytest.mark.parametrize("layout", ["ipsec", "swanctl"])
def test_peer_id_cannot_be_a_wildcard_keyword(layout: str) -> None:
    # "%any" as the owner of the transport PSK would hand that key to every peer.
    exc = refused(transport(layout, "%any"))
    assert fields(exc) == ["variants.transport.peers[0].id"] and "keyword" in str(exc)


def test_ipsec_secrets_refuses_a_hostile_owner_even_past_the_model() -> None:
    answers = parse(transport("ipsec", "peer.example.com"))
    spec = SecretSpec("ike", "transport-p1", ("vpn.example.com", HOSTILE_ID), b"psk", "variants.transport.peers[0].psk",
                      ("server.address", "variants.transport.peers[0].id"))
    with pytest.raises(InvalidAnswers) as caught:
        render_ipsec.ipsec_secrets(answers.host.key, (spec,))
    assert fields(caught.value) == ["variants.transport.peers[0].id"]


def test_dn_peer_id_is_quoted_in_ipsec_secrets_and_read_back_whole() -> None:
    answers = parse(transport("ipsec", "C=CH, O=Example, CN=peer"))
    text = render_ipsec.ipsec_secrets(answers.host.key, secrets(answers, creds({"transport.peer.p1": "k1"})))
    entry = parseback.stroke_secrets(text)[-1]
    assert entry == parseback.StrokeSecret(("@vpn.example.com", "C=CH, O=Example, CN=peer"), "PSK", "k1")


# ---------------------------------------------------------------- PowerShell / README: scope ids carry commands

CALC = "fe80::1%x\nStart-Process calc.exe\n#"


@pytest.mark.parametrize(("yaml", "field"), [
    (f"server: {{address: {y(CALC)}}}\n", "server.address"),
    (f"server: {{address: vpn.example.com, alt_names: [{y(CALC)}]}}\n", "server.alt_names"),
    (f"server: {{address: vpn.example.com}}\npool: {{dns: [{y(CALC)}]}}\n", "pool.dns"),
    (f"server: {{address: vpn.example.com}}\npool: {{addresses: {y('fd00::%x' + chr(10) + 'calc/64')}}}\n",
     "pool.addresses"),
    (f"server: {{address: vpn.example.com}}\nvariants: {{ikev2-cert: {{local_ts: [{y('fe80::%x/64')}]}}}}\n",
     "variants.ikev2-cert.local_ts"),
    # A scope id alone is refused too: no file here has a place for one.
    ("server: {address: 'fe80::1%eth0'}\n", "server.address"),
    ("server: {address: vpn.example.com, alt_names: ['fe80::1%eth0']}\n", "server.alt_names"),
    ("server: {address: vpn.example.com}\npool: {dns: ['fe80::53%eth0']}\n", "pool.dns"),
    ("server: {address: vpn.example.com}\npool: {addresses: 'fd00::%eth0/64'}\n", "pool.addresses"),
])
def test_addresses_with_scope_ids_are_refused(yaml: str, field: str) -> None:
    assert fields(refused(yaml)) == [field]


def test_server_address_cannot_put_a_command_in_the_powershell_script(tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text(f"version: 1\nserver: {{address: {y(CALC)}}}\n{FAST}"
                       "clients: [{name: carol, key: ecdsa-p256}]\n")
    proc = cli(["apply", str(answers), "--root", str(tmp_path / "root")], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "server.address" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("password", ["it\u2019s; Start-Process calc.exe; \u2019", "a'b\u2018c\u201ad\u201be''"])
def test_typographic_quotes_stay_inside_the_powershell_string(password: str) -> None:
    # PowerShell closes a single-quoted string at any of four quote characters, not only at "'".
    literal = windows.ps_quote(password)
    assert parseback.powershell_string(literal) == (password, "")


# ---------------------------------------------------------------- "$" before a final line break

@pytest.mark.parametrize(("yaml", "field"), [
    ("layout: ipsec\nserver: {address: vpn.example.com}\nvariants: {ikev2-eap: {users: [{name: \"bob\\n\"}]}}\n",
     "variants.ikev2-eap.users[0].name"),
    ("server: {address: vpn.example.com}\nnetworking: {wan_interface: \"eth0\\n\"}\n", "networking.wan_interface"),
    ("server: {address: vpn.example.com}\nclients: [{name: \"carol\\n\"}]\n", "clients[0].name"),
    ("server: {address: vpn.example.com}\ndpd: {delay: \"30s\\n\"}\n", "dpd.delay"),
    ("server: {address: vpn.example.com}\npool: {dhcp: {interface: \"eth0\\n\"}, addresses: dhcp}\n",
     "pool.dhcp.interface"),
])
def test_trailing_line_break_is_refused(yaml: str, field: str) -> None:
    assert fields(refused(yaml)) == [field]


def test_name_patterns_match_the_whole_value() -> None:
    # The field rules themselves, under the model-wide refusal of line breaks: "$" matched before "\n".
    for check, value in ((User._check_name, "bob\n"), (TransportPeer._check_name, "p1\n"),
                         (Networking._check_interface, "eth0\n")):
        with pytest.raises(ValueError):
            check(value)


def test_serializers_never_write_a_line_break_bare() -> None:
    for serialize in (confsyntax.settings_value, confsyntax.ipsec_value):
        with pytest.raises(InvalidAnswers):
            serialize("vpn.example.com\n")


def test_interface_from_the_host_is_checked_like_the_answers_one() -> None:
    with pytest.raises(InvalidAnswers) as caught:
        formats.interface_name("eth0\n-j ACCEPT", "networking.wan_interface")
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- ipsec.secrets has no escapes

XAUTH = ("server: {{address: vpn.example.com}}\nlayout: {layout}\n"
         "variants: {{ikev1-xauth: {{auth: psk, psk: {{env: GROUP_PSK}}, "
         "users: [{{name: carol, password: {{env: CAROL_PW}}}}]}}}}\n")


def test_xauth_password_with_a_quote_is_refused_for_the_ipsec_layout(tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text("version: 1\n" + FAST + XAUTH.format(layout="ipsec"))
    proc = cli(["apply", str(answers), "--root", str(tmp_path / "root")], tmp_path,
               {"CAROL_PW": 'secret"tail\\x', "GROUP_PSK": "group-psk"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("generating keys")]
    assert len(lines) == 1 and "variants.ikev1-xauth.users[0].password" in lines[0] and "'\"'" in lines[0]
    assert "tail" not in proc.stdout + proc.stderr  # the secret itself is never shown
    assert files_written(tmp_path / "root") == []


@pytest.mark.parametrize("password", ["pass\\word", "back\\", "0-x-not-hex", "it's"])
def test_ipsec_secrets_writes_secrets_as_charon_reads_them(password: str) -> None:
    answers = parse(XAUTH.format(layout="ipsec"))
    text = render_ipsec.ipsec_secrets(answers.host.key, secrets(answers, creds({"xauth.user.carol": password})))
    assert parseback.stroke_secrets(text)[-1] == parseback.StrokeSecret(("carol",), "XAUTH", password)


def test_swanctl_layout_carries_the_same_password_faithfully() -> None:
    password = 'secret"tail\\x'
    answers = parse(XAUTH.format(layout="swanctl"))
    text = render_swanctl.swanctl_conf(server_spec(answers, creds({"xauth.user.carol": password})))
    assert parseback.settings(text).section("secrets", "xauth-carol").get("secret") == password


def test_line_break_in_a_secret_is_refused_with_its_field() -> None:
    answers = parse(XAUTH.format(layout="ipsec"))
    for render in (lambda s: render_ipsec.ipsec_secrets(answers.host.key, s),
                   lambda s: render_swanctl.swanctl_conf(ServerSpec(connections(answers), (), s))):
        with pytest.raises(InvalidAnswers) as caught:
            render(secrets(answers, creds({"xauth.user.carol": "pw\n%any : PSK \"x\""})))
        assert fields(caught.value) == ["variants.field-of-xauth.user.carol"]


# ---------------------------------------------------------------- control characters: one line, exit 2

@pytest.mark.parametrize(("yaml", "env", "field"), [
    ('server: {address: vpn.example.com}\nca: {key: ecdsa-p256, dn: "C=CH, CN=a\\x00b"}\n', {}, "ca.dn"),
    ('server: {address: vpn.example.com}\nca: {key: ecdsa-p256, dn: "C=CH, CN=a\\u202eb"}\n', {}, "ca.dn"),
    ('server: {address: "vpn\\x1b[2J.example.com"}\n', {}, "server.address"),
    ('server: {address: "vpn.example.com\\u2028"}\n', {}, "server.address"),
    ('server: {address: vpn.example.com}\nclients: [{name: carol, key: ecdsa-p256, p12_password: {env: P12}}]\n',
     {"P12": "pw\x1b[31m"}, "clients[0].p12_password"),
    ('server: {address: vpn.example.com}\nclients: [{name: carol, key: ecdsa-p256, p12_password: {env: P12}}]\n',
     {"P12": "pw\nmore"}, "clients[0].p12_password"),
    ('server: {address: vpn.example.com}\nclients: [{name: carol, key: ecdsa-p256, p12_password: {file: p12}}]\n',
     {}, "clients[0].p12_password"),
    ('server: {address: vpn.example.com}\nclients: [{name: carol, key: ecdsa-p256, p12_password: "a\\x07b"}]\n',
     {}, "clients[0].p12_password"),
])
def test_control_characters_end_in_one_line_and_exit_2(tmp_path: Path, yaml: str, env: dict[str, str],
                                                         field: str) -> None:
    (tmp_path / "p12").write_bytes(b"pw\x08\x08ok\n")
    answers = tmp_path / "a.yaml"
    answers.write_text("version: 1\n" + ("" if "ca:" in yaml else FAST) + yaml)
    proc = cli(["apply", str(answers), "--root", str(tmp_path / "root")], tmp_path, env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("generating keys")]
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert "\x1b" not in proc.stderr and "\x00" not in proc.stderr
    assert not (tmp_path / "root").exists()


def test_error_lines_show_control_characters_escaped(tmp_path: Path) -> None:
    # An unknown key is quoted back in the message: it must not bring its line break (or escapes) along.
    answers = tmp_path / "a.yaml"
    answers.write_text('version: 1\nserver: {address: vpn.example.com}\n"evil\\nswan-wizard: ok\\u001b[2J": 1\n')
    proc = cli(["validate", str(answers)], tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "\x1b" not in proc.stderr and "evil\\x0aswan" in proc.stderr


def test_connections_take_scope_free_addresses_only() -> None:
    answers = parse("server: {address: vpn.example.com}\nvariants: {ikev2-cert: {local_ts: ['fd00::/64']}}\n")
    assert connections(answers)[0].local_ts == ("fd00::/64",)
