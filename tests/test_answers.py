"""The answers model and its YAML loader: valid files, and one fixture per way a file can be wrong."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.model import answers_file
from wizard.model.answers import Answers, SecretRef, answers_warnings, parse_log_levels, updated
from wizard.problems import InvalidAnswers

DATA = Path(__file__).parent / "data" / "answers"
BAD = sorted((DATA / "bad").glob("*.yaml"))
REPO = Path(__file__).resolve().parents[1]


def _expectation(path: Path) -> tuple[str, int | None]:
    text = path.read_text()
    expect = re.search(r"^# expect: (.*)$", text, re.M)
    line = re.search(r"^# line: (\d+)$", text, re.M)
    assert expect, f"{path.name} lacks an '# expect:' header"
    return expect.group(1), int(line.group(1)) if line else None


def test_readme_shows_exactly_the_tested_complete_example() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block == (DATA / "good" / "complete.yaml").read_text()


def test_complete_example_loads() -> None:
    answers = answers_file.load(DATA / "good" / "complete.yaml")
    assert answers.server.address == "vpn.example.com"
    assert answers.server.alt_names == ["203.0.113.10"]
    assert answers.clients[0].p12_password == SecretRef(env="P12_PASS")
    assert answers.variants.enabled() == ["ikev2-cert", "ikev2-eap", "ikev1-xauth", "transport", "l2tp"]
    assert answers.log_levels == {"cfg": 2, "dmn": 2, "ike": 2, "net": 2}


def test_minimal_file_gets_the_article_defaults() -> None:
    answers = answers_file.parse("version: 1\nserver: {address: VPN.Example.com.}\n")
    assert answers.server.address == "vpn.example.com"
    assert answers.ca.dn == "O=example.com, CN=vpn.example.com VPN CA"  # named after the server
    assert answers.ca.key.value == "rsa-4096" and answers.host.key.value == "rsa-2048"
    assert answers.pool.addresses == "10.10.10.0/24"
    assert answers.dpd.action == "clear" and answers.dpd.delay == "300s"
    assert answers.rekey is False


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_names_the_field_and_line(path: Path) -> None:
    expect, line = _expectation(path)
    with pytest.raises(InvalidAnswers) as info:
        answers_file.load(path)
    shown = [str(p) for p in info.value.problems]
    assert any(expect in s for s in shown), shown
    if line is not None:
        assert any(s.startswith(f"{path}:{line}: ") and expect in s for s in shown), shown


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = "version: 1\nserver: {address: 'a b'}\npool: {addresses: nope}\nclients: [{name: a/b}]\n"
    with pytest.raises(InvalidAnswers) as info:
        answers_file.parse(text, "f.yaml")
    fields = {p.field for p in info.value.problems}
    assert {"server.address", "pool.addresses", "clients[0].name"} <= fields


def test_bad_file_via_cli_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(DATA / "bad" / "bad_dn.yaml"),
                           "--root", str(root)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "ca.dn" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not root.exists()


def test_ipv4_and_ipv6_addresses_are_normalised() -> None:
    answers = answers_file.parse("version: 1\nserver: {address: '2001:DB8::1', alt_names: [198.51.100.7]}\n")
    assert answers.server.address == "2001:db8::1"


def test_log_levels_parse_and_reject() -> None:
    assert parse_log_levels("cfg 2, dmn 2,ike 3 , net -1") == {"cfg": 2, "dmn": 2, "ike": 3, "net": -1}
    for bad in ("cfg", "cfg 5", "xyz 1", "cfg two"):
        with pytest.raises(ValueError):
            parse_log_levels(bad)


def test_warnings_for_risky_but_valid_choices() -> None:
    answers = Answers.model_validate({
        "server": {"address": "vpn.example.com"}, "host": {"key": "ecdsa-p256", "lifetime_days": 1000},
        "clients": [{"name": "a@example.com", "p12_password": "hunter2"}], "proposals": "seed",
        "logging": "ike 4"})
    fields = {f.field for f in answers_warnings(answers)}
    assert {"host.key", "host.lifetime_days", "clients[0].p12_password", "proposals", "logging"} <= fields


def test_saved_answers_round_trip_and_never_hold_a_literal_secret() -> None:
    answers = answers_file.load(DATA / "good" / "complete.yaml")
    text = answers_file.dumps(answers)
    assert answers_file.parse(text) == answers
    literal = updated(answers, clients=[updated(answers.clients[0], p12_password="s3cret-password")])
    with pytest.raises(InvalidAnswers) as info:
        answers_file.dumps(literal)
    assert "s3cret-password" not in str(info.value)


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads((REPO / "wizard" / "model" / "answers.schema.json").read_text())
    assert committed == answers_file.json_schema(), (
        "wizard/model/answers.schema.json is stale: run `swan-wizard schema -o wizard/model/answers.schema.json`")


def test_schema_validates_the_complete_example() -> None:
    import jsonschema
    import yaml

    data = yaml.safe_load((DATA / "good" / "complete.yaml").read_text())
    jsonschema.validate(data, answers_file.json_schema())


def test_no_plaintext_secret_of_any_kind_is_saved() -> None:
    text = """version: 1
