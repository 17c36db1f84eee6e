"""EAP users in RADIUS, with real daemons: FreeRADIUS, the generated server, a strongSwan EAP-MSCHAPv2 client.

Each RADIUS server runs FreeRADIUS (Debian's ``freeradius``) in a network namespace of its own and a private
mount namespace (its own resolv.conf), on a copy of the package's configuration with a users file, an
EAP-MSCHAPv2-only eap module, the detail accounting log, and as its clients.conf exactly the entry the wizard
wrote for that server (``radius.client_snippet``). The gateway reaches both RADIUS servers from its public
address (a route with that source), the address the entry names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lab import (
    SERVER_ADDR,
    SERVER_LAN_ADDR,
    Addr,
    Lab,
    LabError,
    Node,
    Peer,
    Route,
    Topology,
    assert_tunnel_carries_tcp,
    open_lab,
)
from variants_helpers import (
    IKEV1_CLIENT_ESP,
    IKEV1_CLIENT_IKE,
    POOL,
    apply_cli,
    ca_pem,
    conf,
    initiate,
    read_secret,
    road_warrior,
    start_client,
    start_server,
)

pytestmark = pytest.mark.lab

CLIENT_ADDR = "198.18.0.2"
RADIUS = {"radius1": ("198.18.2.1", "198.18.2.254", "eth1"), "radius2": ("198.18.3.1", "198.18.3.254", "eth2")}
USER, PASSWORD = "alice", "alice-radius-pw-7"
SECRETS = {"radius1": "first-shared-secret", "radius2": "second-shared-secret"}
FREERADIUS = Path("/usr/sbin/freeradius")
PACKAGE_CONF = Path("/etc/freeradius/3.0")
REPO = Path(__file__).resolve().parents[1]

TOPOLOGY = Topology(
    links=(
        (Addr("server", "eth0", f"{SERVER_ADDR}/24"), Addr("client", "eth0", f"{CLIENT_ADDR}/24")),
        *((Addr("server", dev, f"{gw}/24"), Addr(name, "eth0", f"{ip}/24")) for name, (ip, gw, dev) in RADIUS.items()),
    ),
    extra_addrs=(Addr("server", "lo", f"{SERVER_LAN_ADDR}/32"),),
    routes=tuple(Route(name, "default", gw) for name, (_ip, gw, _dev) in RADIUS.items()),
)


EAP_RADIUS = "  ikev2-eap: {backend: radius}\n"


def answers(servers: list[str], variants: str = EAP_RADIUS, acct_port: int = 1813, eap_method: str = "mschapv2",
            clients: str = "[]") -> str:
    entries = ", ".join(f"{{address: {RADIUS[name][0]}, secret: {{file: {name}.secret}}, acct_port: {acct_port}}}"
                        for name in servers)
    return f"""\
version: 1
server: {{address: {SERVER_ADDR}}}
ca: {{key: ecdsa-p256}}
host: {{key: ecdsa-p256}}
clients: {clients}
variants:
{variants}pool: {{addresses: {POOL}, dns: [{SERVER_LAN_ADDR}]}}
radius:
  servers: [{entries}]
  nas_identifier: gw-lab
  accounting: true
  eap_method: {eap_method}
  client_snippet: true
