"""EAP users in RADIUS: the answers, the eap-radius settings, the connection in both layouts, the files' modes,
and the shared secrets kept out of every plan text. The real thing is in test_radius_lab.py."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import parseback
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from test_injection_props import hostile, named, plan_of, text_files

from wizard import cli
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers, answers_warnings
from wizard.problems import InvalidAnswers

BASE = """\
version: 1
server: {address: 198.51.100.1}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
"""
RADIUS = """\
variants:
  ikev2-eap: {backend: radius}
radius:
  servers:
    - {address: 192.0.2.10, secret: {env: RADIUS_ONE}}
    - {address: radius2.example.com, port: 11812, acct_port: 11813}
  nas_identifier: gw-zurich
  accounting: true
  client_snippet: true
"""
SECRET_ONE = "first-shared-secret-x9"


def parse(extra: str) -> Answers:
    return answers_file.parse(BASE + extra, "a.yaml")


def problems(extra: str) -> dict[str, str]:
    with pytest.raises(InvalidAnswers) as info:
        parse(extra)
    return {p.field: p.message for p in info.value.problems}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, text: str,
        command: str = "apply", secret: str = SECRET_ONE) -> tuple[int, str, Root]:
    monkeypatch.setenv("RADIUS_ONE", secret)
    answers = tmp_path / "answers.yaml"
    answers.write_text(BASE + text)
    root = Root.of(tmp_path / "root")
    capsys.readouterr()
    code = cli.main([command, str(answers), "--root", str(root.path)])
    out, err = capsys.readouterr()
    return code, out + err, root


# -- the answers ------------------------------------------------------------------------------------

def test_defaults_and_the_complete_section() -> None:
    assert parse("variants: {ikev2-eap: {}}\n").variants.ikev2_eap.backend == "local"  # type: ignore[union-attr]
    radius = parse(RADIUS).radius
    assert radius is not None and radius.eap_method == "mschapv2" and radius.accounting
    assert [(s.address, s.port, s.acct_port) for s in radius.servers] == [
        ("192.0.2.10", 1812, 1813), ("radius2.example.com", 11812, 11813)]
    assert parse("variants: {ikev2-eap: {backend: radius}}\nradius: {servers: [{address: 192.0.2.1}]}\n"
                 ).radius.nas_identifier == "strongSwan"  # type: ignore[union-attr]


@pytest.mark.parametrize("radius", ["", "radius: {}\n", "radius: {servers: []}\n"])
def test_radius_backend_without_servers_names_radius_servers(radius: str) -> None:
    found = problems("variants: {ikev2-eap: {backend: radius}}\n" + radius)
    assert list(found) == ["radius.servers"] and "at least one RADIUS server" in found["radius.servers"]


def test_users_listed_with_the_radius_backend_are_refused_with_the_reason() -> None:
    found = problems("variants: {ikev2-eap: {backend: radius, users: [{name: bob}]}}\n"
                     "radius: {servers: [{address: 192.0.2.1}]}\n")
    assert list(found) == ["variants.ikev2-eap"], found
    assert "users live in the RADIUS server" in found["variants.ikev2-eap"]


@pytest.mark.parametrize(("extra", "field", "words"), [
    ("radius: {servers: [{address: 192.0.2.1}, {address: 192.0.2.1}]}\n", "radius.servers", "repeats"),
    ("radius: {servers: [{address: 'radius server'}]}\n", "radius.servers[0].address", "neither a DNS name"),
    ("radius: {servers: [{address: 'fe80::1%eth0'}]}\n", "radius.servers[0].address", "scope id"),
    ("radius: {servers: [{address: 192.0.2.1, port: 0}]}\n", "radius.servers[0].port", "greater than"),
    ("radius: {servers: [{address: 192.0.2.1}], eap_method: pap}\n", "radius.eap_method", "mschapv2"),
    ("radius: {servers: [{address: 192.0.2.1}], nas_identifier: \"gw\\nnas_identifier = evil\"}\n",
     "radius.nas_identifier", "control"),
    ("radius: {servers: [{address: 192.0.2.1, secret: {env: 'A B'}}]}\n", "radius.servers[0].secret", "variable"),
])
def test_each_value_is_checked(extra: str, field: str, words: str) -> None:
    found = problems("variants: {ikev2-eap: {backend: radius}}\n" + extra)
    assert field in found and words in found[field], found


def test_warnings_name_the_field() -> None:
    unused = {f.field: f.message for f in answers_warnings(parse("variants: {ikev2-eap: {}}\n"
                                                                 "radius: {servers: [{address: 192.0.2.1}]}\n"))}
    assert "set variants.ikev2-eap.backend: radius" in unused["radius"]
    literal = {f.field for f in answers_warnings(parse(
        "variants: {ikev2-eap: {backend: radius}}\nradius: {servers: [{address: 192.0.2.1, secret: s3cret}]}\n"))}
    assert "radius.servers[0].secret" in literal
    assert "variants.ikev2-eap.users" not in literal  # no "no users" warning: they live in RADIUS
    tls = {f.field: f.message for f in answers_warnings(parse(RADIUS + "  eap_method: tls\n"))}
    assert "no EAP-TLS client profiles" in tls["radius.eap_method"]


# -- what is written --------------------------------------------------------------------------------

def test_eap_radius_settings_file_is_0600_and_reads_back(tmp_path, capsys, monkeypatch) -> None:
    code, text, root = run(tmp_path, capsys, monkeypatch, RADIUS)
    assert code == 0, text
    path = root(paths.RADIUS_SETTINGS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    plugin = parseback.settings(path.read_text()).section("charon", "plugins", "eap-radius")
    assert plugin is not None
    assert (plugin.get("nas_identifier"), plugin.get("accounting")) == ("gw-zurich", "yes")
    first, second = (plugin.section("servers", name) for name in ("radius-1", "radius-2"))
    assert first is not None and second is not None
    assert (first.get("address"), first.get("secret"), first.get("auth_port"), first.get("acct_port")) == (
        "192.0.2.10", SECRET_ONE, "1812", "1813")
    generated = root(paths.SECRETS_DIR / "radius.server.radius2.example.com").read_text().strip()
    assert (second.get("address"), second.get("secret"), second.get("auth_port")) == (
        "radius2.example.com", generated, "11812")
    # the list's order is the order of preference, one step apart (see strongswan_d.radius_tree)
    assert (first.get("preference"), second.get("preference")) == ("1", "0")
    # the world-readable settings file holds no secret
    main = root(paths.STRONGSWAN_SETTINGS).read_text()
    assert SECRET_ONE not in main and generated not in main and "eap-radius" not in main


def test_clients_conf_entries_per_server_0600_in_a_0700_directory(tmp_path, capsys, monkeypatch) -> None:
    code, text, root = run(tmp_path, capsys, monkeypatch, RADIUS)
    assert code == 0, text
    assert stat.S_IMODE(root(paths.RADIUS_DIR).stat().st_mode) == 0o700
    first = root(paths.radius_client_snippet("192.0.2.10"))
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    entry = first.read_text()
    assert "client swan-wizard {" in entry and "ipaddr = 198.51.100.1" in entry
    assert f'secret = "{SECRET_ONE}"' in entry and 'shortname = "gw-zurich"' in entry
    # without client_snippet the entries go again (each holds a shared secret)
    code, text, root = run(tmp_path, capsys, monkeypatch, RADIUS.replace("client_snippet: true", "client_snippet: no"))
    assert code == 0, text
    assert not first.exists() and not list(root(paths.RADIUS_DIR).iterdir())


@pytest.mark.parametrize("layout", ["swanctl", "ipsec"])
def test_the_eap_connection_hands_authentication_to_radius(tmp_path, capsys, monkeypatch, layout: str) -> None:
    code, text, root = run(tmp_path, capsys, monkeypatch, f"layout: {layout}\n" + RADIUS)
    assert code == 0, text
    if layout == "swanctl":
        conf = parseback.settings(root(paths.SWANCTL_CONF).read_text())
        remote = conf.section("connections", "IPSec-IKEv2-EAP", "remote")
        assert remote is not None and (remote.get("auth"), remote.get("eap_id")) == ("eap-radius", "%any")
        assert conf.section("secrets") is None  # no local EAP users
    else:
        conns, _ = parseback.ipsec_conf(root(paths.IPSEC_CONF).read_text())
        options = {k: s.value for k, s in conns["IPSec-IKEv2-EAP"].options.items()}
        assert (options["rightauth"], options["eap_identity"]) == ("eap-radius", "%any")
        assert "NTLM" not in root(paths.IPSEC_SECRETS).read_text()
    assert stat.S_IMODE(root(paths.RADIUS_SETTINGS).stat().st_mode) == 0o600


def test_shared_secrets_never_in_plan_or_apply_output(tmp_path, capsys, monkeypatch) -> None:
    code, planned, root = run(tmp_path, capsys, monkeypatch, RADIUS, command="plan")
    assert code == 0, planned
    assert str(paths.RADIUS_SETTINGS) in planned and "clients.192.0.2.10.conf" in planned
    code, applied, root = run(tmp_path, capsys, monkeypatch, RADIUS)
    generated = root(paths.SECRETS_DIR / "radius.server.radius2.example.com").read_text().strip()
    # a changed secret: the diff of the settings file must not show either value
    code, replanned, _ = run(tmp_path, capsys, monkeypatch, RADIUS, command="plan", secret="second-value-y7")
    assert code == 0 and "eap-radius" not in replanned.replace("eap-radius plugin", "")
    for text in (planned, applied, replanned):
        assert SECRET_ONE not in text and generated not in text and "second-value-y7" not in text


def test_a_secret_strongswan_conf_cannot_hold_is_refused_with_its_field(tmp_path, capsys, monkeypatch) -> None:
    code, text, _ = run(tmp_path, capsys, monkeypatch, RADIUS, secret="line\nbreak")
    assert code == 2 and "radius.servers[0].secret" in text, text
    # a quote is fine in strongswan.conf (escaped) and reads back as itself ...
    no_snippet = RADIUS.replace("client_snippet: true", "client_snippet: false")
    code, text, root = run(tmp_path, capsys, monkeypatch, no_snippet, secret='a"b\\c')
    assert code == 0, text
    plugin = parseback.settings(root(paths.RADIUS_SETTINGS).read_text()).section("charon", "plugins", "eap-radius")
    assert plugin is not None and plugin.section("servers", "radius-1").get("secret") == 'a"b\\c'  # type: ignore[union-attr]
    # ... but FreeRADIUS would unescape or expand it in clients.conf: refused there, naming the field
    code, text, _ = run(tmp_path, capsys, monkeypatch, RADIUS, secret="cost$100")
    assert code == 2 and "radius.servers[0].secret" in text and "FreeRADIUS" in text, text


def test_local_backend_is_unchanged(tmp_path, capsys, monkeypatch) -> None:
    code, text, root = run(tmp_path, capsys, monkeypatch, "variants: {ikev2-eap: {users: [{name: bob}]}}\n")
    assert code == 0, text
    assert not root(paths.RADIUS_SETTINGS).exists() and not root(paths.RADIUS_DIR).exists()
    remote = parseback.settings(root(paths.SWANCTL_CONF).read_text()).section("connections", "IPSec-IKEv2-EAP",
                                                                                "remote")
    assert remote is not None and remote.get("auth") == "eap-mschapv2"


def test_selftest_skips_the_eap_variant_with_the_reason(tmp_path: Path) -> None:
    from wizard.checks import selftest
    from wizard.model.secrets import SecretSource

    cases, skipped = selftest.cases(parse(RADIUS), Root.of(tmp_path), SecretSource(base_dir=tmp_path), "t0")
    assert not [c for c in cases if c.variant == "ikev2-eap"]
    reasons = {r.variant: r.detail for r in skipped}
    assert "live in RADIUS" in reasons["ikev2-eap"]


def test_support_bundle_holds_no_shared_secret(tmp_path, capsys, monkeypatch) -> None:
    import tarfile

    code, text, root = run(tmp_path, capsys, monkeypatch, RADIUS)
    assert code == 0, text
    generated = root(paths.SECRETS_DIR / "radius.server.radius2.example.com").read_text().strip()
    # A secret can reach charon's log (level 4 logs secrets); the bundle's log must not carry it.
    log = root(paths.CHARON_LOG)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"Dec  5 08:48:38.264 00[CFG] secret {SECRET_ONE} and {generated}\n")
    bundle = tmp_path / "support.tar.gz"
    cli.main(["doctor", "--root", str(root.path), "--answers", str(tmp_path / "answers.yaml"), "--offline",
              "--bundle", str(bundle)])
    capsys.readouterr()
    with tarfile.open(bundle) as tar:
        members = {m.name: tar.extractfile(m).read().decode(errors="replace")  # type: ignore[union-attr]
                   for m in tar.getmembers() if m.isfile()}
    assert any("swan-wizard-radius.conf" in name for name in members), list(members)
    for name, content in members.items():
        assert SECRET_ONE not in content and generated not in content, name


def test_the_users_step_leaves_radius_users_to_radius() -> None:
    from screens.steps import has_user_variants
    from screens.users import enabled_user_variants

    radius_only = parse(RADIUS)
    assert not has_user_variants(radius_only)
    xauth = "ikev2-eap: {backend: radius}\n  ikev1-xauth: {auth: psk}"
    both = parse(RADIUS.replace("ikev2-eap: {backend: radius}", xauth))
    assert [alias for alias, _, _ in enabled_user_variants(both.variants)] == ["ikev1-xauth"]
    assert has_user_variants(parse("variants: {ikev2-eap: {}}\n"))


XAUTH_RADIUS = """\
variants:
  ikev1-xauth: {auth: psk, backend: radius}
