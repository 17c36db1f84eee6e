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
from wizard.pki import encode, issue, keys, names
from wizard.pki.keytypes import KeyType

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
                                  "/usr/lib/ipsec/plugins/libstrongswan-eap-radius.so", "/usr/lib/ipsec/libradius.so.0",
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


# ---------------------------------------------------------------------------------------------------
# identity sent as another type than the certificate carries it (lab fixture: id = fqdn:alice@example.com)


def _client_folder(root: Path, name: str) -> None:
    """A client's folder as apply writes it: the certificate names the client as an e-mail SAN."""
    ca_key = keys.generate_key(KeyType.ECDSA_P256)
    ca = issue.issue_ca(ca_key, names.parse_dn("C=CH, O=strongSwan, CN=strongSwan Root CA"), 30)
    cert = issue.issue_client(ca_key, ca, keys.generate_key(KeyType.ECDSA_P256).public_key(), name, 30)
    folder = root / "etc/swan-wizard/clients" / name
    folder.mkdir(parents=True)
    (folder / "cert.pem").write_bytes(encode.cert_to_pem(cert))


def test_identity_of_another_type_is_named_not_a_ca_problem(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _client_folder(root, "alice@example.com")
    ctx = make_context(Root.of(root), log=str(LOGS / "identity-type.server.log"))
    findings, _ = logcheck.check(ctx)
    codes = {f.code for f in findings}
    assert "log.identity-type" in codes and "log.no-trusted-key" not in codes
    finding = next(f for f in findings if f.code == "log.identity-type")
    assert finding.severity == "warning"
    assert any("no trusted ECDSA public key found for 'alice@example.com'" in e.text for e in finding.evidence)
    # the certificate under the root says which type the client must send, and the fix says where to set it
    cert = f"{root}/etc/swan-wizard/clients/alice@example.com/cert.pem"
    assert any(cert in h and "as an e-mail address (RFC822" in h and "must send it as an e-mail address" in h
               for h in finding.data["hints"]), finding.data["hints"]
    assert "local.id" in finding.fix and "local-identity" in finding.fix and "LocalIdentifier" in finding.fix


def test_identity_of_another_type_from_the_log_alone(tmp_path: Path) -> None:
    finding = _finding(tmp_path, "identity-type.server.log", "log.identity-type")
    assert any('"C=CH, O=strongSwan, CN=alice@example.com"' in h and "same type" in h
               for h in finding.data["hints"]), finding.data["hints"]


def test_a_certificate_charon_tried_is_a_chain_problem(tmp_path: Path) -> None:
    """The same failure once charon tried the certificate ("using certificate"): its chain failed, not its name."""
    lines = (LOGS / "identity-type.server.log").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "no trusted ECDSA public key" in line)
    prefix = lines[at].split("no trusted", 1)[0].replace("[IKE1]", "[CFG1]")
    for tried in ('  using certificate "C=CH, O=strongSwan, CN=alice@example.com"',
                  'no issuer certificate found for "C=CH, O=strongSwan, CN=alice@example.com"'):
        log = tmp_path / "tried.log"
        log.write_text("".join(lines[:at]) + prefix + tried + "\n" + "".join(lines[at:]))
        assert sorted(s.rule.code for s in scan(log).found()) == ["authentication-failed", "no-trusted-key"], tried
    # and a client that sent no certificate at all: charon had nothing of the client's to try
    log.write_text("".join(line for line in lines if "received end entity cert" not in line))
    assert sorted(s.rule.code for s in scan(log).found()) == ["authentication-failed", "no-trusted-key"]


# ---------------------------------------------------------------------------------------------------
# a virtual IP of one family not found (lab fixtures: vips = 0.0.0.0,:: and vips = :: against an IPv4 pool)


def _swanctl_pool(root: Path, addrs: str, pools: str = "v") -> Path:
    conf = root / "etc/swanctl/conf.d/swan-wizard.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(f"connections {{\n rw {{\n  pools = {pools}\n }}\n}}\n"
                    f"pools {{\n v {{\n  addrs = {addrs}\n }}\n}}\n")
    return root


@pytest.mark.parametrize(("addrs", "pools", "severity"), [
    ("198.19.128.0/24", "v", "info"),  # IPv4 only: the IPv6 request has nothing to be served from
    ("198.19.128.100-198.19.128.200", "v", "info"),
    ("198.19.128.0/24", "dhcp", "info"),  # charon's dhcp plugin serves IPv4 only
    ("fd00:198:19::/64", "v", "warning"),  # an IPv6 pool that gave nothing: exhausted or not loaded
    ("198.19.128.0/24", "radius", "warning"),  # a pool the doctor cannot see: unknown, not harmless
])
def test_missing_family_warns_only_when_a_pool_of_it_exists(addrs: str, pools: str, severity: str,
                                                            tmp_path: Path) -> None:
    root = _swanctl_pool(tmp_path / "root", addrs, pools)
    finding = _finding(tmp_path, "vip-dual.server.log", "log.vip-family", root)
    assert finding.severity == severity
    assert any("%any6" in h for h in finding.data["hints"])


def test_missing_family_with_the_legacy_layout(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/ipsec.conf").write_text("conn rw\n  right=%any\n  rightsourceip=198.19.128.0/24\n  auto=add\n")
    assert _finding(tmp_path, "vip-dual.server.log", "log.vip-family", root).severity == "info"
    (root / "etc/ipsec.conf").write_text("conn rw\n  right=%any\n  rightsourceip=%mypool\n  auto=add\n")
    assert _finding(tmp_path, "vip-dual.server.log", "log.vip-family", root).severity == "warning"


def test_missing_family_without_configuration_warns(tmp_path: Path) -> None:
    assert _finding(tmp_path, "vip-dual.server.log", "log.vip-family").severity == "warning"


def test_no_address_at_all_stays_a_failure(tmp_path: Path) -> None:
    root = _swanctl_pool(tmp_path / "root", "198.19.128.0/24")
    ctx = make_context(Root.of(root), log=str(LOGS / "vip-ipv6-only.server.log"))
    findings, _ = logcheck.check(ctx)
    severities = {f.code: f.severity for f in findings}
    assert severities["log.vip-failure"] == "warning"
    assert severities["log.vip-family"] == "info"  # why: IPv6 asked for, no IPv6 pool


def test_another_clients_identity_is_not_called_a_type_mismatch(tmp_path: Path) -> None:
    """bob's certificate on the machine carries the identity; the client sent alice's: say what alice's carries."""
    root = tmp_path / "root"
    _client_folder(root, "alice@example.com")
    _client_folder(root, "bob@example.com")
    log = tmp_path / "bob.log"
    log.write_text((LOGS / "identity-type.server.log").read_text().replace("found for 'alice@", "found for 'bob@"))
    finding = _finding(tmp_path, str(log), "log.identity-type", root)
    assert [h for h in finding.data["hints"] if "bob@example.com/cert.pem" in h] == []
    assert any("alice@example.com/cert.pem" in h and "does not carry 'bob@example.com' at all" in h
               and "email:alice@example.com" in h for h in finding.data["hints"]), finding.data["hints"]
