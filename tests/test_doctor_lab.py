"""`swan-wizard doctor` against real charons: failures made to happen, and the doctor on a live system.

Part 1, the log rules. Each scenario breaks one thing between a server charon running on files
`apply --root` wrote and a swanctl client, lets it fail for real, and checks that the rule table names
exactly the expected causes in both daemons' logs. These runs are where the fixtures under
``tests/data/logs/`` come from: ``SWAN_DOCTOR_CAPTURE=1 pytest tests/test_doctor_lab.py`` rewrites them
(excerpts of the real logs) and their index, which the fast unit tests in ``test_doctor_logrules.py`` use.

Part 2, the live checks. The doctor runs inside the server's namespaces, where charon is the lab's,
forwarding is off (a fresh network namespace), no firewall rules are loaded: its findings and its
``--fix`` are checked against that real state.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lab import SERVER_ADDR, Addr, Peer, Topology, open_lab

from wizard.checks.doctor.logrules import LogScanner, scan
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.secrets import SecretSource
from wizard.pki import encode, issue, keys, names
from wizard.pki.keytypes import KeyType
from wizard.plan.apply import apply
from wizard.plan.planner import build_plan

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[1]
LOGS = Path(__file__).parent / "data" / "logs"
POOL = "198.19.128.0/24"
CONF = Path("etc/swanctl/conf.d/swan-wizard.conf")

ANSWERS = f"""\
version: 1
server: {{address: vpn.example.com}}
ca: {{key: ecdsa-p256}}
host: {{key: rsa-2048}}
clients: [{{name: alice@example.com, key: ecdsa-p256, p12_password: {{env: P12}}}}]
variants:
  ikev2-cert: {{}}
  ikev2-eap: {{users: [{{name: bob, password: {{env: BOB_PW}}}}]}}