server: {address: vpn.example.com}
variants:
  ikev2-eap: {users: [{name: alice, password: eap-plain}]}
  ikev1-xauth: {auth: psk, psk: psk-plain, users: [{name: bob, password: xauth-plain}]}
  transport: {peers: [{name: moon, address: 198.51.100.2, auth: psk, psk: peer-plain}]}
"""
    answers = answers_file.parse(text)
    assert set(answers_file.literal_secret_fields(answers)) == {
        "variants.ikev2-eap.users[0].password", "variants.ikev1-xauth.psk",
        "variants.ikev1-xauth.users[0].password", "variants.transport.peers[0].psk"}
    with pytest.raises(InvalidAnswers) as info:
        answers_file.dumps(answers)
    assert not any(word in str(info.value) for word in ("eap-plain", "psk-plain", "xauth-plain", "peer-plain"))


@pytest.mark.parametrize(("field", "value", "meant"), [
    ("pool: {addresses: VALUE}", "10.0.0.1/24", "10.0.0.0/24"),
    ("variants: {ikev2-cert: {local_ts: [VALUE]}}", "192.168.7.9/16", "192.168.0.0/16"),
])
def test_an_address_with_host_bits_suggests_its_network(field: str, value: str, meant: str) -> None:
    text = "version: 1\nserver: {address: vpn.example.com}\n" + field.replace("VALUE", value) + "\n"
    with pytest.raises(InvalidAnswers) as caught:
        answers_file.parse(text)
    assert f"did you mean {meant}?" in str(caught.value)


def test_the_wizard_reads_back_its_own_file_of_ten_thousand_clients() -> None:
    # 1.7 MB: the size limit once refused the file `client add` had just written.
    doc = {"version": 1, "server": {"address": "vpn.example.com"}, "variants": {"ikev2-cert": {}},
           "clients": [{"name": f"firstname.lastname{i:05d}@example-company.com", "p12_password": {"generate": True}}
                       for i in range(10_000)]}
    text = answers_file.dumps(Answers.model_validate(doc))
    assert len(text) > 1024 * 1024
    assert len(answers_file.parse(text).clients) == 10_000


def test_updated_checks_the_new_whole_and_every_new_part() -> None:
    from pydantic import ValidationError

    answers = answers_file.parse(b"version: 1\nserver: {address: vpn.example.com}\n"
                                 b"clients: [{name: alice@example.com}, {name: bob@example.com}]\n")
    with pytest.raises(ValidationError, match="alice"):  # the kept instances still meet the rules of the whole
        updated(answers, clients=[*answers.clients, answers.clients[0]])
    with pytest.raises(ValidationError, match="LINE FEED"):  # a new part given as data is checked in full
        updated(answers, clients=[*answers.clients, {"name": "eve\nx"}])
    more = updated(answers, clients=[*answers.clients, {"name": "carol@example.com"}])
    assert [c.name for c in more.clients] == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert more.clients[0] is answers.clients[0]
    # a change named by its alias or by its attribute
    assert updated(more.variants, **{"ikev2-eap": {}}).ikev2_eap is not None
    assert updated(more.variants, ikev2_eap={}).ikev2_eap is not None
