"""`doctor --bundle`: the support bundle carries the diagnosis and no secret from the root, ever."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from doctor_support import BASE, ENV, apply_root, write_answers

from wizard.checks.doctor.bundle import redact_chap_secrets, redact_ipsec_secrets, redact_settings

REPO = Path(__file__).resolve().parents[1]

# Every kind of secret the wizard writes: generated EAP, XAUTH and L2TP passwords and PSKs (plaintext
# in swanctl.conf, ipsec.secrets and chap-secrets), PKCS#12 passwords, the CA passphrase from the environment.
MANY_SECRETS = BASE.replace("ca: {key: ecdsa-p256}", "ca: {key: ecdsa-p256, passphrase: {env: CA_PASS}}").replace(
    "clients: [{name: alice@example.com, key: ecdsa-p256, p12_password: {env: P12}}]",
    "clients: [{name: alice@example.com, key: ecdsa-p256, p12_password: {env: P12}}, {name: bob, key: ecdsa-p256}]"
) + """\
variants:
  ikev2-cert: {}
  ikev2-eap: {users: [{name: erin}, {name: frank}]}
  ikev1-xauth: {auth: psk, users: [{name: carol}]}
  l2tp: {auth: cert, users: [{name: dave}]}
  transport:
    peers: [{name: peer1, address: 198.51.100.9, auth: psk}]
"""


def _secrets_of(root: Path) -> set[str]:
    """What must never leave the machine, collected independently of the doctor's own code."""
    found = {ENV["P12"], ENV["CA_PASS"]}
    for path in (root / "etc/swan-wizard/secrets").iterdir():
        found.add(path.read_text().strip())
    for path in (root / "etc/swan-wizard/clients").glob("*/p12-password"):
        found.add(path.read_text().strip())
    for path in [*root.glob("etc/swanctl/private/*"), *root.glob("etc/ipsec.d/private/*"),
                 *root.glob("etc/swan-wizard/*/*/key.pem"), root / "etc/swan-wizard/ca/ca.key"]:
        if path.is_file():
            # Each base64 line of a private key, and the whole key.
            found.update(line for line in path.read_text().splitlines() if "-----" not in line and len(line) > 16)
    for conf in [*root.glob("etc/swanctl/conf.d/*.conf"), root / "etc/ipsec.secrets"]:
        if conf.is_file():
            for line in conf.read_text().splitlines():
                if "secret = " in line:
                    found.add(line.split("secret = ", 1)[1].strip().strip('"'))
                elif " : " in line and not line.startswith("#") and " RSA " not in line and " ECDSA " not in line:
                    found.add(line.split(None, 3)[-1].strip().strip('"').split()[-1].strip('"'))
    return {s for s in found if len(s) >= 6}


def _members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle, "r:gz") as tar:
        out = {}
        for info in tar.getmembers():
            assert info.mode == 0o600
            handle = tar.extractfile(info)
            assert handle is not None
            out[info.name.split("/", 1)[1]] = handle.read()
    return out