pool: {{addresses: {POOL}, dns: [198.19.0.1]}}
"""
CERT_ONLY = ANSWERS.replace("  ikev2-eap: {users: [{name: bob, password: {env: BOB_PW}}]}\n", "")
PSK_PEER = ANSWERS.replace("  ikev2-cert: {}\n", "  ikev2-cert: {}\n  transport:\n    peers: [{name: peer1, "
                           "address: 198.18.0.2, auth: psk, psk: {env: PEER_PSK}, start: none}]\n")
# A split tunnel to a network the server holds no address in (the lab server has 198.19.0.1 on lo, not this).
SPLIT_ELSEWHERE = "198.19.99.0/24"
# knl 2 on top of the default levels: charon names the cause only at level 2 ("no local address found ...").
SPLIT = (ANSWERS.replace("  ikev2-cert: {}\n", f"  ikev2-cert: {{local_ts: [{SPLIT_ELSEWHERE}]}}\n")
         + 'logging: "cfg 2, dmn 2, ike 2, net 2, knl 2"\n')
XAUTH = ANSWERS.replace("  ikev2-cert: {}\n", "  ikev2-cert: {}\n  ikev1-xauth: {auth: psk, psk: {env: GROUP_PSK}, "
                        "users: [{name: carol, password: {env: CAROL_PW}}]}\n")
ENV = {"P12": "lab-p12-secret", "BOB_PW": "bob-right-password", "PEER_PSK": "right-peer-psk-123",
       "GROUP_PSK": "group-psk-value-456", "CAROL_PW": "carol-password"}

# Short IKE timers for the scenarios about packets that never arrive (defaults give up after 165 s).
FAST = "charon {\n retransmit_tries = 2\n retransmit_timeout = 0.5\n retransmit_base = 1.2\n half_open_timeout = 2\n}\n"
NO_LIBIPSEC = "charon {\n plugins {\n  kernel-libipsec {\n   load = no\n  }\n }\n}\n"


def drop_rule(match: str, hook: str = "output") -> str:
    return (f"table inet swan_lab_drop {{\n chain c {{\n  type filter hook {hook} priority 0; policy accept;\n"
            f"  {match} drop\n }}\n}}\n")


# ---------------------------------------------------------------------------------------------------
# roots and clients


def make_root(dest: Path, text: str = ANSWERS) -> Path:
    """What `swan-wizard apply --root` writes, made in-process (same code) to keep scenarios quick."""
    answers = answers_file.parse(text)
    root = Root.of(dest)
    plan = build_plan(answers, root, SecretSource(base_dir=dest.parent, environ=ENV))
    apply(plan, root, run_commands=False, report=lambda _line: None)
    return dest


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    made: dict[str, Path] = {}

    def get(text: str) -> Path:
        if text not in made:
            made[text] = make_root(tmp_path_factory.mktemp("root") / "root", text)
        return made[text]

    return get


def client_conf(*, auth: str = "pubkey", remote_id: str | None = "vpn.example.com", proposals: str | None = None,
                esp: str | None = None, eap_id: str | None = None, secret: str | None = None,
                vips: str | None = "0.0.0.0", remote_ts: str = "0.0.0.0/0", fragmentation: bool = True,
                remote_addr: str = SERVER_ADDR, local_id: str = "alice@example.com") -> str:
    conn = ["version = 2", f"remote_addrs = {remote_addr}"]
    conn += [f"vips = {vips}"] if vips else []
    conn += [f"proposals = {proposals}"] if proposals else []
    conn += [] if fragmentation else ["fragmentation = no"]
    local = [f"auth = {auth}"] + (["certs = client.pem", f"id = {local_id}"] if auth == "pubkey"
                                  else [f"eap_id = {eap_id}"])
    remote = ["auth = pubkey"] + ([f"id = {remote_id}"] if remote_id else [])
    child = [f"remote_ts = {remote_ts}"] + ([f"esp_proposals = {esp}"] if esp else [])
    text = ("connections {\n home {\n" + "".join(f"  {line}\n" for line in conn)
            + "  local {\n" + "".join(f"   {line}\n" for line in local) + "  }\n"
            + "  remote {\n" + "".join(f"   {line}\n" for line in remote) + "  }\n"
            + "  children {\n   home {\n" + "".join(f"    {line}\n" for line in child) + "   }\n  }\n }\n}\n")
    if secret:
        text += f'secrets {{\n eap-x {{\n  id = {eap_id}\n  secret = "{secret}"\n }}\n}}\n'
    return text


PSK_CLIENT = f"""\
connections {{
 home {{
  version = 2
  remote_addrs = {SERVER_ADDR}
  local {{
   auth = psk
   id = 198.18.0.2
  }}
  remote {{
   auth = psk
   id = vpn.example.com
  }}
  children {{
   home {{
    mode = transport
   }}
  }}
 }}
}}
secrets {{
 ike-1 {{
  id-1 = vpn.example.com
  id-2 = 198.18.0.2
  secret = "a-wrong-psk"
 }}
}}
"""
XAUTH_CLIENT = f"""\
connections {{
 home {{
  version = 1
  remote_addrs = {SERVER_ADDR}
  vips = 0.0.0.0
  proposals = aes256-sha256-modp2048
  local {{
   auth = psk
  }}
  local-2 {{
   auth = xauth
   xauth_id = mallory
  }}
  remote {{
   auth = psk
  }}
  children {{
   home {{
    remote_ts = 0.0.0.0/0
    esp_proposals = aes256-sha256
   }}
  }}
 }}
}}
secrets {{
 ike-1 {{
  secret = "{ENV['GROUP_PSK']}"
 }}
 xauth-1 {{
  id = mallory
  secret = "whatever"
 }}
}}
"""


def rogue_client() -> tuple[bytes, bytes]:
    """A client certificate and key for alice from a CA of the same name that the server never saw."""
    ca_key = keys.generate_key(KeyType.ECDSA_P256)
    ca = issue.issue_ca(ca_key, names.parse_dn("C=CH, O=strongSwan, CN=strongSwan Root CA"), 365)
    key = keys.generate_key(KeyType.ECDSA_P256)
    cert = issue.issue_client(ca_key, ca, key.public_key(), "alice@example.com", 30)
    return encode.cert_to_pem(cert), encode.key_to_pem(key)


def expire_host_cert(root: Path) -> None:
    """Re-issue the host certificate with the same key and CA, valid from 60 to 30 days ago."""
    ca_key = encode.load_key_pem((root / "etc/swan-wizard/ca/ca.key").read_bytes())
    ca = encode.load_cert_pem((root / "etc/swan-wizard/ca/ca.pem").read_bytes())
    key = encode.load_key_pem((root / "etc/swanctl/private/vpn-host.key").read_bytes())
    cert = issue.issue_host(ca_key, ca, key.public_key(), "vpn.example.com", [], 30,
                          now=datetime.now(UTC) - timedelta(days=60))
    (root / "etc/swanctl/x509/vpn-host.pem").write_bytes(encode.cert_to_pem(cert))


def edit(old: str, new: str, count: int = -1) -> Callable[[Path], None]:
    def apply_edit(root: Path) -> None:
        text = (root / CONF).read_text()
        assert old in text, old
        (root / CONF).write_text(text.replace(old, new, count))
    return apply_edit


# ---------------------------------------------------------------------------------------------------
# scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    server: tuple[str, ...]  # rule codes expected in the server's log (the product's filelog)
    client: tuple[str, ...]  # ... and in the client's
    wait: tuple[tuple[str, str], ...]  # (side, text) lines that say the failure is complete
    story: str
    answers: str = ANSWERS
    conf: str = field(default_factory=client_conf)
    tweak: Callable[[Path], None] | None = None
    client_cert: Callable[[], tuple[bytes, bytes]] | None = None
    client_ca: Callable[[], bytes] | None = None
    server_extra: dict[str, str] = field(default_factory=dict)
    client_extra: dict[str, str] = field(default_factory=dict)
    client_drop: str | None = None
    server_drop: str | None = None
    start_server: bool = True


SCENARIOS = (
    # Working connections first: the rules must stay silent on a real, complete, successful exchange.
    Scenario("success", (), (), (("server", "CHILD_SA IPSec-IKEv2{"), ("client", "CHILD_SA home{")),
             "a certificate client connects"),
    Scenario("success-eap", (), (), (("server", "CHILD_SA IPSec-IKEv2-EAP{"), ("client", "CHILD_SA home{")),
             "an EAP client connects", conf=client_conf(auth="eap-mschapv2", eap_id="bob", secret=ENV["BOB_PW"])),
    Scenario("wrong-identity", ("no-peer-config", "authentication-failed"), ("authentication-failed",),
             (("server", "no matching peer config found"), ("client", "AUTHENTICATION_FAILED")),
             "the client asks for a server identity the server does not have",
             conf=client_conf(remote_id="vpn.other.example")),
    Scenario("ip-identity", ("no-peer-config", "authentication-failed"), ("authentication-failed",),
             (("server", "no matching peer config found"), ("client", "AUTHENTICATION_FAILED")),
             "the client dials the server's IP as its identity; the server is vpn.example.com",
             conf=client_conf(remote_id=SERVER_ADDR)),
    Scenario("constraint", ("authentication-failed",), ("constraint-identity",),
             (("client", "constraint check failed"), ("server", "AUTH_FAILED")),
             "the client requires an identity the server's certificate does not contain",
             conf=client_conf(remote_id="*.example.net")),
    Scenario("wrong-ca-client", ("no-trusted-key", "authentication-failed"), ("authentication-failed",),
             (("server", "no trusted"), ("client", "AUTHENTICATION_FAILED")),
             "the client's certificate comes from a CA the server does not trust", client_cert=rogue_client),
    # The certificate carries alice@example.com as an e-mail SAN; the client sends the same text as a host name
    # (FQDN), which charon matches against dNSName entries only: the certificate is never tried.
    Scenario("identity-type", ("identity-type", "authentication-failed"), ("authentication-failed",),
             (("server", "no trusted"), ("client", "AUTHENTICATION_FAILED")),
             "the client sends its e-mail name as an FQDN identity (id = fqdn:alice@example.com)",
             conf=client_conf(local_id="fqdn:alice@example.com")),
    Scenario("wrong-ca-trust", ("authentication-failed",), ("no-trusted-key",),
             (("client", "no trusted"), ("server", "N(AUTH_FAILED)")),
             "the client trusts another CA than the server's",
             client_ca=lambda: encode.cert_to_pem(issue.issue_ca(keys.generate_key(KeyType.ECDSA_P256),
                                                            names.parse_dn("CN=Other CA"), 30))),
    Scenario("expired-host", ("authentication-failed",), ("no-trusted-key", "cert-expired"),
             (("client", "certificate invalid"), ("server", "N(AUTH_FAILED)")),
             "the server's certificate expired 30 days ago", tweak=expire_host_cert),
    Scenario("no-key", ("no-private-key", "authentication-failed"), ("authentication-failed",),
             (("server", "no private key found"), ("client", "AUTHENTICATION_FAILED")),
             "the server's private key is missing",
             tweak=lambda root: (root / "etc/swanctl/private/vpn-host.key").unlink()),
    Scenario("ike-proposal", ("ike-proposal-mismatch",), ("ike-proposal-mismatch",),
             (("server", "received proposals unacceptable"), ("client", "NO_PROPOSAL_CHOSEN")),
             "the client offers Windows' built-in MODP-1024 suite", conf=client_conf(proposals="aes256-sha1-modp1024")),
    Scenario("esp-proposal", ("esp-proposal-mismatch",), ("esp-proposal-mismatch",),
             (("server", "no acceptable proposal found"), ("client", "no CHILD_SA built")),
             "the client's ESP offer is 3DES/SHA-1 only", conf=client_conf(esp="3des-sha1")),
    Scenario("no-ike-config", ("no-ike-config",), ("ike-proposal-mismatch",),
             (("server", "no IKE config found"), ("client", "NO_PROPOSAL_CHOSEN")),
             "the connections are pinned to an address the server does not have",
             tweak=edit("      version = 2\n", "      version = 2\n      local_addrs = 198.18.0.99\n")),
    # The server answers a failed EAP login after 2 s with a retry, which the client (no other password to
    # offer) refuses with AUTHENTICATION_FAILED: waiting for that makes the log complete and the test stable.
    Scenario("eap-wrong-password", ("authentication-failed", "eap-failed"), (),
             (("server", "EAP-MS-CHAPv2 verification failed"), ("server", "[ N(AUTH_FAILED) ]")),
             "an EAP user types a wrong password",
             conf=client_conf(auth="eap-mschapv2", eap_id="bob", secret="not-bobs-password")),
    Scenario("eap-unknown-user", ("authentication-failed", "eap-failed"), (),
             (("server", "no EAP key found"), ("server", "[ N(AUTH_FAILED) ]")),
             "an EAP user the server does not know",
             conf=client_conf(auth="eap-mschapv2", eap_id="mallory", secret="whatever")),
    Scenario("eap-method", ("eap-method",), ("eap-method",),
             (("server", "received EAP_NAK"), ("client", "sending EAP_NAK")),
             "the client is set up for EAP-MD5, the server asks for EAP-MSCHAPv2",
             conf=client_conf(auth="eap-md5", eap_id="bob", secret=ENV["BOB_PW"])),
    Scenario("eap-no-config", ("eap-no-config", "authentication-failed"), ("authentication-failed",),
             (("server", "no alternative config found"), ("client", "AUTHENTICATION_FAILED")),
             "an EAP client against a server with certificate logins only", answers=CERT_ONLY,
             conf=client_conf(auth="eap-mschapv2", eap_id="bob", secret=ENV["BOB_PW"])),
    Scenario("ts-unacceptable", ("ts-unacceptable",), ("ts-unacceptable",),
             (("server", "unacceptable"), ("client", "TS_UNACCEPTABLE")),
             "the client asks for a subnet outside the server's split tunnel",
             conf=client_conf(remote_ts="192.0.2.0/24"),
             tweak=edit("local_ts = 0.0.0.0/0", "local_ts = 198.19.0.0/24")),
    Scenario("no-vip", ("vip-failure", "ts-unacceptable"), ("vip-failure",),
             (("server", "expected a virtual IP request"), ("client", "FAILED_CP_REQUIRED")),
             "the client does not request an inner address", conf=client_conf(vips=None)),
    # NetworkManager's charon-nm asks for an IPv4 and an IPv6 address; this server has an IPv4 pool only.
    Scenario("vip-dual", ("vip-family",), (),
             (("server", "no virtual IP found for %any6"), ("client", "CHILD_SA home{")),
             "the client asks for an IPv4 and an IPv6 address, the server has an IPv4 pool only",
             conf=client_conf(vips="0.0.0.0,::")),
    Scenario("vip-ipv6-only", ("vip-family", "vip-failure", "ts-unacceptable"), ("vip-failure",),
             (("server", "no virtual IP found, sending"), ("client", "INTERNAL_ADDRESS_FAILURE")),
             "the client asks for an IPv6 address only, the server has an IPv4 pool only",
             conf=client_conf(vips="::")),
    Scenario("install-failed", ("install-failed",), ("esp-proposal-mismatch",),
             (("server", "unable to install"), ("client", "no CHILD_SA built")),
             "the kernel has no ESP and charon runs without kernel-libipsec",
             server_extra={"/etc/strongswan.d/zzzz-no-libipsec.conf": NO_LIBIPSEC}),
    # kernel-libipsec of strongSwan < 5.9.12 needs a local address inside local_ts to route the tunnel: the
    # policy install fails and the server answers TS_UNACCEPTABLE, although the selectors did match.
    Scenario("split-no-address", ("install-failed",), ("ts-unacceptable",),
             (("server", "unable to install IPsec policies"), ("client", "TS_UNACCEPTABLE")),
             f"a split tunnel to {SPLIT_ELSEWHERE}, a network the server has no address in, under userspace ESP",
             answers=SPLIT),
    Scenario("not-responding", (), ("peer-not-responding",),
             (("client", "peer not responding"),),
             "no server answers (it is not running)", start_server=False,
             client_extra={"/etc/strongswan.d/zzzz-fast.conf": FAST}),
    Scenario("udp4500-blocked", ("half-open",), ("peer-not-responding", "fragmentation"),
             (("server", "deleting half open IKE_SA"), ("client", "peer not responding")),
             "UDP 4500 is blocked on the way: IKE_SA_INIT passes, IKE_AUTH never arrives",
             client_extra={"/etc/strongswan.d/zzzz-fast.conf": FAST},
             server_extra={"/etc/strongswan.d/zzzz-fast.conf": FAST}, client_drop=drop_rule("udp dport 4500")),
    Scenario("ike-auth-response-lost", ("fragmentation",), ("peer-not-responding", "fragmentation"),
             (("server", "received retransmit of request with ID 1"), ("client", "peer not responding")),
             "large IKE messages from the server are lost (fragments dropped), the client has no IKE fragmentation",
             conf=client_conf(fragmentation=False), client_extra={"/etc/strongswan.d/zzzz-fast.conf": FAST},
             server_drop=drop_rule("udp sport { 500, 4500 } ip length > 1200")),
    Scenario("psk-mismatch", ("psk-mismatch", "authentication-failed"), ("authentication-failed",),
             (("server", "MAC mismatched"), ("client", "AUTHENTICATION_FAILED")),
             "a transport-mode peer with the wrong pre-shared key", answers=PSK_PEER, conf=PSK_CLIENT),
    Scenario("xauth-unknown-user", ("xauth-failed",), ("xauth-failed",),
             (("server", "XAuth authentication of"), ("client", "XAuth authentication of")),
             "an IKEv1 Cisco IPsec client logs in with an XAuth user the server does not know",
             answers=XAUTH, conf=XAUTH_CLIENT),
)


_STORY_GROUPS = ("IKE", "CFG", "ENC", "CHD", "KNL", "JOB", "DMN")
_NOISE = re.compile(r"vici client|loaded plugins|queueing|activating|\[NET|\] (<[^>]*> )?\s")


def _excerpt(text: str, scanner: LogScanner) -> str:
    """The lines worth keeping from a real log: the ones the rules look at, and the IKE story around them."""
    keep = []
    for line in text.splitlines():
        tag = re.search(r"\d+\[([A-Z]{3})(\d)?\] ", line)
        # Level 0/1 lines of the IKE story (the lab's client log has no level digit): no dumps, no packets.
        story = bool(tag) and tag[1] in _STORY_GROUPS and tag[2] in ("0", "1", None) and not _NOISE.search(line)
        # Context lines too: what a rule needs (or must not see) before its line in the same IKE_SA.
        if story or scanner.pattern.search(line.encode()) or scanner.context_pattern.search(line.encode()):
            keep.append(line)
    return "\n".join(keep) + "\n"


def run_scenario(sc: Scenario, roots: Callable[[str], Path], tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    shutil.copytree(roots(sc.answers), root, symlinks=True)
    if sc.tweak:
        sc.tweak(root)
    folder = root / "etc/swan-wizard/clients/alice@example.com"
    cert, key = sc.client_cert() if sc.client_cert else ((folder / "cert.pem").read_bytes(),
                                                          (folder / "key.pem").read_bytes())
    client_files: dict[str, bytes | str] = {
        "/etc/swanctl/swanctl.conf": sc.conf, "/etc/swanctl/x509/client.pem": cert,
        "/etc/swanctl/private/client.pem": key,
        "/etc/swanctl/x509ca/ca.pem": sc.client_ca() if sc.client_ca else (folder / "ca.pem").read_bytes(),
        **sc.client_extra}
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=root, extra_files=sc.server_extra)
        client = lab.add_peer("client", extra_files=client_files)
        if sc.start_server:
            server.start()
            server.swanctl("--load-all", "--noprompt")
        client.start()
        client.swanctl("--load-all", "--noprompt")
        if sc.client_drop:
            client.run("nft", "-f", "-", input=sc.client_drop)
        if sc.server_drop:
            server.run("nft", "-f", "-", input=sc.server_drop)
        client.swanctl("--initiate", "--child", "home", "--timeout", "3", check=False, timeout=30)
        for side, needle in sc.wait:
            (server if side == "server" else client).wait_log(needle, timeout=25)
        server_log = server.dir / "var/log/swan-wizard/charon.log"
        # The lab's own logger has the same lines; the product's filelog is what the doctor reads.
        return (server_log if server_log.exists() else tmp_path / "absent"), client.log_path


def _codes(path: Path) -> list[str]:
    if not path.exists():
        return []
    return sorted(s.rule.code for s in scan(path).found())


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda sc: sc.name)
def test_real_failure_is_diagnosed(sc: Scenario, roots: Callable[[str], Path], tmp_path: Path) -> None:
    server_log, client_log = run_scenario(sc, roots, tmp_path)
    assert _codes(server_log) == sorted(sc.server), (sc.story, server_log.read_text() if server_log.exists() else "")
    assert _codes(client_log) == sorted(sc.client), (sc.story, client_log.read_text())
    index_path = LOGS / "index.json"
    if os.environ.get("SWAN_DOCTOR_CAPTURE") == "1":
        _capture(sc, server_log, client_log)
    # The fixtures the fast tests use must say what the real daemons just said.
    index = json.loads(index_path.read_text())
    for side, expected in (("server", sc.server), ("client", sc.client)):
        name = f"{sc.name}.{side}.log"
        if name in index:
            assert index[name]["expect"] == sorted(expected), f"{name}: recapture with SWAN_DOCTOR_CAPTURE=1"


def _capture(sc: Scenario, server_log: Path, client_log: Path) -> None:
    scanner = LogScanner()
    LOGS.mkdir(parents=True, exist_ok=True)
    index_path = LOGS / "index.json"
    index: dict[str, Any] = json.loads(index_path.read_text()) if index_path.exists() else {}
    for side, path, expected in (("server", server_log, sc.server), ("client", client_log, sc.client)):
        success = sc.name.startswith("success")
        if not expected and not (success and side == "server"):
            continue
        name = f"{sc.name}.{side}.log"
        text = path.read_text(errors="replace")
        # A success is kept whole (every level-2 line of a real exchange: the benchmark's raw material), minus
        # the harness's own vici polling; failures as excerpts.
        kept = "".join(line for line in text.splitlines(keepends=True) if "vici client" not in line)
        (LOGS / name).write_text(kept if success else _excerpt(text, scanner))
        index[name] = {"origin": "lab", "scenario": sc.name, "side": side, "story": sc.story,
                       "format": "product filelog" if side == "server" else "lab filelog (no levels)",
                       "expect": sorted(expected)}
    index_path.write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------
# part 2: the doctor on a live system (inside the server's namespaces)


def doctor_live(peer: Peer, root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """Run `swan-wizard doctor --json` as the live system of ``peer``.

    The lab mounts only strongSwan's paths into a peer; Swan Wizard's own files (/etc/swan-wizard,
    /var/lib/swan-wizard, the sysctl file) come from ``root`` here, in a mount namespace of the doctor's
    own: /etc becomes an overlay whose changes stay in a temp directory, and the peer's strongSwan mounts
    are repeated on top of it. Nothing on the host changes.
    """
    work = peer.dir / "doctor-overlay"
    shutil.rmtree(work, ignore_errors=True)
    (work / "upper").mkdir(parents=True)
    (work / "work").mkdir()
    binds = "\n".join(f'if [ -e "{peer.dir}{p}" ] && [ -e "{p}" ]; then mount --bind "{peer.dir}{p}" "{p}"; fi'
                      for p in ("/etc/strongswan.conf", "/etc/strongswan.d", "/etc/swanctl", "/etc/ipsec.conf",
                                "/etc/ipsec.secrets", "/etc/ipsec.d", "/etc/resolv.conf"))
    # A stopped peer's /run is the host's: give the doctor an empty one, as on a machine where charon is down.
    run = "" if peer.running else "mount -t tmpfs swan-doctor-run /run\n"
    script = f"""set -e
{run}mount -t overlay swan-doctor-etc -o lowerdir=/etc,upperdir={work}/upper,workdir={work}/work /etc
{binds}
mkdir -p /etc/swan-wizard /etc/sysctl.d
mount --bind {root}/etc/swan-wizard /etc/swan-wizard
cp {root}/etc/sysctl.d/60-swan-wizard.conf /etc/sysctl.d/ 2>/dev/null || true
mount -t tmpfs swan-doctor-lib /var/lib
mkdir -p /var/lib/swan-wizard
mount --bind {root}/var/lib/swan-wizard /var/lib/swan-wizard
cd {shlex.quote(str(REPO))}
exec {shlex.quote(sys.executable)} -m wizard.cli doctor --json "$@"
"""
    proc = peer.run("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "doctor", *args,
                    check=False, timeout=120)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def findings(report: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["code"] == code]


def severity(report: dict[str, Any], code: str) -> set[str]:
    return {f["severity"] for f in findings(report, code)}


@pytest.fixture
def live_root(tmp_path: Path) -> Path:
    # The server's pool overlaps the lab segment 198.18.0.0/24 on purpose: a real pool-overlap finding.
    text = ANSWERS.replace(f"pool: {{addresses: {POOL}", "pool: {addresses: 198.18.0.0/24")
    return make_root(tmp_path / "root", text + "networking: {firewall: nftables, wan_interface: eth0}\n")


def test_live_doctor_finds_and_fixes_the_running_system(live_root: Path, tmp_path: Path) -> None:
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=live_root)
        server.start()
        # charon runs but nothing is loaded yet: exactly what a forgotten `swanctl --load-all` looks like.
        rc, report = doctor_live(server, live_root)
        assert rc == 1
        assert severity(report, "system.charon") == {"ok"}
        missing = findings(report, "system.connections-not-loaded")[0]
        assert set(missing["data"]["missing"]) == {"IPSec-IKEv2", "IPSec-IKEv2-EAP"}
        assert missing["autofix"]["command"] == ["swanctl", "--load-all", "--noprompt"]
        # a fresh network namespace forwards nothing and has no firewall rules
        assert severity(report, "system.forwarding") == {"error"}
        assert severity(report, "system.firewall") == {"error"}
        assert "swan_wizard" in findings(report, "system.firewall")[0]["summary"]
        # charon holds both IKE ports; the kernel has no ESP but the lab's charon has kernel-libipsec
        assert [f["severity"] for f in findings(report, "system.ports")] == ["ok", "ok"]
        assert severity(report, "system.kernel") == {"ok"}
        overlap = findings(report, "config.pool-overlap")
        assert overlap and "198.18.0.0/24" in overlap[0]["summary"] and "eth0" in overlap[0]["summary"]
        # the configuration itself is fine: charon's parser accepted it in a throwaway daemon
        assert severity(report, "config.accepted") == {"ok"}

        rc, fixed = doctor_live(server, live_root, "--fix")
        assert any("load the connections" in line or "system.connections-not-loaded" in line
                   for line in fixed["fixes_applied"]), fixed["fixes_applied"]
        assert not findings(fixed, "system.connections-not-loaded")
        assert severity(fixed, "system.forwarding") == {"ok"}
        assert severity(fixed, "system.firewall") == {"ok"}
        # what --fix did is real: the kernel of this namespace now forwards and holds the table
        assert server.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        assert "swan_wizard" in server.run("nft", "list", "tables").stdout
        conns = server.swanctl("--list-conns").stdout
        assert "IPSec-IKEv2" in conns
        # only the pool overlap is left (it needs another answer and an apply: not --fix's business)
        assert {f["code"] for f in fixed["findings"] if f["severity"] == "error"} == {"config.pool-overlap"}
        assert rc == 1


def test_live_doctor_sees_charon_without_libipsec_and_not_running(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root")
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=root,
                              extra_files={"/etc/strongswan.d/zzzz-no-libipsec.conf": NO_LIBIPSEC})
        server.start()
        server.swanctl("--load-all", "--noprompt")
        _, report = doctor_live(server, root, "--offline")
        kernel = findings(report, "system.kernel")[0]
        assert kernel["severity"] == "error" and "kernel-libipsec" in kernel["summary"]
        server.stop()
        # charon gone, and another program holds UDP 500 (as libreswan's pluto or racoon would)
        squatter = server.popen(sys.executable, "-c", "import socket, time; s = socket.socket(socket.AF_INET, "
                                "socket.SOCK_DGRAM); s.bind(('0.0.0.0', 500)); print('bound', flush=True); "
                                "time.sleep(120)", stdout=subprocess.PIPE)
        assert squatter.stdout is not None and squatter.stdout.readline() == b"bound\n"
        rc, report = doctor_live(server, root, "--offline")
        assert rc == 1
        charon = findings(report, "system.charon")[0]
        assert charon["severity"] == "error" and "not running" in charon["summary"]
        ports = {f["summary"]: f["severity"] for f in findings(report, "system.ports")}
        assert any(s.startswith("UDP 500 is taken by python") and f"pid {squatter.pid}" in s and v == "error"
                   for s, v in ports.items()), ports
        assert ports.get("UDP 4500 is free (charon is not running)") == "info"
        squatter.kill()


def test_live_doctor_reads_the_failures_in_the_product_log(roots: Callable[[str], Path], tmp_path: Path) -> None:
    """The whole chain on a live server: a client with the wrong identity fails, `doctor` says why."""
    root = tmp_path / "root"
    shutil.copytree(roots(ANSWERS), root, symlinks=True)
    folder = root / "etc/swan-wizard/clients/alice@example.com"
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=root)
        client = lab.add_peer("client", extra_files=_client_files(folder, client_conf(remote_id=SERVER_ADDR)))
        server.start()
        server.swanctl("--load-all", "--noprompt")
        client.start()
        client.swanctl("--load-all", "--noprompt")
        client.swanctl("--initiate", "--child", "home", "--timeout", "5", check=False)
        server.wait_log("no matching peer config found")
        _, report = doctor_live(server, root, "--offline")
        peer = findings(report, "log.no-peer-config")[0]
        assert peer["severity"] == "warning"
        assert any("/var/log/swan-wizard/charon.log:" in e["where"] and "no matching peer config found" in e["text"]
                   for e in peer["evidence"])
        # the hint ties the log to the configuration: the client asked for the IP, the server is the name
        assert any("'198.18.0.1'" in h and "'vpn.example.com'" in h for h in peer["data"]["hints"])


def _client_files(folder: Path, conf: str) -> dict[str, bytes | str]:
    """A swanctl client with this configuration and the wizard's files for one client (its folder)."""
    return {"/etc/swanctl/swanctl.conf": conf,
            "/etc/swanctl/x509/client.pem": (folder / "cert.pem").read_bytes(),
            "/etc/swanctl/private/client.pem": (folder / "key.pem").read_bytes(),
            "/etc/swanctl/x509ca/ca.pem": (folder / "ca.pem").read_bytes()}