"""


def require_freeradius() -> None:
    if not FREERADIUS.is_file() or not PACKAGE_CONF.is_dir():
        message = "FreeRADIUS is not installed (Debian package freeradius; packaging/bootstrap installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


EAP_MSCHAPV2 = ("eap {\n default_eap_type = mschapv2\n timer_expire = 60\n ignore_unknown_eap_types = no\n"
                " max_sessions = ${max_requests}\n mschapv2 {\n }\n}\n")


def eap_tls(cert: Path, key: Path, ca: Path) -> str:
    """FreeRADIUS's eap module doing EAP-TLS: its server certificate and the CA its clients' chain to."""
    return (f"eap {{\n default_eap_type = tls\n timer_expire = 60\n ignore_unknown_eap_types = no\n"
            f" max_sessions = ${{max_requests}}\n tls-config tls-common {{\n  private_key_file = {key}\n"
            f"  certificate_file = {cert}\n  ca_file = {ca}\n  cipher_list = \"DEFAULT\"\n"
            f"  tls_min_version = \"1.2\"\n  tls_max_version = \"1.2\"\n }}\n tls {{\n  tls = tls-common\n }}\n}}\n")


def freeradius_conf(dest: Path, clients_entry: str) -> Path:
    """A private FreeRADIUS configuration: the package's, with its own paths, users, clients and EAP."""
    raddb = dest / "raddb"
    shutil.copytree(PACKAGE_CONF, raddb, symlinks=True)
    main = (raddb / "radiusd.conf").read_text()
    main = re.sub(r"(?m)^raddbdir = .*$", f"raddbdir = {raddb}", main)
    main = re.sub(r"(?m)^logdir = .*$", f"logdir = {dest / 'log'}", main)
    main = re.sub(r"(?m)^run_dir = .*$", f"run_dir = {dest / 'run'}", main)
    main = re.sub(r"(?m)^\s*(user|group) = freerad$", "", main)  # runs as root inside the lab's namespaces
    main = re.sub(r"(?m)^(\s*)auth = no$", r"\1auth = yes", main)  # "Login OK" / "Login incorrect" lines
    (raddb / "radiusd.conf").write_text(main)
    (dest / "log").mkdir()
    (dest / "run").mkdir()
    (raddb / "clients.conf").write_text(clients_entry)
    authorize = raddb / "mods-config/files/authorize"
    authorize.write_text(f'{USER} Cleartext-Password := "{PASSWORD}"\n' + authorize.read_text())
    # One EAP method per lab server: the package's module wants the snakeoil certificates for its TLS methods.
    (raddb / "mods-enabled/eap").unlink()
    (raddb / "mods-enabled/eap").write_text(EAP_MSCHAPV2)
    (raddb / "sites-enabled/inner-tunnel").unlink()
    return raddb


