"""Configuration findings: charon's own verdict on broken files, secret file modes, proposals clients can't use."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from doctor_support import BASE, apply_root, doctor, one, write_answers

from wizard.checks.doctor import apply_fixes
from wizard.checks.doctor.daemoncheck import unavailable_reason
from wizard.fs.paths import Root

REPO = Path(__file__).resolve().parents[1]
EAP = BASE + "variants:\n  ikev2-cert: {}\n  ikev2-eap: {users: [{name: bob}]}\n"


def needs_charon(layout: str = "swanctl") -> None:
    reason = unavailable_reason(Root.of("/"), layout)
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"throwaway charon unavailable: {reason} (CI=true: refusing to skip)")
        pytest.skip(f"throwaway charon unavailable: {reason}")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return apply_root(tmp_path / "root", write_answers(tmp_path, EAP))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------------------------- permissions


def test_loose_permissions_are_found_and_fixed(root: Path) -> None:
    broken = {
        root / "etc/swanctl/private/vpn-host.key": 0o644,  # the host's private key
        root / "etc/swanctl/conf.d/swan-wizard.conf": 0o644,  # holds the EAP user's NT hash
        root / "etc/swan-wizard/secrets/eap.user.bob": 0o640,  # the generated password
        root / "etc/swan-wizard/clients/alice@example.com/alice@example.com.p12": 0o604,
        root / "etc/swan-wizard/clients/alice@example.com": 0o755,  # the folder with key and PKCS#12
    }
    for path, loose in broken.items():
        os.chmod(path, loose)
    report = doctor(root)
    found = {Path(f.autofix.chmod_path): f for f in report.findings  # type: ignore[union-attr]
             if f.code == "config.permissions" and f.autofix}
    assert set(found) == set(broken)
    key = found[root / "etc/swanctl/private/vpn-host.key"]
    assert key.severity == "error" and "mode 0644" in key.evidence[0].text and "everyone" in key.message
    assert "its group" in found[root / "etc/swan-wizard/secrets/eap.user.bob"].message
    assert key.command == f"chmod 0600 {root}/etc/swanctl/private/vpn-host.key"
    applied = apply_fixes(report)
    assert len(applied) == len(broken)
    assert {p: mode(p) for p in broken} == {p: (0o700 if p.is_dir() else 0o600) for p in broken}
    assert not doctor(root).by_code("config.permissions")[0].is_problem


def test_typed_passwords_and_their_directory_are_secrets_to_the_doctor(tmp_path: Path) -> None:
    typed = tmp_path / "root/etc/swan-wizard/secrets/typed"
    typed.mkdir(parents=True)
    (typed / "user-bob").write_text("tundra-viaduct-17-marzipan\n")
    answers = write_answers(tmp_path, EAP.replace("{name: bob}", "{name: bob, password: {file: "
                                                  "/etc/swan-wizard/secrets/typed/user-bob}}"))
    root = apply_root(tmp_path / "root", answers)
    assert mode(typed) == 0o700 and mode(typed / "user-bob") == 0o600
    os.chmod(typed, 0o755)
    os.chmod(typed / "user-bob", 0o644)
    found = {Path(f.autofix.chmod_path) for f in doctor(root).findings  # type: ignore[union-attr]
             if f.code == "config.permissions" and f.autofix}
    assert {typed, typed / "user-bob"} <= found


def test_fix_from_the_command_line_changes_the_exit_status(root: Path) -> None:
    os.chmod(root / "etc/swan-wizard/ca/ca.key", 0o644)
    base = [sys.executable, "-m", "wizard.cli", "doctor", "--root", str(root), "--offline"]
    before = subprocess.run(base, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert before.returncode == 1, before.stdout
    assert "ca.key" in before.stdout and "--fix" in before.stdout
    fixed = subprocess.run([*base, "--fix"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert fixed.returncode == 0, fixed.stdout
    assert "Fixes applied:" in fixed.stdout and "chmod 0600" in fixed.stdout
    assert mode(root / "etc/swan-wizard/ca/ca.key") == 0o600


# ---------------------------------------------------------------------------------------------- real parser


def test_charon_accepts_what_apply_wrote(root: Path) -> None:
    needs_charon()
    accepted = one(doctor(root, daemon_check=True), "config.accepted")
    assert accepted.data["loaded"] == ["IPSec-IKEv2", "IPSec-IKEv2-EAP"]


def _edit(path: Path, old: str, new: str, count: int = 1) -> int:
    """Replace text and return the line number of the change."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))
    return text[: text.index(old)].count("\n") + 1


def test_unknown_algorithm_is_refused_with_its_line(root: Path) -> None:
    needs_charon()
    conf = root / "etc/swanctl/conf.d/swan-wizard.conf"
    line = _edit(conf, "proposals = aes256gcm16", "proposals = aes257gcm16")
    report = doctor(root, daemon_check=True)
    refused = report.by_code("config.rejected")[0]
    assert refused.severity == "error" and "IPSec-IKEv2" in refused.message
    assert "invalid value for: proposals" in refused.message
    assert refused.evidence[0].where == f"/etc/swanctl/conf.d/swan-wizard.conf:{line}"
    assert report.exit_code == 1