def test_live_doctor_tells_identity_type_and_unserved_family(roots: Callable[[str], Path], tmp_path: Path) -> None:
    """A client sends its e-mail name as an FQDN, then asks for IPv4 and IPv6: doctor reads both against the root."""
    root = tmp_path / "root"
    shutil.copytree(roots(ANSWERS), root, symlinks=True)
    folder = root / "etc/swan-wizard/clients/alice@example.com"

    def connection(name: str, text: str) -> str:
        # client_conf's connection and child are both "home"; the body goes into one connections section
        return text.replace(" home {", f" {name} {{").removeprefix("connections {\n").removesuffix("}\n")

    conf = ("connections {\n" + connection("fqdn", client_conf(local_id="fqdn:alice@example.com"))
            + connection("dual", client_conf(vips="0.0.0.0,::")) + "}\n")
    with open_lab(tmp_path / "lab") as lab:
        server = lab.add_peer("server", root=root)
        client = lab.add_peer("client", extra_files=_client_files(folder, conf))
        server.start()
        server.swanctl("--load-all", "--noprompt")
        client.start()
        client.swanctl("--load-all", "--noprompt")
        client.swanctl("--initiate", "--child", "fqdn", "--timeout", "5", check=False)
        server.wait_log("no trusted ECDSA public key found for 'alice@example.com'")
        client.swanctl("--initiate", "--child", "dual", "--timeout", "10")
        server.wait_log("no virtual IP found for %any6")
        _, report = doctor_live(server, root, "--offline")
        assert not findings(report, "log.no-trusted-key")
        kind = findings(report, "log.identity-type")[0]
        assert kind["severity"] == "warning"
        # the client's certificate on the live system says which type the client must send
        assert any("/etc/swan-wizard/clients/alice@example.com/cert.pem" in h and "must send it as an e-mail" in h
                   for h in kind["data"]["hints"]), kind["data"]["hints"]
        # the wizard's pool is IPv4 only: the IPv6 request the client also made is a note, not a warning
        family = findings(report, "log.vip-family")[0]
        assert family["severity"] == "info" and any("no pool hands out IPv6" in h for h in family["data"]["hints"])
        assert not findings(report, "log.vip-failure")


