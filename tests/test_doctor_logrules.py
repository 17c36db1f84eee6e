"""The log rule table and the scanner, on log excerpts real charons wrote (tests/data/logs/).

Where each fixture comes from is in tests/data/logs/index.json: "lab" excerpts were captured from the
failures ``test_doctor_lab.py`` makes happen between real daemons; the single "reference" file holds
message variants no lab scenario produces, written from strongSwan 5.9.8's format strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizard.checks.doctor import logcheck
from wizard.checks.doctor.context import make_context
from wizard.checks.doctor.logrules import RULES, LogScanner, scan
from wizard.fs.paths import Root

LOGS = Path(__file__).parent / "data" / "logs"
INDEX: dict[str, dict] = json.loads((LOGS / "index.json").read_text())  # type: ignore[type-arg]


@pytest.mark.parametrize("name", sorted(INDEX))
def test_fixture_is_diagnosed_as_the_daemons_failed(name: str) -> None:
    result = scan(LOGS / name)
    found = sorted(s.rule.code for s in result.found())
    assert found == INDEX[name]["expect"], f"{name}: {INDEX[name]['story']}"
    # Every failure in a fixture happened after charon started: each counts as current.
    assert all(s.current == s.count for s in result.found())


def test_every_rule_has_real_lines() -> None:
    covered_lab = {code for entry in INDEX.values() if entry["origin"] == "lab" for code in entry["expect"]}
    covered_any = {code for entry in INDEX.values() for code in entry["expect"]}
    assert {r.code for r in RULES} <= covered_any
    # Rules marked "lab" were seen in real daemons' logs, not only written from the reference.
    assert {r.code for r in RULES if r.origin == "lab"} <= covered_lab


@pytest.mark.parametrize("number", sorted(INDEX["reference.server.log"]["per_line"], key=int))
def test_reference_message_variants(number: str, tmp_path: Path) -> None:
    line = (LOGS / "reference.server.log").read_text().splitlines()[int(number) - 1]
    log = tmp_path / "one.log"
    log.write_text(line + "\n")
    assert [s.rule.code for s in scan(log).found()] == [INDEX["reference.server.log"]["per_line"][number]["rule"]]


def test_every_message_start_is_in_the_installed_charon() -> None:
    """The literals are charon 5.9.8's own words: each occurs in a real log or in the installed binaries."""
    binaries = [Path(p) for p in ("/usr/lib/ipsec/libcharon.so.0", "/usr/lib/ipsec/libstrongswan.so.0",
                                  "/usr/lib/ipsec/plugins/libstrongswan-eap-mschapv2.so",
                                  "/usr/lib/ipsec/plugins/libstrongswan-xauth-generic.so",
                                  "/usr/lib/ipsec/plugins/libstrongswan-vici.so",
                                  "/usr/lib/ipsec/plugins/libstrongswan-stroke.so",
                                  "/usr/lib/ipsec/plugins/libstrongswan-kernel-netlink.so")]
    if not all(b.exists() for b in binaries):
        pytest.skip("strongSwan 5.9.8 binaries not installed")
    corpus = b"".join(b.read_bytes() for b in binaries) + b"".join(p.read_bytes() for p in LOGS.glob("*.log"))
    for literal in LogScanner().literals:
        assert literal.rstrip().encode() in corpus, literal


def test_line_numbers_across_counting_slices(tmp_path: Path) -> None:
    """Line numbers are counted in slices after the scan: every slice size gives the true numbers."""
    source = (LOGS / "wrong-identity.server.log").read_text().splitlines()
    padding = [f"Nov 29 19:00:{i % 60:02d}.000 05[NET2] sending packet: from 198.18.0.1[4500] to 198.18.0.2[4500] "
               f"(80 bytes) {'x' * (i % 37)}" for i in range(3000)]
    lines = padding + source + padding
    log = tmp_path / "big.log"
    log.write_text("\n".join(lines))  # no final newline: the last line still counts
    expected = next(i for i, line in enumerate(lines, 1) if "no matching peer config found" in line)
    results = []
    for size in (97, 4096, 1 << 20):
        scanner = LogScanner()
        scanner.LINE_COUNT_STEP = size
        results.append(scanner.scan(log))
    for result in results:
        stats = result.stats["no-peer-config"]
        assert stats.count == 1 and stats.last is not None and stats.last.line_no == expected
        assert result.lines == len(lines)
        assert "vpn.other.example" in " ".join(stats.details)


def test_failures_before_the_last_start_are_history(tmp_path: Path) -> None:
    old = (LOGS / "no-key.server.log").read_text()
    log = tmp_path / "charon.log"
    # The key was restored and charon restarted: the old failure must not be reported as current.
    log.write_text(old + "Nov 29 21:00:00.000 00[DMN1] Starting IKE charon daemon (strongSwan 5.9.8, Linux, x86_64)\n")
    result = scan(log)
    stats = result.stats["no-private-key"]
    assert stats.count == 1 and stats.current == 0
    ctx = make_context(Root.of(tmp_path), log=str(log))
    findings, _ = logcheck.check(ctx)
    finding = next(f for f in findings if f.code == "log.no-private-key")
    assert finding.severity == "info" and "may be fixed already" in finding.message