class FreeRadius:
    """FreeRADIUS in the node's network namespace and a private mount namespace, in debug mode (-X)."""

    def __init__(self, lab: Lab, node: Node, workdir: Path, clients_entry: str) -> None:
        self.lab, self.node, self.dir = lab, node, workdir
        workdir.mkdir(parents=True)
        self.raddb = freeradius_conf(workdir, clients_entry)
        (workdir / "resolv.conf").write_text("")
        self.logfile = workdir / "freeradius.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        script = (f"mount --bind {self.dir / 'resolv.conf'} /etc/resolv.conf && "
                  f"exec {FREERADIUS} -X -d {self.raddb}")
        with self.logfile.open("ab") as out:
            self.proc = self.node.popen("unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                                        stdout=out, stderr=subprocess.STDOUT)
        self.lab.wait_for(lambda: "Ready to process requests" in self.log() or self.proc is None
                          or self.proc.poll() is not None, 20, f"FreeRADIUS on {self.node.name}")
        if "Ready to process requests" not in self.log():
            raise LabError(f"FreeRADIUS on {self.node.name} did not start:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def detail(self) -> str:
        """Every accounting record FreeRADIUS wrote (the detail module: radacct/<client ip>/detail-<date>)."""
        return "".join(p.read_text() for p in sorted((self.dir / "log/radacct").rglob("detail-*")))


def lines(text: str, pattern: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(pattern, line)]


@pytest.fixture
def radius_lab(tmp_path: Path):
    require_freeradius()
    with open_lab(tmp_path / "lab", TOPOLOGY) as lab:
        server_node = lab.node("server")
        for _name, (ip, _gw, dev) in RADIUS.items():
            # The gateway's requests leave from its public address, the one its clients.conf entry names.
            server_node.run("ip", "route", "replace", f"{ip.rsplit('.', 1)[0]}.0/24", "dev", dev, "src", SERVER_ADDR)
        yield lab


def setup(lab: Lab, tmp_path: Path, servers: list[str], variants: str = EAP_RADIUS,
          **options: Any) -> tuple[Path, dict[str, FreeRadius]]:
    work = tmp_path / "work"
    work.mkdir()
    for name in servers:
        (work / f"{name}.secret").write_text(SECRETS[name] + "\n")
    root = apply_cli(work, answers(servers, variants, **options))
    radius = {}
    for name in servers:
        entry = (root / f"etc/swan-wizard/radius/clients.{RADIUS[name][0]}.conf").read_text()
        assert SECRETS[name] in entry
        radius[name] = FreeRadius(lab, lab.node(name), tmp_path / name, entry)
    return root, radius


def client_conf(password: str) -> str:
    conn = road_warrior(2, {"auth": "eap-mschapv2", "eap_id": USER}, child="eap")
    return conf({"eap": conn}, {"eap-alice": {"id": USER, "secret": password}})


def eap_client(lab: Lab, root: Path, password: str) -> Peer:
    """A strongSwan client holding what a RADIUS user has: the CA, a user name and a password."""
    return start_client(lab, {"/etc/swanctl/x509ca/ca.pem": ca_pem(root),
                              "/etc/swanctl/swanctl.conf": client_conf(password)})


def test_radius_user_connects_wrong_password_refused_accounting_recorded(radius_lab: Lab, tmp_path: Path) -> None:
    root, radius = setup(radius_lab, tmp_path, ["radius1"])
    settings = root / "etc/strongswan.d/swan-wizard-radius.conf"
    assert settings.stat().st_mode & 0o777 == 0o600 and SECRETS["radius1"] in settings.read_text()
    radius["radius1"].start()
    server, _ = start_server(radius_lab, root, "swanctl", ("IPSec-IKEv2-EAP",))
    client = eap_client(radius_lab, root, "not-" + PASSWORD)

    # A wrong password: FreeRADIUS rejects, charon tells the client.
    refused = initiate(client, "eap")
    assert refused.returncode != 0
    server.wait_log("RADIUS authentication of 'alice' failed")
    assert lines(radius["radius1"].log(), r"Login incorrect.*\[alice")
    assert not lines(server.log(), r"authentication of 'alice' with EAP successful")

    # The right one: connects and passes traffic.
    (client.dir / "etc/swanctl/swanctl.conf").write_text(client_conf(PASSWORD))
    client.swanctl("--load-creds", "--clear", "--noprompt")
    done = initiate(client, "eap")
    assert done.returncode == 0, done.stdout + done.stderr + server.log()[-4000:]
    client.wait_child_installed("eap")
    assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)
    assert lines(radius["radius1"].log(), r"Login OK: \[alice")
    assert lines(server.log(), r"RADIUS authentication of 'alice' successful")

    radius_lab.wait_for(lambda: "Acct-Status-Type = Start" in radius["radius1"].detail(), 10, "accounting Start")
    client.swanctl("--terminate", "--ike", "eap", "--timeout", "10")
    radius_lab.wait_for(lambda: "Acct-Status-Type = Stop" in radius["radius1"].detail(), 10, "accounting Stop")
    detail = radius["radius1"].detail()
    assert 'User-Name = "alice"' in detail and 'NAS-Identifier = "gw-lab"' in detail, detail


def test_first_radius_server_down_second_one_answers(radius_lab: Lab, tmp_path: Path) -> None:
    root, radius = setup(radius_lab, tmp_path, ["radius1", "radius2"])
    radius["radius2"].start()  # radius1 stays stopped: its port answers with ICMP port unreachable
    server, _ = start_server(radius_lab, root, "swanctl", ("IPSec-IKEv2-EAP",))
    client = eap_client(radius_lab, root, PASSWORD)
    # charon asks one server per login: the login that finds the preferred server stopped fails and marks it
    # unreachable; the next one goes to the second server. A client retries as users do.
    attempts = [initiate(client, "eap").returncode]
    while attempts[-1] != 0 and len(attempts) < 3:
        attempts.append(initiate(client, "eap").returncode)
    assert attempts[-1] == 0, (attempts, server.log()[-4000:])
    client.wait_child_installed("eap")
    log = server.log()
    assert lines(log, r"sending RADIUS Access-Request to server 'radius-1'")
    assert lines(log, r"receiving RADIUS message failed: Connection refused")
    assert lines(log, r"received RADIUS Access-Accept from server 'radius-2'")
    assert lines(radius["radius2"].log(), r"Login OK: \[alice")
    assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)


