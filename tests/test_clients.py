"""`swan-wizard client ...` and `server address`: answers changes through plan and apply, into a root.

Real charons are in test_clients_lab.py; here the files, the answers file and the CRL are checked.
"""

from __future__ import annotations

import json
import os
import plistlib
import stat
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from test_profiles import open_p12, parse_settings, san_values

from wizard import cli
from wizard.certs import revocation
from wizard.certs.materials import KeyPair
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import updated
from wizard.pki import encode, keys
from wizard.plan import session
from wizard.plan.clients import clients_lock
from wizard.problems import Exit

ANSWERS = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients:
  - {name: alice@example.com, key: ecdsa-p256}
variants:
  ikev2-cert: {}
  ikev2-eap:
    users: [{name: bob}]
"""


class Setup:
    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str = ANSWERS) -> None:
        self.tmp = tmp_path
        self.capsys = capsys
        self.answers = tmp_path / "answers.yaml"
        self.answers.write_text(text)
        self.root = Root.of(tmp_path / "root")
        code, _out, err = self.run("apply", str(self.answers), "--root", str(self.root.path))
        assert code == 0, err
        self.ca = (self.root(paths.CA_KEY).read_bytes(), self.root(paths.CA_CERT).read_bytes())

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli.main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def client(self, *argv: str) -> tuple[int, str, str]:
        return self.run("client", *argv, "--answers", str(self.answers), "--root", str(self.root.path))

    def load(self) -> Any:
        return answers_file.load(self.answers)

    def file(self, name: str, file: str) -> Path:
        return self.root(paths.client_dir(name) / file)

    def cert(self, name: str) -> x509.Certificate:
        return encode.load_cert_pem(self.file(name, "cert.pem").read_bytes())

    def snapshot(self) -> dict[Path, bytes]:
        return {p: p.read_bytes() for p in self.tmp.rglob("*") if p.is_file() and "backups" not in p.parts
                and p.name != "clients.lock"}

    def assert_ca_untouched(self) -> None:
        assert (self.root(paths.CA_KEY).read_bytes(), self.root(paths.CA_CERT).read_bytes()) == self.ca

    def assert_apply_is_silent(self, *options: str) -> None:
        code, out, err = self.run("apply", str(self.answers), "--root", str(self.root.path), *options)
        assert code == 0, err
        assert "Nothing to change" in out, out


@pytest.fixture
def setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Setup:
    return Setup(tmp_path, capsys)


def crl_of(setup: Setup, layout_path: Any = paths.SWANCTL_CRL) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(setup.root(layout_path).read_bytes())


def test_add_updates_the_answers_and_writes_profiles(setup):
    code, out, err = setup.client("add", "carol", "dave@example.com", "--key", "ecdsa-p256", "--on-demand")
    assert code == 0, err
    answers = setup.load()
    assert [c.name for c in answers.clients] == ["alice@example.com", "carol", "dave@example.com"]
    assert answers.clients[1].key.value == "ecdsa-p256" and answers.clients[1].on_demand
    # the saved file references secrets, never holds one; the previous text is kept
    assert answers_file.literal_secret_fields(answers) == []
    assert "generate: true" in setup.answers.read_text() and setup.answers.with_name("answers.yaml.bak").is_file()
    for name in ("carol", "dave@example.com"):
        assert setup.file(name, f"{name}.mobileconfig").is_file() and setup.file(name, "README.txt").is_file()
        assert san_values(setup.cert(name)) == [name]
    assert "carol: profiles and README.txt in /etc/swan-wizard/clients/carol" in out
    setup.assert_ca_untouched()
    setup.assert_apply_is_silent()


def test_client_commands_and_the_wizard_save_the_answers_the_same_way(setup):
    """One policy for the answers file: 0600 (it names secret files), the previous text kept as a 0600 .bak."""
    os.chmod(setup.answers, 0o644)
    first = setup.answers.read_bytes()
    code, _, err = setup.client("add", "carol", "--key", "ecdsa-p256")
    assert code == 0, err
    backup = setup.answers.with_name("answers.yaml.bak")
    assert backup.read_bytes() == first
    assert {stat.S_IMODE(p.stat().st_mode) for p in (setup.answers, backup)} == {0o600}
    with_carol = setup.answers.read_bytes()
    session.save_answers(updated(setup.load(), rekey=True), setup.answers)  # what the review screen does
    assert backup.read_bytes() == with_carol and setup.load().rekey
    assert {stat.S_IMODE(p.stat().st_mode) for p in (setup.answers, backup)} == {0o600}


def test_dry_run_shows_answers_and_plan_and_writes_nothing(setup):
    before = setup.snapshot()
    code, out, err = setup.client("add", "carol", "--dry-run")
    assert code == 0, err
    assert "+- name: carol" in out
    assert "create  /etc/swan-wizard/clients/carol/carol.mobileconfig  mode 0600" in out
    assert setup.snapshot() == before


def test_add_refuses_an_existing_name(setup):
    before = setup.answers.read_text()
    code, _, err = setup.client("add", "Alice@example.com")
    assert code == Exit.INVALID and "exists already" in err
    assert setup.answers.read_text() == before


def test_add_eap_user(setup):
    code, _, err = setup.client("add", "erin", "--eap")
    assert code == 0, err
    assert [u.name for u in setup.load().variants.ikev2_eap.users] == ["bob", "erin"]
    assert setup.root(paths.SECRETS_DIR / "eap.user.erin").is_file()
    doc = plistlib.loads(setup.file("erin", "erin-eap.mobileconfig").read_bytes())
    assert doc["PayloadContent"][0]["IKEv2"]["AuthName"] == "erin"
    assert not setup.file("erin", "key.pem").exists()


def test_list(setup):
    setup.client("add", "carol", "--key", "ecdsa-p256")
    code, out, _ = setup.client("list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["alice@example.com"]["status"] == "active" and rows["alice@example.com"]["kinds"] == ["cert"]
    assert rows["alice@example.com"]["serial"] == format(setup.cert("alice@example.com").serial_number, "x")
    assert rows["bob"]["kinds"] == ["eap"] and rows["bob"]["status"] == "n/a"
    code, out, _ = setup.client("list")
    assert out.splitlines()[0].split() == ["NAME", "LOGIN", "STATUS", "SERIAL", "VALID", "UNTIL", "KEY"]


def test_renew_issues_a_new_certificate_for_the_same_key(setup):
    old = setup.cert("alice@example.com")
    old_p12 = setup.file("alice@example.com", "alice@example.com.p12").read_bytes()
    code, out, err = setup.client("renew", "alice@example.com")
    assert code == 0, err
    new = setup.cert("alice@example.com")
    assert new.serial_number != old.serial_number
    assert keys.public_keys_equal(new.public_key(), old.public_key())
    assert san_values(new) == san_values(old) and new.subject == old.subject
    password = setup.file("alice@example.com", "p12-password").read_text().strip()
    p12 = setup.file("alice@example.com", "alice@example.com.p12").read_bytes()
    assert p12 != old_p12 and open_p12(p12, password).cert.certificate == new
    mc = plistlib.loads(setup.file("alice@example.com", "alice@example.com.mobileconfig").read_bytes())
    inner = next(p for p in mc["PayloadContent"] if p["PayloadType"] == "com.apple.security.pkcs12")
    assert pkcs12.load_pkcs12(inner["PayloadContent"], password.encode()).cert.certificate == new
    assert f"serial {format(new.serial_number, 'x')}" in out
    setup.assert_ca_untouched()
    setup.assert_apply_is_silent()


def test_revoke_publishes_a_crl_and_keeps_it(setup):
    cert = setup.cert("alice@example.com")
    serial = format(cert.serial_number, "x")
    code, out, err = setup.client("revoke", "alice@example.com")
    assert code == 0, err
    answers = setup.load()
    assert [(r.name, r.serial) for r in answers.revoked] == [("alice@example.com", serial)]
    crl = crl_of(setup)
    ca = encode.load_cert_pem(setup.root(paths.CA_CERT).read_bytes())
    assert crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert setup.root(paths.SWANCTL_CRL).stat().st_mode & 0o777 == 0o644
    # no profiles for a revoked certificate; the README says why
    assert not setup.file("alice@example.com", "alice@example.com.mobileconfig").exists()
    assert "REVOKED" in setup.file("alice@example.com", "README.txt").read_text()
    code, out, _ = setup.client("list", "--json")
    assert {r["name"]: r["status"] for r in json.loads(out)}["alice@example.com"] == "revoked"
    # later applies keep the CRL byte for byte; a second revoke adds nothing
    crl_bytes = setup.root(paths.SWANCTL_CRL).read_bytes()
    setup.assert_apply_is_silent()
    code, out, _ = setup.client("revoke", "alice@example.com")
    assert code == 0 and "already revoked" in out
    assert len(setup.load().revoked) == 1 and setup.root(paths.SWANCTL_CRL).read_bytes() == crl_bytes
    # export of a revoked client is refused
    code, _, err = setup.client("export", "alice@example.com")
    assert code == Exit.FAILED and "revoked" in err
    setup.assert_ca_untouched()


def test_renew_after_revoke_gives_a_working_client_and_the_crl_stays(setup):
    old = setup.cert("alice@example.com")
    setup.client("revoke", "alice@example.com")
    code, _, err = setup.client("renew", "alice@example.com")
    assert code == 0, err
    new = setup.cert("alice@example.com")
    assert new.serial_number != old.serial_number
    crl = crl_of(setup)
    assert crl.get_revoked_certificate_by_serial_number(old.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(new.serial_number) is None
    assert setup.file("alice@example.com", "alice@example.com.mobileconfig").is_file()
    assert "REVOKED" not in setup.file("alice@example.com", "README.txt").read_text()
    setup.assert_apply_is_silent()


def test_crl_follows_the_layout(setup):
    setup.client("revoke", "alice@example.com")
    text = setup.answers.read_text().replace("layout: swanctl", "layout: ipsec")
    setup.answers.write_text(text)
    code, _out, err = setup.run("apply", str(setup.answers), "--root", str(setup.root.path))
    assert code == 0, err
    assert setup.root(paths.IPSEC_CRL).is_file() and not setup.root(paths.SWANCTL_CRL).exists()
    assert crl_of(setup, paths.IPSEC_CRL).get_revoked_certificate_by_serial_number(
        setup.cert("alice@example.com").serial_number) is not None


def test_crl_is_resigned_when_old_and_its_number_grows(setup):
    setup.client("revoke", "alice@example.com")
    answers = setup.load()
    ca_pair = KeyPair(encode.load_key_pem(setup.root(paths.CA_KEY).read_bytes()),
                      encode.load_cert_pem(setup.root(paths.CA_CERT).read_bytes()), b"", b"")
    current = setup.root(paths.SWANCTL_CRL).read_bytes()
    soon = datetime.now(UTC) + timedelta(days=1)
    assert revocation.crl_files(answers, setup.root, ca_pair, soon)[0].content == current
    later = datetime.now(UTC) + timedelta(days=60)
    fresh = revocation.crl_files(answers, setup.root, ca_pair, later)[0].content
    assert fresh != current
    old_crl, new_crl = x509.load_pem_x509_crl(current), x509.load_pem_x509_crl(fresh)
    number = lambda c: c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(new_crl) > number(old_crl)
    assert [r.serial_number for r in new_crl] == [r.serial_number for r in old_crl]


def test_remove_takes_files_out_and_revokes(setup):
    serial = setup.cert("alice@example.com").serial_number
    code, _out, err = setup.client("remove", "alice@example.com")
    assert code == 0, err
    answers = setup.load()
    assert answers.clients == [] and answers.revoked[0].serial == format(serial, "x")
    folder = setup.root(paths.client_dir("alice@example.com"))
    assert not [p for p in folder.iterdir()]  # key, certificate, bundle, profiles: all gone (backed up)
    assert crl_of(setup).get_revoked_certificate_by_serial_number(serial) is not None
    code, _, err = setup.client("remove", "bob")
    assert code == 0, err
    assert setup.load().variants.ikev2_eap.users == []
    assert not setup.file("bob", "bob-eap.mobileconfig").exists()
    setup.assert_apply_is_silent()
    code, _, err = setup.client("revoke", "alice@example.com")
    assert code == Exit.USAGE and "no client certificate named" in err


def test_export_with_a_new_password_and_a_copy(setup, tmp_path):
    old = setup.file("alice@example.com", "p12-password").read_text().strip()
    out_dir = tmp_path / "handout"
    code, _out, err = setup.client("export", "alice@example.com", "--new-password", "--out", str(out_dir))
    assert code == 0, err
    new = setup.file("alice@example.com", "p12-password").read_text().strip()
    assert new != old
    open_p12(setup.file("alice@example.com", "alice@example.com.p12").read_bytes(), new)
    mc = plistlib.loads((out_dir / "alice@example.com.mobileconfig").read_bytes())
    inner = next(p for p in mc["PayloadContent"] if p["PayloadType"] == "com.apple.security.pkcs12")
    assert inner["Password"] == new
    assert parse_settings((out_dir / "alice@example.com.swanctl.conf").read_text())["secrets"][
        "pkcs12-swan-wizard"]["secret"] == new
    assert {p.name for p in out_dir.iterdir()} >= {"README.txt", "alice@example.com.p12", "ca.pem"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in out_dir.iterdir())
    # the certificate is the same: only the bundle's password changed
    assert setup.cert("alice@example.com") == open_p12(
        setup.file("alice@example.com", "alice@example.com.p12").read_bytes(), new).cert.certificate


def test_new_password_needs_a_generated_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("P12", "from-the-environment")
    text = ANSWERS.replace("key: ecdsa-p256}\nvariants", "key: ecdsa-p256, p12_password: {env: P12}}\nvariants")
    setup = Setup(tmp_path, capsys, text)
    code, _, err = setup.client("export", "alice@example.com", "--new-password")
    assert code == Exit.INVALID and "not generated" in err


def test_server_address_reissues_the_host_certificate_and_every_profile(setup):
    host_key = setup.root(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME).read_bytes()
    old_doc = plistlib.loads(setup.file("alice@example.com", "alice@example.com.mobileconfig").read_bytes())
    code, out, err = setup.run("server", "address", "vpn2.example.net", "--answers", str(setup.answers),
                               "--root", str(setup.root.path))
    assert code == 0, err
    assert setup.load().server.address == "vpn2.example.net"
    host = encode.load_cert_pem(setup.root(paths.SWANCTL_X509 / paths.HOST_CERT_NAME).read_bytes())
    assert "vpn2.example.net" in san_values(host) and "vpn.example.com" not in san_values(host)
    assert setup.root(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME).read_bytes() == host_key
    conf = parse_settings(setup.root(paths.SWANCTL_CONF).read_text())
    assert conf["connections"]["IPSec-IKEv2"]["local"]["id"] == "vpn2.example.net"
    for name, stem in (("alice@example.com", "alice@example.com"), ("bob", "bob-eap")):
        doc = plistlib.loads(setup.file(name, f"{stem}.mobileconfig").read_bytes())
        ike = doc["PayloadContent"][0]["IKEv2"]
        assert ike["RemoteAddress"] == ike["RemoteIdentifier"] == "vpn2.example.net"
        assert json.loads(setup.file(name, f"{stem}.sswan").read_text())["remote"]["addr"] == "vpn2.example.net"
        assert "$Server = 'vpn2.example.net'" in setup.file(name, f"{stem}.ps1").read_text()
        assert "address=vpn2.example.net" in setup.file(name, f"{stem}.nmconnection").read_text()
        assert "remote_addrs = vpn2.example.net" in setup.file(name, f"{stem}.swanctl.conf").read_text()
    # the same UUIDs: importing the new profile replaces the old one on the device
    new_doc = plistlib.loads(setup.file("alice@example.com", "alice@example.com.mobileconfig").read_bytes())
    assert new_doc["PayloadUUID"] == old_doc["PayloadUUID"]
    assert "must import their new profile" in out
    setup.assert_ca_untouched()
    setup.assert_apply_is_silent()
    code, _, err = setup.run("server", "address", "not a name", "--answers", str(setup.answers),
                             "--root", str(setup.root.path))
    assert code == Exit.INVALID and "server.address" in err


def test_a_second_command_waits_for_the_first(setup):
    with clients_lock(setup.root):
        code, _, err = setup.client("add", "carol")
    assert code == Exit.LOCKED and "is changing the clients of" in err and str(os.getpid()) in err
    assert "carol" not in setup.answers.read_text()


def test_unknown_names_are_usage_errors(setup):
    for action in ("renew", "revoke"):
        code, _, err = setup.client(action, "nobody")
        assert code == Exit.USAGE, err
    code, _, err = setup.client("export", "nobody")
    assert code == Exit.USAGE


class FakeSession:
    """Just enough of vici.Session for terminate(): list-sas answers and a record of terminate calls."""

    def __init__(self, sas: list[dict[str, Any]]) -> None:
        self.sas = sas
        self.terminated: list[dict[str, str]] = []

    def list_sas(self) -> Any:
        yield from self.sas

    def terminate(self, request: dict[str, str]) -> Any:
        self.terminated.append(request)
        yield from ()


def test_terminate_finds_the_client_by_any_identity_it_used():
    sas = [
        {"IPSec-IKEv2": {"uniqueid": b"1", "remote-id": b"alice@example.com", "remote-host": b"192.0.2.1"}},
        {"IPSec-IKEv2": {"uniqueid": b"2", "remote-id": b"C=CH, O=strongSwan, CN=alice@example.com",
                         "remote-host": b"192.0.2.2"}},
        {"IPSec-IKEv2-EAP": {"uniqueid": b"3", "remote-id": b"192.0.2.3", "remote-eap-id": b"bob",
                             "remote-host": b"192.0.2.3"}},
        {"IPSec-IKEv2": {"uniqueid": b"4", "remote-id": b"carol", "remote-host": b"192.0.2.4"}},
    ]
    session = FakeSession(sas)
    done = revocation.terminate(session, {"alice@example.com", "C=CH, O=strongSwan, CN=alice@example.com"})
    assert [d.ike_id for d in done] == ["1", "2"]
    assert session.terminated == [{"ike-id": "1", "force": "yes", "timeout": 5000},
                                  {"ike-id": "2", "force": "yes", "timeout": 5000}]
    assert [d.ike_id for d in revocation.terminate(FakeSession(sas), {"BOB"})] == ["3"]


def test_answers_with_revoked_entries_validate():
    text = textwrap.dedent(ANSWERS) + "revoked:\n  - {name: x, serial: '0A:FF', revoked_at: 2024-01-02T03:04:05Z}\n"
    answers = answers_file.parse(text)
    assert answers.revoked[0].serial == "aff"
    bad = text.replace("'0A:FF'", "'xyz'")
    with pytest.raises(Exception, match="hexadecimal"):
        answers_file.parse(bad)


OLD_DEFAULT_DN = "C=CH, O=strongSwan, CN=strongSwan Root CA"


def test_a_ca_made_under_another_default_name_is_kept_by_answers_that_give_none(tmp_path, capsys):
    # Applied when the default DN was the article's sample; the answers file never named the CA.
    named = ANSWERS.replace("ca: {key: ecdsa-p256}", f"ca: {{key: ecdsa-p256, dn: '{OLD_DEFAULT_DN}'}}")
    setup = Setup(tmp_path, capsys, named)
    setup.answers.write_text(ANSWERS)
    code, _out, err = setup.run("apply", str(setup.answers), "--root", str(setup.root.path))
    assert code == 0, err
    setup.assert_ca_untouched()
    code, _out, err = setup.run("server", "address", "vpn2.example.com", "--answers", str(setup.answers),
                                "--root", str(setup.root.path))
    assert code == 0, err
    setup.assert_ca_untouched()
    assert setup.load().ca.dn == OLD_DEFAULT_DN  # saved as it is, no longer derived from an address
    setup.answers.write_text(setup.answers.read_text().replace(OLD_DEFAULT_DN, "C=DE, O=Other, CN=Other CA"))
    code, _out, err = setup.run("apply", str(setup.answers), "--root", str(setup.root.path))
    assert code == 3 and "does not match" in err, err  # a name the admin gives must still match


@pytest.mark.parametrize(("revoked", "fetched"), [(10, False), (3000, True)])
def test_a_crl_too_big_for_vici_is_named_as_an_authority_to_fetch(setup: Setup, revoked: int, fetched: bool) -> None:
    """vici carries values of up to 64 KiB: swanctl cannot load a larger CRL, so swanctl.conf names it for
    charon to fetch (curl plugin, file://); a small one is loaded from x509crl as before."""
    earlier = "".join(f"  - {{name: gone{i}@example.com, serial: '{0x10_0000_0000 + i:x}', "
                      f"revoked_at: '2026-01-01T00:00:00+00:00'}}\n" for i in range(revoked))
    setup.answers.write_text(setup.answers.read_text() + "revoked:\n" + earlier)
    code, _out, err = setup.run("apply", str(setup.answers), "--root", str(setup.root.path))
    assert code == 0, err
    der = crl_of(setup).public_bytes(Encoding.DER)
    assert (len(der) > revocation.VICI_VALUE_MAX) is fetched
    conf = setup.root(paths.SWANCTL_CONF).read_text()
    assert ("crl_uris = file:///etc/swanctl/x509crl/swan-wizard.crl" in conf) is fetched
    assert ("swan-wizard-crl {" in conf) is fetched
