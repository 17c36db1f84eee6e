"""`swan-wizard selftest` against a real server started in a namespace from an applied root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from applied import apply_cli
from lab import SERVER_ADDR, SERVER_LAN_ADDR, open_lab

from wizard.pki import encode, issue, keys, names
from wizard.pki.keytypes import KeyType

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[1]
ANSWERS = f"""\
version: 1
server: {{address: {SERVER_ADDR}}}
ca: {{key: ecdsa-p256}}
host: {{key: rsa-2048}}
variants:
  ikev2-cert: {{}}
  ikev2-eap: {{users: [{{name: alice}}]}}
  ikev1-xauth: {{auth: psk, users: [{{name: bob}}]}}
pool: {{addresses: 198.19.128.0/24, dns: [{SERVER_LAN_ADDR}]}}
"""


def applied(tmp_path: Path) -> tuple[Path, Path]:
    return apply_cli(tmp_path, ANSWERS)


def selftest(answers: Path, root: Path, server) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", "selftest", str(answers), "--root", str(root), "--json",
         "--server-netns", server.netns, "--vici", server.vici_path,
         "--server-log", str(server.dir / "var/log/swan-wizard/charon.log")],
        capture_output=True, text=True, cwd=REPO, timeout=300)


def test_selftest_passes_every_variant_and_cleans_up(tmp_path: Path) -> None:
    answers, root = applied(tmp_path)
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=root)
        server.start()
        server.swanctl("--load-all", "--noprompt")
        shared_before = server.vici().get_shared()
        proc = selftest(answers, root, server)
        results = {r["variant"]: r for r in json.loads(proc.stdout)}
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert {v: r["status"] for v, r in results.items()} == {
            "ikev2-cert": "pass", "ikev2-eap": "pass", "ikev1-xauth": "pass"}, results
        assert "64 KiB each way" in results["ikev2-cert"]["detail"]
        # nothing left behind: no namespace, no test users in the server, no SA
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert "swst-" not in netns
        assert server.vici().get_shared() == shared_before
        assert not server.list_sas()
        assert not list(Path("/tmp").glob("swan-selftest-*"))


def test_selftest_fails_against_a_broken_server_and_says_why(tmp_path: Path) -> None:
    answers, root = applied(tmp_path)
    # Break the server: it trusts another CA than the one that issues client certificates.
    other = keys.generate_key(KeyType.ECDSA_P256)
    foreign = issue.issue_ca(other, names.parse_dn("CN=Some Other CA"), 30)
    (root / "etc/swanctl/x509ca/swan-wizard-ca.pem").write_bytes(encode.cert_to_pem(foreign))
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=root)
        server.start()
        server.swanctl("--load-all", "--noprompt")
        proc = selftest(answers, root, server)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        results = {r["variant"]: r for r in json.loads(proc.stdout)}
        cert = results["ikev2-cert"]
        assert cert["status"] == "fail"
        evidence = "\n".join(cert["evidence"])
        assert "AUTHENTICATION_FAILED" in evidence and "no issuer certificate found" in evidence, cert
        # the password variants do not depend on client certificates: they still pass
        assert results["ikev2-eap"]["status"] == "pass"
