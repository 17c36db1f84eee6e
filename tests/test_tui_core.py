"""The UI-independent modules behind the wizard: session, preflight, field checks, staging, SA status."""

from __future__ import annotations

import json
import stat
from collections import OrderedDict
from pathlib import Path, PurePosixPath

import pytest
import yaml

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file, field_check
from wizard.model.answers import Answers, SecretRef, Server, updated
from wizard.model.secrets import typed_key, typed_ref
from wizard.model.wording import PLAIN, on_screen
from wizard.pki import encode, issue, keys, names
from wizard.pki.keytypes import KeyType
from wizard.plan import preflight, session, staging
from wizard.problems import InvalidAnswers
from wizard.system.sastatus import CharonUnreachable, format_duration, list_sas, summarize

# -- field checks: the loader's rules and messages -------------------------------------------------


def loader_problems(yaml_text: str) -> dict[str, str]:
    try:
        answers_file.parse(yaml_text)
    except InvalidAnswers as exc:
        return {p.field: p.message for p in exc.problems}
    return {}


@pytest.mark.parametrize(("section", "value", "yaml_text"), [
    ("ca", {"dn": "CN=", "lifetime_days": "abc"}, "version: 1\nserver: {address: a.example}\nca: {dn: 'CN=', "
                                                  "lifetime_days: abc}\n"),
    ("server", {"address": "bad..name"}, "version: 1\nserver: {address: 'bad..name'}\n"),
    ("pool", {"addresses": "10.10.10.1/24"}, "version: 1\nserver: {address: a.example}\npool: "
                                             "{addresses: 10.10.10.1/24}\n"),
    ("clients", [{"name": "a"}, {"name": "A"}], "version: 1\nserver: {address: a.example}\nclients: "
                                                "[{name: a}, {name: A}]\n"),
    ("variants", {}, "version: 1\nserver: {address: a.example}\nvariants: {}\n"),
])
def test_field_check_says_what_the_loader_says(section: str, value: object, yaml_text: str) -> None:
    base = Answers(server=Server(address="a.example"))
    checked = field_check.check(base, {section: value})
    assert not checked.ok
    loader = loader_problems(yaml_text)
    # the same fields; each sentence in the screens' words (wizard.model.wording), pydantic's replaced
    assert checked.problems.keys() == loader.keys()
    for field, message in loader.items():
        shown = checked.problems[field]
        assert shown == on_screen(message) or (message.startswith("Input should") and shown in PLAIN.values())


def test_field_check_matches_nested_fields_and_returns_the_model() -> None:
    base = Answers(server=Server(address="a.example"))
    checked = field_check.check(base, {"clients": [{"name": "ok"}, {"name": "bad name"}]})
    assert checked.for_field("clients") is not None and checked.for_field("clients[1].name") is not None
    assert checked.for_field("clients[0].name") is None
    good = field_check.check(base, {"host": {"lifetime_days": 900}})
    assert good.ok and good.answers is not None and good.answers.host.lifetime_days == 900
    assert "825" in (good.warning_for("host.lifetime_days") or "")


# -- session ---------------------------------------------------------------------------------------


def test_session_round_trip_is_private_and_secret_free(tmp_path: Path) -> None:
    root = Root.of(tmp_path)
    ref = typed_ref("ca-passphrase")
    answers = updated(Answers(server=Server(address="vpn.example.com")), ca={"passphrase": ref.model_dump(
        exclude_none=True)})
    saved = session.save(root, session.Session(answers=answers, step="clients", mode="start-over",
                                               ca_import=session.CaImport("/a/ca.pem", "/a/ca.key"),
                                               typed={"ca-passphrase": "s3cret passphrase"}))
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert "s3cret" not in saved.read_text()
    kept = root(session.SESSION_SECRETS)
    assert json.loads(kept.read_text()) == {"ca-passphrase": "s3cret passphrase"}
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    loaded = session.load(root)
    assert loaded.answers == answers and loaded.step == "clients" and loaded.mode == "start-over"
    assert loaded.ca_import == session.CaImport("/a/ca.pem", "/a/ca.key")
    assert loaded.typed == {"ca-passphrase": "s3cret passphrase"}
    assert session.info(root) is not None and session.info(root).step == "clients"  # type: ignore[union-attr]
    assert session.is_typed_ref(ref) and not session.is_typed_ref(SecretRef(env="X"))
    session.discard(root)
    assert not kept.exists() and not root(session.SESSION_FILE).exists()


def test_literal_secrets_are_refused_anywhere(tmp_path: Path) -> None:
    answers = answers_file.parse("version: 1\nserver: {address: a.example}\nvariants:\n  ikev2-eap:\n"
                                 "    users: [{name: u, password: plaintext}]\n")
    assert answers_file.literal_secret_fields(answers) == ["variants.ikev2-eap.users[0].password"]
    with pytest.raises(InvalidAnswers):
        session.save(Root.of(tmp_path), session.Session(answers=answers, step="users"))
    with pytest.raises(InvalidAnswers):
        session.save_answers(answers, tmp_path / "answers.yaml")
    assert not (tmp_path / "answers.yaml").exists()