def test_wrong_shared_secret(radius_lab: Lab, tmp_path: Path) -> None:
    root, radius = setup(radius_lab, tmp_path, ["radius1"])
    entry = (radius["radius1"].raddb / "clients.conf").read_text()
    (radius["radius1"].raddb / "clients.conf").write_text(entry.replace(SECRETS["radius1"], "another-secret"))
    radius["radius1"].start()
    server, _ = start_server(radius_lab, root, "swanctl", ("IPSec-IKEv2-EAP",))
    client = eap_client(radius_lab, root, PASSWORD)
    assert initiate(client, "eap", timeout=60).returncode != 0
    # FreeRADIUS drops what it cannot authenticate, so charon sees the same as an unreachable server: silence.
    assert lines(radius["radius1"].log(), r"invalid Message-Authenticator!  \(Shared secret is incorrect\.\)")
    assert lines(server.log(), r"RADIUS Access-Request timed out after 4 attempts")
    assert not lines(server.log(), r"authentication of '198\.18\.0\.2' with EAP successful")


def test_refused_accounting_closes_the_session(radius_lab: Lab, tmp_path: Path) -> None:
    root, radius = setup(radius_lab, tmp_path, ["radius1"], acct_port=1814)  # nothing listens there
    radius["radius1"].start()
    server, _ = start_server(radius_lab, root, "swanctl", ("IPSec-IKEv2-EAP",))
    client = eap_client(radius_lab, root, PASSWORD)
    initiate(client, "eap")  # authenticated by RADIUS, then the accounting Start is refused
    server.wait_log("deleting IKE_SA after RADIUS timeout")
    log = server.log()
    assert lines(log, r"RADIUS authentication of 'alice' successful")
    assert lines(log, r"sending RADIUS Accounting-Request to server 'radius-1'")
    radius_lab.wait_for(lambda: not server.list_sas(), 10, "the session closed")


def xauth_conf(root: Path, password: str) -> str:
    conn = road_warrior(1, {"auth": "psk"}, "psk", xauth_id=USER, ike=IKEV1_CLIENT_IKE, esp=IKEV1_CLIENT_ESP,
                        child="xauth")
    return conf({"xauth": conn}, {"ike-group": {"secret": read_secret(root, "xauth.psk")},
                                  "xauth-alice": {"id": USER, "secret": password}})


def test_ikev1_xauth_users_in_radius(radius_lab: Lab, tmp_path: Path) -> None:
    root, radius = setup(radius_lab, tmp_path, ["radius1"], "  ikev1-xauth: {auth: psk, backend: radius}\n")
    radius["radius1"].start()
    server, _ = start_server(radius_lab, root, "swanctl", ("CiscoIPSec",))
    client = start_client(radius_lab, {"/etc/swanctl/swanctl.conf": xauth_conf(root, "not-" + PASSWORD)})
    assert initiate(client, "xauth").returncode != 0
    assert lines(radius["radius1"].log(), r"Login incorrect.*\[alice")
    (client.dir / "etc/swanctl/swanctl.conf").write_text(xauth_conf(root, PASSWORD))
    client.swanctl("--load-creds", "--clear", "--noprompt")
    done = initiate(client, "xauth")
    assert done.returncode == 0, done.stdout + done.stderr + server.log()[-4000:]
    client.wait_child_installed("xauth")
    assert lines(radius["radius1"].log(), r"Login OK: \[alice")
    assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)
    log = server.log()
    assert lines(log, r"RADIUS authentication of 'alice' failed") and lines(log, r"received RADIUS Access-Accept")
    assert lines(log, r"XAuth authentication of 'alice' successful")