@pytest.mark.parametrize("layout", ["swanctl", "ipsec"])
def test_bundle_holds_no_secret(layout: str, tmp_path: Path) -> None:
    text = MANY_SECRETS.replace("version: 1\n", f"version: 1\nlayout: {layout}\n")
    answers = write_answers(tmp_path, text)
    root = apply_root(tmp_path / "root", answers)
    secrets = _secrets_of(root)
    assert len(secrets) > 10
    # A level-4 log (charon then writes secrets) and a client that typed its password as its name.
    log = root / "var/log/swan-wizard/charon.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    xauth = (root / "etc/swan-wizard/secrets/xauth.user.carol").read_text().strip()
    log.write_text("".join(f"Nov 29 19:29:{i % 60:02d}.000 09[IKE4] <CiscoIPSec|{i}> line {i}\n" for i in range(3000))
                   + f"Nov 29 19:30:00.000 09[IKE4] <CiscoIPSec|9> XAuth secret: {xauth}\n"
                   + f"Nov 29 19:30:01.000 09[IKE1] <IPSec-IKEv2-EAP|9> received EAP identity '{ENV['P12']}'\n")
    bundle = tmp_path / "support.tar.gz"
    env = dict(os.environ, **ENV)
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "doctor", "--root", str(root), "--answers",
                           str(answers), "--offline", "--bundle", str(bundle), "--log-lines", "500"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert bundle.is_file(), proc.stderr
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    members = _members(bundle)
    blob = b"\n".join(members.values())
    leaked = [s for s in secrets if s.encode() in blob]
    assert not leaked
    assert b"PRIVATE KEY" not in blob
    for binary in root.glob("etc/swan-wizard/clients/*/*.p12"):
        assert base64.b64encode(binary.read_bytes()[:48]) not in blob and binary.read_bytes()[:64] not in blob
    # What a helper needs is there: findings, the configuration (redacted, not dropped), certificates, the log.
    assert {"findings.json", "report.txt", "README.txt", "system.txt", "log/charon.log"} <= set(members)
    report = json.loads(members["findings.json"])
    assert report["root"] == str(root) and report["findings"]
    if layout == "swanctl":
        conf = members["config/etc/swanctl/conf.d/swan-wizard.conf"].decode()
        assert "secret = <redacted>" in conf and "IPSec-IKEv2-EAP" in conf
    else:
        assert b"XAUTH <redacted>" in members["config/etc/ipsec.secrets"]
        assert b": RSA vpn-host.key" in members["config/etc/ipsec.secrets"]
    assert b"<redacted>" in members["config/etc/ppp/chap-secrets"]
    assert any(name.startswith("certificates/etc/swanctl/x509/") or name.startswith("certificates/etc/ipsec.d/certs/")
               for name in members)
    assert not any(name.endswith((".key", ".p12")) or "private" in name for name in members)
    tail = members["log/charon.log"].decode().splitlines()
    assert len(tail) == 500 and "<redacted>" in tail[-2] and "<redacted>" in tail[-1]


def test_redactors_keep_the_shape() -> None:
    assert redact_settings("   secret = 0xabc\n   id = bob\n   eap_secret = \"x y\"\n") == \
        "   secret = <redacted>\n   id = bob\n   eap_secret = <redacted>\n"
    assert redact_settings("mapping = 1\nping = 2\n") == "mapping = 1\nping = 2\n"
    assert redact_ipsec_secrets(': RSA vpn-host.key\n: RSA enc.key "pass phrase"\nbob : EAP "pw"\n') == \
        ": RSA vpn-host.key\n: RSA enc.key <redacted>\nbob : EAP <redacted>\n"
    assert redact_chap_secrets('# client server secret IP\n"dave" l2tpd "pw 1" *\n') == \
        '# client server secret IP\n"dave" l2tpd <redacted> *\n'


def test_log_redaction_covers_every_hex_form_of_a_secret() -> None:
    from wizard.checks.doctor.bundle import encodings, redact_log, scrub

    secret = "attack-at-dawn-horse"
    data = secret.encode()
    dump = "".join(f"\nDec  4 10:00:00 09[CFG] {i:4d}: {' '.join(f'{b:02X}' for b in data[i:i + 16]):<47}  "
                   f"{data[i:i + 16].decode()}" for i in range(0, len(data), 16))
    log = (f"Dec  4 10:00:00 09[CFG] loaded EAP shared key => {len(data)} bytes @ 0x55d0c0a3c8a0{dump}\n"
           f"Dec  4 10:00:01 09[IKE] <rw|1> secret: {':'.join(f'{b:02x}' for b in data)}\n"
           f"Dec  4 10:00:02 09[IKE] <rw|1> got {data.hex()} and {':'.join(f'{b:02X}' for b in data)}\n"
           "Dec  4 10:00:03 09[IKE] <rw|1> IKE_SA rw[1] established\n")
    out = scrub(redact_log(log), encodings({secret}))
    hexed = data.hex()
    for form in (secret, hexed, hexed.upper(), "61:74:74:61", "61 74 74 61", "attack-at-dawn-h", "horse"):
        assert form.lower() not in out.lower(), (form, out)
    assert "IKE_SA rw[1] established" in out and "loaded EAP shared key" in out