def test_a_broken_session_is_reported_not_resumed(tmp_path: Path) -> None:
    root = Root.of(tmp_path)
    target = root(session.SESSION_FILE)
    target.parent.mkdir(parents=True)
    target.write_text("step: ca\nanswers: {version: 1, server: {address: 'x y'}}\n")
    info = session.info(root)
    assert info is not None and info.problem is not None and "answers.server.address" in info.problem


def test_typed_secrets_must_be_one_line(tmp_path: Path) -> None:
    current = session.Session(answers=Answers(server=Server(address="a.example")), step="ca")
    with pytest.raises(ValueError):
        session.with_typed(current, {"k": "two\nlines"})
    with pytest.raises(ValueError):
        typed_ref("../escape")


def test_saved_answers_replay(tmp_path: Path) -> None:
    answers = Answers(server=Server(address="vpn.example.com"))
    path = session.save_answers(answers, tmp_path / "etc/answers.yaml")
    assert answers_file.load(path) == answers
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- preflight -------------------------------------------------------------------------------------

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
"""


def test_default_route_interface_takes_the_lowest_metric() -> None:
    assert preflight.default_route_interface(ROUTES) == "eth0"
    assert preflight.default_route_interface(ROUTES.splitlines()[0] + "\n") is None


def test_detect_address_reads_the_default_interface() -> None:
    detected = preflight.detect_address(ROUTES)
    assert detected.interface == "eth0"
    assert all(":" not in a for a in detected.addresses[:1])


def test_install_commands_per_distribution() -> None:
    assert preflight.install_command("apt")[:3] == ("apt-get", "install", "-y")  # type: ignore[index]
    assert preflight.install_command("pacman") == ("pacman", "-S", "--needed", "--noconfirm", "strongswan")
    assert preflight.install_command("dnf") == ("dnf", "install", "-y", "strongswan")
    assert preflight.install_command(None) is None
    assert preflight.package_manager(lambda tool: "/usr/bin/dnf" if tool == "dnf" else None) == "dnf"


def test_existing_configuration_is_found(tmp_path: Path) -> None:
    root = Root.of(tmp_path)
    assert not preflight.existing(root).anything
    session.save_answers(Answers(server=Server(address="a.example")), root(session.SAVED_ANSWERS))
    root(paths.CA_CERT).parent.mkdir(parents=True)
    root(paths.CA_CERT).write_text("x")
    found = preflight.existing(root)
    assert found.answers_file == root(session.SAVED_ANSWERS) and str(paths.CA_CERT) in found.material


def test_preflight_runs_here() -> None:
    report = preflight.run(Root.of("/"))
    assert report.live and isinstance(report.is_root, bool)


# -- staging ---------------------------------------------------------------------------------------


def test_staged_root_hides_and_overlays(tmp_path: Path) -> None:
    root = Root.of(tmp_path)
    staged = staging.staged_root(root, "start-over", session.CaImport("/x/ca.pem", "/x/ca.key"))
    assert staged(paths.CA_CERT) == Path("/x/ca.pem")
    assert not staged(paths.CLIENTS_DIR / "alice" / "key.pem").exists()
    assert staged(paths.SWANCTL_CONF) == root(paths.SWANCTL_CONF)
    assert staging.staged_root(root, "new", None) is root


def _ca_files(tmp_path: Path, passphrase: bytes | None = None) -> tuple[Path, Path]:
    key = keys.generate_key(KeyType.ECDSA_P256)
    cert = issue.issue_ca(key, names.parse_dn("C=CH, O=Example, CN=Imported CA"), 3650)
    cert_path, key_path = tmp_path / "ca.pem", tmp_path / "ca.key"
    cert_path.write_bytes(encode.cert_to_pem(cert))
    key_path.write_bytes(encode.key_to_pem(key, passphrase))
    return cert_path, key_path


def test_inspect_ca_accepts_a_ca_and_says_what_is_wrong_otherwise(tmp_path: Path) -> None:
    cert, key = _ca_files(tmp_path, b"pw")
    found = staging.inspect_ca(cert, key, b"pw")
    assert (found.dn, found.key, found.encrypted) == ("C=CH, O=Example, CN=Imported CA", KeyType.ECDSA_P256, True)
    with pytest.raises(ValueError, match="passphrase"):
        staging.inspect_ca(cert, key, None)
    with pytest.raises(ValueError, match="cannot read"):
        staging.inspect_ca(tmp_path / "missing.pem", key, b"pw")
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = _ca_files(other)
    with pytest.raises(ValueError):
        staging.inspect_ca(cert, other_key)


def test_a_plan_with_an_imported_ca_writes_that_ca(tmp_path: Path) -> None:
    cert, key = _ca_files(tmp_path)
    root = Root.of(tmp_path / "root")
    found = staging.inspect_ca(cert, key)
    answers = answers_file.parse(f"version: 1\nserver: {{address: vpn.example.com}}\nca: {{dn: '{found.dn}', "
                                 "key: ecdsa-p256}\nhost: {key: ecdsa-p256}\n")
    plan = staging.compute_plan(answers, root, ca_import=session.CaImport(str(cert), str(key)))
    files = {f.path: f for f in plan.files}
    assert files[paths.CA_CERT].content == cert.read_bytes()
    assert files[paths.CA_KEY].content == key.read_bytes()


def test_plan_differences_ignore_fresh_keys_but_not_a_changed_disk(tmp_path: Path) -> None:
    from wizard.fs.changes import file_changes

    root = Root.of(tmp_path)
    answers = answers_file.parse("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\n"
                                 "host: {key: ecdsa-p256}\nclients: [{name: a, key: ecdsa-p256}]\n")
    first = staging.compute_plan(answers, root)
    reviewed = staging.reviewed(first, file_changes(first, root))
    second = staging.compute_plan(answers, root)
    assert staging.plan_differences(reviewed, second, file_changes(second, root)) == []
    conf = root(paths.SWANCTL_CONF)
    conf.parent.mkdir(parents=True)
    conf.write_text("# someone else's\n")
    third = staging.compute_plan(answers, root)
    differences = staging.plan_differences(reviewed, third, file_changes(third, root))
    assert differences == [f"{paths.SWANCTL_CONF}: was to create, now update (the file changed on disk)"]


# -- SA status --------------------------------------------------------------------------------------


def test_summarize_list_sas_answers() -> None:
    raw = [OrderedDict({"IPSec-IKEv2": OrderedDict({
        "uniqueid": b"3", "version": b"2", "state": b"ESTABLISHED", "remote-host": b"198.18.0.2",
        "remote-id": b"alice@example.com", "established": b"75", "remote-vips": [b"10.10.10.1"],
        "child-sas": OrderedDict({"IPSec-IKEv2-4": OrderedDict({
            "name": b"IPSec-IKEv2", "state": b"INSTALLED", "mode": b"TUNNEL", "bytes-in": b"100",
            "bytes-out": b"200", "local-ts": [b"0.0.0.0/0"], "remote-ts": [b"10.10.10.1/32"]})})})})]
    (sa,) = summarize(raw)
    assert (sa.label, sa.remote_id, sa.virtual_ips, sa.established) == (
        "IPSec-IKEv2[3]", "alice@example.com", ("10.10.10.1",), 75)
    assert sa.children[0].bytes_out == 200 and sa.children[0].state == "INSTALLED"
    assert format_duration(75) == "1m15s" and format_duration(None) == "-" and format_duration(7300) == "2h01m"


def test_list_sas_without_charon_says_so(tmp_path: Path) -> None:
    with pytest.raises(CharonUnreachable, match="not running"):
        list_sas(tmp_path / "charon.vici")
    (tmp_path / "not-a-socket").write_text("")
    with pytest.raises(CharonUnreachable):
        list_sas(tmp_path / "not-a-socket")


def test_session_yaml_is_plain_yaml(tmp_path: Path) -> None:
    root = Root.of(tmp_path)
    session.save(root, session.Session(answers=Answers(server=Server(address="a.example")), step="host"))
    data = yaml.safe_load(root(session.SESSION_FILE).read_text())
    assert data["step"] == "host" and data["answers"]["server"]["address"] == "a.example"
    assert PurePosixPath(session.SESSION_FILE).parent == paths.WIZARD_STATE


def test_literal_secrets_of_a_hand_written_file_move_to_0600_files(tmp_path: Path) -> None:
    root = Root.of(tmp_path)
    answers = answers_file.parse("version: 1\nserver: {address: a.example}\nca: {passphrase: ca-pass}\n"
                                 "variants:\n  ikev2-eap:\n    users: [{name: u, password: user-pass}]\n")
    moved, fields, typed = session.externalize_literals(answers)
    assert fields == ["ca.passphrase", "variants.ikev2-eap.users[0].password"]
    assert answers_file.literal_secret_fields(moved) == []
    user = moved.variants.ikev2_eap.users[0].password  # type: ignore[union-attr]
    key = typed_key(user)
    assert key is not None and typed[key] == "user-pass"
    session.save(root, session.Session(answers=moved, step="ca", typed=typed))
    assert "user-pass" not in root(session.SESSION_FILE).read_text()
    assert stat.S_IMODE(root(session.SESSION_SECRETS).stat().st_mode) == 0o600