def test_one_failure_of_several_lines_counts_once(tmp_path: Path) -> None:
    result = scan(LOGS / "not-responding.client.log")
    assert result.stats["peer-not-responding"].count == 1  # "giving up after" + "peer not responding"
    doubled = tmp_path / "two.log"
    text = (LOGS / "not-responding.client.log").read_text()
    doubled.write_text(text + text.replace("<home|1>", "<home|2>"))
    assert scan(doubled).stats["peer-not-responding"].count == 2


def test_missing_log_is_a_finding(tmp_path: Path) -> None:
    ctx = make_context(Root.of(tmp_path), log=str(tmp_path / "nope.log"))
    findings, _ = logcheck.check(ctx)
    assert [f.code for f in findings] == ["log.missing"]


def _finding(tmp_path: Path, fixture: str, code: str, root: Path | None = None) -> logcheck.Finding:
    ctx = make_context(Root.of(root or tmp_path), log=str(LOGS / fixture))
    findings, _ = logcheck.check(ctx)
    return next(f for f in findings if f.code == code)


def test_no_peer_config_names_the_identity_clients_asked_for(tmp_path: Path) -> None:
    root = tmp_path / "root"
    conf = root / "etc/swanctl/conf.d/swan-wizard.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("connections {\n rw {\n  local {\n   id = vpn.example.com\n  }\n }\n}\n")
    finding = _finding(tmp_path, "ip-identity.server.log", "log.no-peer-config", root)
    assert finding.severity == "warning"
    assert any("no matching peer config found" in e.text for e in finding.evidence)
    assert any("looking for peer configs matching 198.18.0.1[198.18.0.1]" in e.text for e in finding.evidence)
    assert "'198.18.0.1'" in finding.fix and "'vpn.example.com'" in finding.fix
    assert all(e.where.startswith(str(LOGS / "ip-identity.server.log") + ":") for e in finding.evidence)


def test_windows_default_proposal_is_recognised(tmp_path: Path) -> None:
    finding = _finding(tmp_path, "ike-proposal.server.log", "log.ike-proposal-mismatch")
    assert "MODP_1024" in finding.fix and ".ps1" in finding.fix


def test_kernel_without_esp_is_named(tmp_path: Path) -> None:
    finding = _finding(tmp_path, "install-failed.server.log", "log.install-failed")
    assert finding.severity == "error"
    assert "Function not implemented" in finding.fix and "kernel-libipsec" in finding.fix


def test_split_tunnel_without_a_local_address_is_named_not_a_kernel_without_esp(tmp_path: Path) -> None:
    """Userspace ESP is already in use: the advice is the address charon lacks, never "switch to userspace"."""
    text = (LOGS / "split-no-address.server.log").read_text()
    assert "no local address found in traffic selector 198.19.99.0/24" in text
    # The same failure at the default log levels: charon names the network only at knl 2.
    default_levels = tmp_path / "default-levels.log"
    default_levels.write_text("".join(line for line in text.splitlines(keepends=True) if "[KNL2]" not in line))
    for log in (LOGS / "split-no-address.server.log", default_levels):
        finding = _finding(tmp_path, str(log), "log.install-failed")
        assert finding.severity == "error"
        assert "198.19.99.0/24" in finding.message and "no address" in finding.message
        assert "kernel-libipsec" in finding.message and "5.9.12" in finding.message
        assert "inside 198.19.99.0/24" in finding.fix and "dev lo" in finding.fix
        assert "userspace ESP (networking.esp: userspace" not in finding.fix and "no ESP" not in finding.fix
        assert any("error installing route with policy 198.19.99.0/24 === 198.19.128.1/32 out" in e.text
                   for e in finding.evidence)
    finding = _finding(tmp_path, "split-no-address.server.log", "log.install-failed")
    assert any("no local address found in traffic selector 198.19.99.0/24" in e.text for e in finding.evidence)


def test_a_client_told_ts_unacceptable_is_pointed_at_the_server_log_too(tmp_path: Path) -> None:
    finding = _finding(tmp_path, "split-no-address.client.log", "log.ts-unacceptable")
    assert "unable to install IPsec policies" in finding.message


def test_blocked_udp_4500_is_told_apart_from_a_dead_server(tmp_path: Path) -> None:
    blocked = _finding(tmp_path, "udp4500-blocked.client.log", "log.peer-not-responding")
    dead = _finding(tmp_path, "not-responding.client.log", "log.peer-not-responding")
    assert "IKE_AUTH (message ID 1) was not" in blocked.fix and "UDP 500" not in blocked.fix.split("Here:")[1]
    assert "IKE_SA_INIT, message ID 0" in dead.fix


def test_unknown_eap_user_is_named(tmp_path: Path) -> None:
    finding = _finding(tmp_path, "eap-unknown-user.server.log", "log.eap-failed")
    assert "'mallory'" in finding.fix