def test_eap_tls_through_radius(radius_lab: Lab, tmp_path: Path) -> None:
    """eap_method: tls: the gateway relays EAP-TLS as it is; FreeRADIUS checks the client's certificate."""
    # A plain name: the package's realm module would proxy "user@example.com" to the example.com realm.
    root, radius = setup(radius_lab, tmp_path, ["radius1"], eap_method="tls",
                         clients="[{name: carol, key: ecdsa-p256}]")
    # FreeRADIUS presents the gateway's certificate (it names what the client dials) and trusts the wizard's CA.
    etc = root / "etc"
    (radius["radius1"].raddb / "mods-enabled/eap").write_text(eap_tls(
        etc / "swanctl/x509/vpn-host.pem", etc / "swanctl/private/vpn-host.key", etc / "swan-wizard/ca/ca.pem"))
    radius["radius1"].start()
    server, _ = start_server(radius_lab, root, "swanctl", ("IPSec-IKEv2-EAP",))
    folder = etc / "swan-wizard/clients/carol"
    conn = road_warrior(2, {"auth": "eap-tls", "certs": "carol.pem", "id": "carol"}, child="eap")
    client = start_client(radius_lab, {
        "/etc/swanctl/x509ca/ca.pem": ca_pem(root), "/etc/swanctl/x509/carol.pem": (folder / "cert.pem").read_bytes(),
        "/etc/swanctl/private/carol.key": (folder / "key.pem").read_bytes(),
        "/etc/swanctl/swanctl.conf": conf({"eap": conn})})
    done = initiate(client, "eap")
    assert done.returncode == 0, done.stdout + done.stderr + server.log()[-4000:] + radius["radius1"].log()[-4000:]
    client.wait_child_installed("eap")
    assert lines(server.log(), r"RADIUS authentication of 'carol' successful")
    assert lines(radius["radius1"].log(), r"Login OK: \[carol")
    assert_tunnel_carries_tcp(client, server, server_addr=SERVER_LAN_ADDR)


def test_selftest_logs_in_as_the_radius_test_user(radius_lab: Lab, tmp_path: Path) -> None:
    """`swan-wizard selftest --radius-user`: both password variants through RADIUS, nothing loaded into charon."""
    variants = "  ikev2-eap: {backend: radius}\n  ikev1-xauth: {auth: psk, backend: radius}\n"
    root, radius = setup(radius_lab, tmp_path, ["radius1"], variants)
    radius["radius1"].start()
    server, _ = start_server(radius_lab, root, "swanctl", ("IPSec-IKEv2-EAP", "CiscoIPSec"))
    answers_path = tmp_path / "work/root-answers.yaml"
    command = [sys.executable, "-m", "wizard.cli", "selftest", str(answers_path), "--root", str(root), "--json",
               "--server-netns", server.netns, "--vici", server.vici_path,
               "--server-log", str(server.dir / "var/log/swan-wizard/charon.log"), "--radius-user", USER]
    shared_before = server.vici().get_shared()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "SWAN_WIZARD_RADIUS_PASSWORD": PASSWORD})
    results = {r["variant"]: r for r in json.loads(proc.stdout)}
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {v: r["status"] for v, r in results.items()} == {"ikev2-eap": "pass", "ikev1-xauth": "pass"}, results
    assert len(lines(radius["radius1"].log(), r"Login OK: \[alice")) == 2
    assert server.vici().get_shared() == shared_before  # no test login was loaded into charon
    # without the password the command line is refused, naming the variable
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "SWAN_WIZARD_RADIUS_PASSWORD"})
    assert proc.returncode == 64 and "SWAN_WIZARD_RADIUS_PASSWORD" in proc.stderr, proc.stderr