radius:
  servers: [{address: 192.0.2.10, secret: {env: RADIUS_ONE}}]
"""


def test_xauth_users_in_radius_answers() -> None:
    found = problems("variants: {ikev1-xauth: {auth: psk, backend: radius}}\n")
    assert "variants.ikev1-xauth.backend" in found["radius.servers"]
    found = problems("variants: {ikev1-xauth: {auth: psk, backend: radius, users: [{name: carol}]}}\n"
                     "radius: {servers: [{address: 192.0.2.1}]}\n")
    assert "users live in the RADIUS server" in found["variants.ikev1-xauth"]
    assert "variants.ikev1-xauth.users" not in {f.field for f in answers_warnings(parse(XAUTH_RADIUS))}


@pytest.mark.parametrize("layout", ["swanctl", "ipsec"])
def test_xauth_round_goes_to_radius(tmp_path, capsys, monkeypatch, layout: str) -> None:
    from wizard.checks import selftest
    from wizard.model.secrets import SecretSource

    code, text, root = run(tmp_path, capsys, monkeypatch, f"layout: {layout}\n" + XAUTH_RADIUS)
    assert code == 0, text
    if layout == "swanctl":
        conn = parseback.settings(root(paths.SWANCTL_CONF).read_text()).section("connections", "CiscoIPSec")
        assert conn is not None and conn.section("remote-2").get("auth") == "xauth-radius"  # type: ignore[union-attr]
    else:
        conns, _ = parseback.ipsec_conf(root(paths.IPSEC_CONF).read_text())
        assert conns["CiscoIPSec"].options["rightauth2"].value == "xauth-radius"
    assert SECRET_ONE in root(paths.RADIUS_SETTINGS).read_text()
    _cases, skipped = selftest.cases(parse(XAUTH_RADIUS), root, SecretSource(base_dir=tmp_path), "t0")
    assert "live in RADIUS" in {r.variant: r.detail for r in skipped}["ikev1-xauth"]


# -- hostile values: refused by name, or read back exactly --------------------------------------------

def _freeradius_string(entry: str, key: str) -> str:
    """A value of the clients.conf entry as FreeRADIUS reads it: the entry refuses every character that
    FreeRADIUS would unescape or expand, so the text between the quotes is the value."""
    line = next(line for line in entry.splitlines() if line.strip().startswith(f"{key} = "))
    value = line.split(" = ", 1)[1]
    return value[1:-1] if value.startswith('"') else value


@given(where=st.sampled_from(("nas_identifier", "address", "secret")), value=hostile(1),
       snippet=st.booleans())
def test_hostile_radius_values_are_refused_by_name_or_read_back(where: str, value: str, snippet: bool) -> None:
    doc: dict[str, Any] = {
        "version": 1, "server": {"address": "198.51.100.1"}, "ca": {"key": "ecdsa-p256"},
        "host": {"key": "ecdsa-p256"}, "variants": {"ikev2-eap": {"backend": "radius"}},
        "radius": {"servers": [{"address": "192.0.2.10", "secret": {"env": "RS"}}], "client_snippet": snippet}}
    if where == "nas_identifier":
        doc["radius"]["nas_identifier"] = value
    elif where == "address":
        doc["radius"]["servers"][0]["address"] = value
    try:
        answers = answers_file.parse(json.dumps(doc))
        plan = plan_of(answers, {"RS": value if where == "secret" else "shared-secret"})
    except InvalidAnswers as exc:
        event("refused")
        assert named(exc), exc
        return
    event("accepted")
    files = text_files(plan)
    plugin = parseback.settings(files[paths.RADIUS_SETTINGS]).section("charon", "plugins", "eap-radius")
    assert plugin is not None
    server = plugin.section("servers", "radius-1")
    assert server is not None
    radius = answers.radius
    assert radius is not None
    assert plugin.get("nas_identifier") == radius.nas_identifier
    assert server.get("address") == radius.servers[0].address
    secret = value if where == "secret" else "shared-secret"
    assert server.get("secret") == secret
    if snippet:
        entry = files[paths.radius_client_snippet(radius.servers[0].address)]
        assert _freeradius_string(entry, "secret") == secret
        assert _freeradius_string(entry, "shortname") == radius.nas_identifier


def test_doctor_finds_and_fixes_loose_radius_files(tmp_path, capsys, monkeypatch) -> None:
    import os

    from doctor_support import doctor

    from wizard.checks.doctor import apply_fixes

    code, text, root = run(tmp_path, capsys, monkeypatch, RADIUS)
    assert code == 0, text
    broken = {root(paths.RADIUS_SETTINGS): 0o644, root(paths.radius_client_snippet("192.0.2.10")): 0o640,
              root(paths.RADIUS_DIR): 0o755}
    for path, loose in broken.items():
        os.chmod(path, loose)
    report = doctor(root.path)
    found = {Path(f.autofix.chmod_path) for f in report.findings  # type: ignore[union-attr]
             if f.code == "config.permissions" and f.autofix}
    assert set(broken) <= found
    apply_fixes(report)
    assert {p: stat.S_IMODE(p.stat().st_mode) for p in broken} == {p: 0o700 if p.is_dir() else 0o600 for p in broken}


def test_selftest_with_a_radius_test_user(tmp_path: Path, capsys, monkeypatch) -> None:
    from wizard.checks import selftest
    from wizard.model.secrets import SecretSource

    both = parse(XAUTH_RADIUS.replace("variants:\n", "variants:\n  ikev2-eap: {backend: radius}\n"))
    login = selftest.RadiusLogin("alice", "pw-in-radius")
    source = SecretSource(base_dir=tmp_path, environ={"RADIUS_ONE": "s"})
    cases, skipped = selftest.cases(both, Root.of(tmp_path), source, "t0", login)
    assert not skipped
    by_variant = {c.variant: c for c in cases}
    assert by_variant["ikev2-eap"].secrets["eap-st"] == {"id": "alice", "secret": "pw-in-radius"}
    assert by_variant["ikev1-xauth"].tree["local-xauth"]["xauth_id"] == "alice"
    assert all(not c.server_shared for c in cases)  # nothing is loaded into charon: RADIUS knows the user
    tls = parse(RADIUS + "  eap_method: tls\n")
    _cases, skipped = selftest.cases(tls, Root.of(tmp_path), SecretSource(base_dir=tmp_path), "t0", login)
    assert "eap_method: tls" in {r.variant: r.detail for r in skipped}["ikev2-eap"]
    # the password comes from the environment only
    monkeypatch.delenv("SWAN_WIZARD_RADIUS_PASSWORD", raising=False)
    answers = tmp_path / "answers.yaml"
    answers.write_text(BASE + RADIUS)
    assert cli.main(["selftest", str(answers), "--radius-user", "alice"]) == 64
    assert "SWAN_WIZARD_RADIUS_PASSWORD" in capsys.readouterr().err