def test_unknown_option_and_missing_brace(root: Path) -> None:
    needs_charon()
    conf = root / "etc/swanctl/conf.d/swan-wizard.conf"
    line = _edit(conf, "      unique = replace\n", "      unique = replace\n      mobile_ike = yes\n") + 1
    refused = doctor(root, daemon_check=True).by_code("config.rejected")[0]
    assert "unknown option: mobile_ike" in refused.message
    assert refused.evidence[0].where == f"/etc/swanctl/conf.d/swan-wizard.conf:{line}"
    # A section never closed: charon only says "syntax error"; the doctor's reader names the line.
    text = conf.read_text().replace("mobile_ike = yes\n", "")
    conf.write_text(text.replace("   swan-wizard-v4 {\n", "   swan-wizard-v4 {\n   extra {\n", 1))
    opened = text[: text.index("   swan-wizard-v4 {\n")].count("\n") + 2
    refused = one(doctor(root, daemon_check=True), "config.rejected")
    assert "syntax error" in refused.message and "no connection is loaded" in refused.message
    # The '}' that closes the wrong section is named, with the range the stray '{' is in.
    hint = next(e for e in refused.evidence if "between lines" in e.text)
    first, last = (int(n) for n in re.findall(r"between lines (\d+) and (\d+)", hint.text)[0])
    assert first < opened < last


def test_missing_certificate_file(root: Path) -> None:
    needs_charon()
    (root / "etc/swanctl/x509/vpn-host.pem").unlink()
    report = doctor(root, daemon_check=True)
    assert one(report, "cert.host-missing").severity == "error"
    refused = report.by_code("config.rejected")
    assert refused and any("vpn-host.pem" in e.text for f in refused for e in f.evidence)


def test_legacy_layout_errors_point_at_lines(tmp_path: Path) -> None:
    needs_charon("ipsec")
    answers = write_answers(tmp_path, EAP.replace("version: 1\n", "version: 1\nlayout: ipsec\n"))
    root = apply_root(tmp_path / "root", answers)
    assert one(doctor(root, daemon_check=True), "config.accepted").severity == "ok"
    keyword = _edit(root / "etc/ipsec.conf", "    rekey=no\n", "    rekey=no\n    leftfirewal=yes\n") + 1
    with (root / "etc/ipsec.secrets").open("a") as secrets:
        secrets.write("carol : EAP\n")
    broken_secret = (root / "etc/ipsec.secrets").read_text().count("\n")
    refused = doctor(root, daemon_check=True).by_code("config.rejected")
    evidence = {e.where: e.text for f in refused for e in f.evidence}
    assert any(where.endswith(f"(/etc/ipsec.conf:{keyword})") and "unknown keyword 'leftfirewal'" in text
               for where, text in evidence.items())
    assert any(where.endswith(f"(/etc/ipsec.secrets:{broken_secret})") for where in evidence)


def test_without_a_daemon_the_files_are_still_read(root: Path) -> None:
    conf = root / "etc/swanctl/conf.d/swan-wizard.conf"
    line = _edit(conf, "proposals = aes256gcm16", "proposals = aes257gcm16")
    report = doctor(root, daemon_check=False)
    assert one(report, "config.daemon-check").severity == "skipped"
    unknown = report.by_code("config.proposal-unknown")[0]
    assert "aes257gcm16" in unknown.message and unknown.evidence[0].where.endswith(f":{line}")


# ---------------------------------------------------------------------------------------------- proposals


def _proposals(tmp_path: Path, ike: str, esp: str) -> set[tuple[str, str]]:
    answers = write_answers(tmp_path, BASE + f"proposals: {{ike: [{ike}], esp: [{esp}]}}\n")
    root = apply_root(tmp_path / "root", answers)
    report = doctor(root, answers)
    return {(f.code, f.data.get("client", "")) for f in report.findings
            if f.code.startswith("config.proposals") and f.is_problem}


ANDROID = "Android's built-in IKEv2 client"
IOS = "iOS/macOS set up by hand (no profile)"


def test_ecp_only_ike_locks_out_android(tmp_path: Path) -> None:
    found = _proposals(tmp_path, "aes256-sha256-ecp384", "aes256-sha256")
    assert ("config.proposals-ike", ANDROID) in found
    assert ("config.proposals-ike", IOS) in found  # iOS offers ECP-256, not 384
    assert ("config.proposals-esp", ANDROID) not in found


def test_modp1024_only_is_weak_and_refused(tmp_path: Path) -> None:
    found = _proposals(tmp_path, "aes256-sha1-modp1024", "aes256-sha1")
    assert ("config.proposals-weak", "") in found
    assert ("config.proposals-ike", ANDROID) in found


def test_esp_without_aes_cbc_sha256_locks_out_ios(tmp_path: Path) -> None:
    found = _proposals(tmp_path, "aes256-sha256-modp2048", "aes256gcm16")
    assert found == {("config.proposals-esp", IOS)}


def test_modern_preset_suits_every_client(root: Path) -> None:
    report = doctor(root)
    assert not {f.code for f in report.findings if f.code.startswith("config.proposals") and f.is_problem}
    assert one(report, "config.proposals").severity == "ok"
