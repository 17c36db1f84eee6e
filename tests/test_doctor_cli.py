"""`swan-wizard doctor` on the command line: JSON for automation, exit status, --root semantics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from doctor_support import BASE, apply_root, write_answers

REPO = Path(__file__).resolve().parents[1]


def doctor_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wizard.cli", "doctor", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("staged")
    answers = write_answers(directory)
    return apply_root(directory / "root", answers), answers


def test_json_report_of_a_staged_root(staged: tuple[Path, Path]) -> None:
    root, answers = staged
    proc = doctor_cli("--root", str(root), "--answers", str(answers), "--json", "--offline")
    assert proc.returncode == 0, proc.stdout
    report = json.loads(proc.stdout)
    assert report["swan_wizard_doctor"] == 1 and report["status"] == "ok"
    assert report["root"] == str(root) and report["live"] is False and report["layout"] == "swanctl"
    assert set(report["counts"]) == {"error", "warning", "info", "ok", "skipped"}
    for finding in report["findings"]:
        assert set(finding) >= {"code", "area", "severity", "summary", "evidence", "fix", "command", "autofix"}
        assert finding["area"] in ("certificates", "configuration", "system", "log")
    # Live checks cannot judge a staged tree: they are skipped, never reported as passed.
    system = [f for f in report["findings"] if f["area"] == "system"]
    assert system and {f["severity"] for f in system} == {"skipped"}
    assert {f["code"] for f in system} >= {"system.charon", "system.ports", "system.forwarding", "system.firewall",
                                            "system.kernel"}


def test_exit_status_says_whether_anything_is_wrong(staged: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = staged
    moved = write_answers(tmp_path, BASE.replace("vpn.example.com", "vpn.moved.example"))
    proc = doctor_cli("--root", str(root), "--answers", str(moved), "--offline")
    assert proc.returncode == 1
    assert "[ERROR] cert.san-missing" in proc.stdout and "run: swan-wizard apply" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("Summary: ")
    # --strict also fails on warnings (here: the installed identity differs from the answers).
    warned = doctor_cli("--root", str(root), "--answers", str(moved), "--offline", "--strict", "--json")
    assert warned.returncode == 1 and json.loads(warned.stdout)["counts"]["warning"] >= 1


def test_bad_answers_are_reported_like_everywhere_else(staged: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = staged
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nserver: {adress: x}\n")
    proc = doctor_cli("--root", str(root), "--answers", str(bad))
    assert proc.returncode == 2
    assert "swan-wizard: error:" in proc.stderr and "did you mean 'address'" in proc.stderr


def test_empty_root_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    proc = doctor_cli("--root", str(tmp_path), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert [f["severity"] for f in report["findings"] if f["code"] == "config.missing"] == ["error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="reads the live system's secrets and vici socket as root")
def test_live_system_without_charon(tmp_path: Path) -> None:
    """On this machine nothing was applied and no charon answers on /run/charon.vici: findings, no crash."""
    proc = doctor_cli("--json", "--offline", "--log", str(tmp_path / "none.log"))
    report = json.loads(proc.stdout)
    assert report["live"] is True
    charon = [f for f in report["findings"] if f["code"] == "system.charon"]
    if Path("/run/charon.vici").exists():
        pytest.skip("a charon runs on this machine")
    assert charon and charon[0]["severity"] == "error" and "not running" in charon[0]["summary"]


def test_commands_an_apply_still_owes_are_an_error(tmp_path: Path) -> None:
    answers = write_answers(tmp_path)
    root = apply_root(tmp_path / "root", answers)
    owed = root / "var/lib/swan-wizard/pending-commands.json"
    owed.write_text(json.dumps({"commands": ["sysctl --system", "swanctl --load-all --noprompt"],
                                "failed": "sysctl --system"}))
    proc = doctor_cli("--root", str(root), "--answers", str(answers), "--json", "--offline")
    assert proc.returncode != 0, proc.stdout
    found = [f for f in json.loads(proc.stdout)["findings"] if f["code"] == "system.commands-pending"]
    assert len(found) == 1 and found[0]["severity"] == "error"
    assert "`sysctl --system` failed" in found[0]["summary"] and "apply" in found[0]["fix"]
    owed.unlink()
    proc = doctor_cli("--root", str(root), "--answers", str(answers), "--json", "--offline")
    assert not [f for f in json.loads(proc.stdout)["findings"] if f["code"] == "system.commands-pending"]