def test_two_clients_one_identity_replace_each_other(roots: Callable[[str], Path], tmp_path: Path) -> None:
    """uniqueids: the second device with alice's certificate replaces the first (duplicate-ike-sa, real lines)."""
    topology = Topology(links=((Addr("server", "eth0", "198.18.0.1/24"), Addr("client", "eth0", "198.18.0.2/24")),
                               (Addr("server", "eth1", "198.18.2.1/24"), Addr("client2", "eth0", "198.18.2.2/24"))))
    root = roots(ANSWERS)
    folder = root / "etc/swan-wizard/clients/alice@example.com"
    files: dict[str, bytes | str] = {"/etc/swanctl/x509/client.pem": (folder / "cert.pem").read_bytes(),
                                     "/etc/swanctl/private/client.pem": (folder / "key.pem").read_bytes(),
                                     "/etc/swanctl/x509ca/ca.pem": (folder / "ca.pem").read_bytes()}
    with open_lab(tmp_path / "lab", topology) as lab:
        server = lab.add_peer("server", root=root)
        server.start()
        server.swanctl("--load-all", "--noprompt")
        for name, address in (("client", SERVER_ADDR), ("client2", "198.18.2.1")):
            peer = lab.add_peer(name, extra_files={**files, "/etc/swanctl/swanctl.conf":
                                                   client_conf(remote_addr=address)})
            peer.start()
            peer.swanctl("--load-all", "--noprompt")
            peer.swanctl("--initiate", "--child", "home", "--timeout", "10")
        server.wait_log("duplicate IKE_SA for peer")
        log = server.dir / "var/log/swan-wizard/charon.log"
        assert _codes(log) == ["duplicate-ike-sa"]
        if os.environ.get("SWAN_DOCTOR_CAPTURE") == "1":
            _capture(Scenario("duplicate", ("duplicate-ike-sa",), (), (), "a second device with the same "
                              "certificate connects"), log, Path("/nonexistent"))
