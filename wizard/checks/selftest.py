"""`swan-wizard selftest`: prove from the server itself that clients can connect and pass traffic.

For each enabled road-warrior variant a strongSwan client starts in a throwaway network namespace
joined to the server by a veth pair, with credentials issued for this test only: a short-lived
client certificate (never written to the server's directories) and users loaded into the running
charon over vici and unloaded afterwards. It connects, sends data both ways through the tunnel,
and everything it created is removed whatever happens.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import credentials
from wizard.model.answers import Answers
from wizard.model.secrets import SecretSource, generate_password
from wizard.pki import encode, issue, keys
from wizard.pki.keytypes import KeyType
from wizard.render.confsyntax import render_settings
from wizard.render.connections import proposals_for
from wizard.system import tcpprobe
from wizard.system.charon import CharonError, ThrowawayCharon, binds_under, charon_binary
from wizard.system.netns import BINDS, Link, NetnsError, prepare_etc
from wizard.system.netns import run as ns_run
from wizard.system.vici import CharonUnreachable
from wizard.system.vici import session as vici_session

CLIENT_IP, SERVER_IP = "198.18.255.254", "198.18.255.253"  # the test link, inside the benchmark range
# Lines that say why a connection failed (shared reference §6); shown as the evidence of a failure.
REASONS = ("AUTHENTICATION_FAILED", "no trusted", "no issuer certificate", "constraint check failed",
           "NO_PROPOSAL_CHOSEN", "no acceptable proposal", "no matching peer config", "EAP", "XAuth",
           "TS_UNACCEPTABLE", "peer not responding", "no private key", "unable to install", "certificate",
           "INTERNAL_ADDRESS_FAILURE", "failed")

Status = Literal["pass", "fail", "skipped"]


@dataclass(frozen=True)
class Result:
    variant: str
    status: Status
    detail: str
    evidence: tuple[str, ...] = ()


@dataclass
class _Case:
    variant: str
    conn: str
    tree: dict[str, Any]
    secrets: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    server_shared: list[dict[str, Any]] = field(default_factory=list)


def _client_cert(answers: Answers, root: Root, source: SecretSource, name: str) -> tuple[bytes, bytes]:
    ca_key = encode.load_key_pem(root(paths.CA_KEY).read_bytes(),
                                 source.resolve(answers.ca.passphrase, "ca.passphrase"))
    ca_cert = encode.load_cert_pem(root(paths.CA_CERT).read_bytes())
    key = keys.generate_key(KeyType.ECDSA_P256)
    cert = issue.issue_client(ca_key, ca_cert, key.public_key(), name, 1)  # a day at most; never stored
    return encode.key_to_pem(key), encode.cert_to_pem(cert)


def _base_conn(answers: Answers, version: int, ts: list[str]) -> dict[str, Any]:
    return {"version": version, "remote_addrs": SERVER_IP, "vips": "0.0.0.0",
            "proposals": list(proposals_for(answers, "ike", version)),
            "remote": {"auth": "pubkey", "id": answers.server.address}}


def _child(answers: Answers, version: int, ts: list[str]) -> dict[str, Any]:
    return {"remote_ts": ts, "esp_proposals": list(proposals_for(answers, "esp", version))}


_RADIUS_SKIP = ("the users live in RADIUS (backend: radius): name a RADIUS test user with --radius-user "
                "(password in SWAN_WIZARD_RADIUS_PASSWORD); `swan-wizard doctor` reads charon's RADIUS lines")


@dataclass(frozen=True)
class RadiusLogin:
    """A test user the admin keeps in RADIUS for the self-test (its password never on a command line)."""

    user: str
    password: str


def _login(backend: str, token: str, radius: RadiusLogin | None) -> tuple[str, str, bool] | None:
    """(user, password, load it into charon) for a password variant, or None when it cannot be tested."""
    if backend == "radius":
        # charon asks RADIUS, not its own secrets: only a user RADIUS knows can log in.
        return (radius.user, radius.password, False) if radius is not None else None
    return f"selftest-{token}", generate_password(), True


def cases(answers: Answers, root: Root, source: SecretSource, token: str,
          radius: RadiusLogin | None = None) -> tuple[list[_Case], list[Result]]:
    """What to test per enabled variant, and the variants this test cannot cover (with the reason)."""
    v = answers.variants
    out: list[_Case] = []
    skipped: list[Result] = []
    if v.ikev2_cert is not None:
        name = f"selftest-{token}@selftest.invalid"
        key_pem, cert_pem = _client_cert(answers, root, source, name)
        conn = _base_conn(answers, 2, v.ikev2_cert.local_ts)
        conn["local"] = {"auth": "pubkey", "certs": "st-cert.pem", "id": name}
        conn["children"] = {"st-cert": _child(answers, 2, v.ikev2_cert.local_ts)}
        out.append(_Case("ikev2-cert", "st-cert", conn,
                         files={"x509/st-cert.pem": cert_pem, "private/st-cert.key": key_pem}))
    eap = _login(v.ikev2_eap.backend, token, radius) if v.ikev2_eap is not None else None
    if v.ikev2_eap is not None and eap is None:
        skipped.append(Result("ikev2-eap", "skipped", _RADIUS_SKIP))
    elif v.ikev2_eap is not None and v.ikev2_eap.backend == "radius" and answers.radius is not None \
            and answers.radius.eap_method == "tls":
        skipped.append(Result("ikev2-eap", "skipped", "radius.eap_method: tls: the test client has no certificate "
                              "the RADIUS server trusts"))
    elif v.ikev2_eap is not None and eap is not None:
        user, password, load = eap
        conn = _base_conn(answers, 2, v.ikev2_eap.local_ts)
        conn["local"] = {"auth": "eap-mschapv2", "eap_id": user}
        conn["children"] = {"st-eap": _child(answers, 2, v.ikev2_eap.local_ts)}
        out.append(_Case("ikev2-eap", "st-eap", conn, secrets={"eap-st": {"id": user, "secret": password}},
                         server_shared=[{"id": f"swan-selftest-eap-{token}", "type": "EAP", "data": password,
                                         "owners": [user]}] if load else []))
    xauth = _login(v.ikev1_xauth.backend, token, radius) if v.ikev1_xauth is not None else None
    if v.ikev1_xauth is not None and xauth is None:
        skipped.append(Result("ikev1-xauth", "skipped", _RADIUS_SKIP))
    elif v.ikev1_xauth is not None and xauth is not None:
        x = v.ikev1_xauth
        user, password, load = xauth
        conn = _base_conn(answers, 1, x.local_ts)
        conn["children"] = {"st-xauth": _child(answers, 1, x.local_ts[:1])}
        case = _Case("ikev1-xauth", "st-xauth", conn,
                     secrets={"xauth-st": {"id": user, "secret": password}},
                     server_shared=[{"id": f"swan-selftest-xauth-{token}", "type": "XAUTH", "data": password,
                                     "owners": [user]}] if load else [])
        if x.auth == "cert":
            name = f"selftest-x-{token}@selftest.invalid"
            key_pem, cert_pem = _client_cert(answers, root, source, name)
            conn["local"] = {"auth": "pubkey", "certs": "st-xauth.pem", "id": name}
            case.files = {"x509/st-xauth.pem": cert_pem, "private/st-xauth.key": key_pem}
        else:
            psk = credentials.resolve(answers, root, source)[credentials.secret_key("xauth")].text
            conn["local"] = {"auth": "psk"}
            conn["remote"] = {"auth": "psk", "id": answers.server.address}
            case.secrets["ike-st"] = {"secret": psk}
        conn["local-xauth"] = {"auth": "xauth", "xauth_id": user}
        out.append(case)
    if v.transport is not None:
        skipped.append(Result("transport", "skipped", "host-to-host peers are other machines: check them "
                              "with `swanctl --list-sas` on both ends"))
    if v.l2tp is not None:
        skipped.append(Result("l2tp", "skipped", "L2TP needs a PPP client; the IPsec side is checked by doctor"))
    return out, skipped


def _client_conf(items: list[_Case]) -> bytes:
    tree: dict[str, Any] = {"connections": {c.conn: c.tree for c in items}}
    merged = {k: v for c in items for k, v in c.secrets.items()}
    if merged:
        tree["secrets"] = merged
    return render_settings(tree).encode()


def _settings(userspace_esp: bool, log: Path) -> str:
    plugins: dict[str, Any] = {"resolve": {"load": False}}
    if userspace_esp:
        plugins["kernel-libipsec"] = {"load": True}
    return render_settings({"charon": {
        "filelog": {"selftest": {"path": str(log), "default": 1, "ike": 2, "cfg": 2, "time_format": "%T",
                                 "ike_name": True, "flush_line": True}},
        "plugins": plugins}})


def _exchange(server_netns: str | None, client: ThrowawayCharon, target: str, vip: str) -> str:
    """64 KiB both ways through the tunnel; returns the source address the server saw (must be the VIP)."""
    listener = ["ip", "netns", "exec", server_netns] if server_netns else []
    assert client.netns is not None
    try:
        return tcpprobe.exchange(listener, target, ["ip", "netns", "exec", client.netns], source_addr=vip,
                                 size=65536)
    except tcpprobe.TcpProbeError as exc:
        raise NetnsError(f"no data through the tunnel: {exc}") from None


def _target(server_netns: str | None, local_ts: list[str]) -> str | None:
    """An address of the server inside the tunnel's networks (not the test link's own end)."""
    proc = ns_run(["ip", "-o", "-4", "addr", "show"], netns=server_netns, check=False)
    nets = [ipaddress.ip_network(t) for t in local_ts if ":" not in t]
    for line in proc.stdout.splitlines():
        ip = ipaddress.ip_interface(line.split()[3]).ip
        if ip.is_loopback or str(ip) == SERVER_IP:
            continue
        if any(ip in n for n in nets):
            return str(ip)
    return None


def _client_log(client: ThrowawayCharon) -> Path:
    return client.workdir / "var/log/charon.log"  # /var/log/charon.log inside: see _settings in run()


def _evidence(client: ThrowawayCharon, server_log: Path | None, since: int, conn: str) -> tuple[str, ...]:
    lines: list[str] = []
    if _client_log(client).is_file():
        lines += [f"client: {ln}" for ln in _client_log(client).read_text(errors="replace").splitlines()
                  if conn in ln and any(r in ln for r in REASONS)]
    if server_log is not None and server_log.is_file():
        with server_log.open("rb") as fh:
            fh.seek(since)
            tail = fh.read().decode(errors="replace").splitlines()
        lines += [f"server: {ln}" for ln in tail if any(r in ln for r in REASONS)]
    return tuple(dict.fromkeys(lines))[-12:]


def unmet_needs(charon_path: str | None) -> str:
    """What this machine lacks to run the client side ("" when nothing)."""
    lacking = [what for what, ok in (("root", os.geteuid() == 0), ("iproute2 (ip)", shutil.which("ip") is not None),
                                     ("charon", charon_path is not None)) if not ok]
    return ", ".join(lacking)


def run(answers: Answers, root: Root, source: SecretSource, *, server_netns: str | None = None,
        server_vici: str = str(paths.VICI_SOCKET), server_log: Path | None = None, userspace_esp: bool = True,
        report: Callable[[str], None] | None = None, radius: RadiusLogin | None = None) -> list[Result]:
    say = report or (lambda _m: None)
    token = secrets.token_hex(3)
    items, results = cases(answers, root, source, token, radius)
    if not items:
        return results
    missing = unmet_needs(charon_binary())
    if missing:
        # A check that could not run is not a pass: the caller's exit status must say so.
        return results + [Result(c.variant, "fail", f"could not run: needs {missing}") for c in items]
    log = server_log or root(paths.CHARON_LOG)
    since = log.stat().st_size if log.is_file() else 0
    workdir = Path(tempfile.mkdtemp(prefix="swan-selftest-"))
    link: Link | None = None
    client: ThrowawayCharon | None = None
    loaded: list[str] = []
    try:
        _load_logins(server_vici, [shared for c in items for shared in c.server_shared], loaded)
        link = Link.create(server_netns, CLIENT_IP, SERVER_IP)
        files = {"conf.d/selftest.conf": _client_conf(items),
                 "x509ca/ca.pem": root(paths.CA_CERT).read_bytes()}
        for c in items:
            files.update(c.files)
        prepare_etc(workdir, files, _settings(userspace_esp, Path("/var/log/charon.log")))
        client = ThrowawayCharon(workdir, binds_under(workdir, BINDS), netns=link.netns)
        client.start()
        loaded_conf = client.swanctl("--load-all", "--noprompt")
        if loaded_conf.returncode != 0:
            raise NetnsError(f"the test client rejected its configuration: {loaded_conf.stderr.strip()}")
        for c in items:
            say(f"{c.variant}: connecting")
            results.append(_one(c, client, server_netns, log, since, answers))
    except (NetnsError, CharonError, CharonUnreachable, OSError) as exc:
        done = {r.variant for r in results}
        results += [Result(c.variant, "fail", f"could not run the test: {exc}") for c in items
                    if c.variant not in done]
    finally:
        if client is not None:
            client.stop()
        if link is not None:
            link.close()
        if loaded:
            left = _unload_logins(server_vici, loaded)
            if left is not None:
                results.append(left)
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def _load_logins(server_vici: str, logins: list[dict[str, Any]], loaded: list[str]) -> None:
    """The test users' secrets into the running charon; ``loaded`` names each one as soon as it is in."""
    from vici.exception import CommandException

    with vici_session(server_vici) as server:
        for shared in logins:
            try:
                server.load_shared(shared)
            except CommandException as exc:
                raise NetnsError(f"charon refused the test login {shared['id']}: {exc}") from None
            loaded.append(shared["id"])


def _unload_logins(server_vici: str, loaded: list[str]) -> Result | None:
    """Take the test logins out of the running charon again. One left behind is a working login nobody
    knows about: say so, as a failed result (never quietly), with the way to remove it."""
    from vici.exception import CommandException

    left, why = list(loaded), ""
    try:
        with vici_session(server_vici) as server:
            for ident in loaded:
                try:
                    server.unload_shared({"id": ident})
                    left.remove(ident)
                except CommandException as exc:
                    why = str(exc)
    except CharonUnreachable as exc:
        why = str(exc)
    if not left:
        return None
    return Result("cleanup", "fail", f"the test logins {', '.join(left)} could not be removed from the running "
                  f"charon ({why}); while it runs they still work: remove them with `swanctl --load-creds --clear`")


def _one(case: _Case, client: ThrowawayCharon, server_netns: str | None, server_log: Path, since: int,
         answers: Answers) -> Result:
    child = next(iter(case.tree["children"]))
    up = client.swanctl("--initiate", "--child", child, "--timeout", "20", timeout=40)
    if up.returncode != 0:
        return Result(case.variant, "fail", "the tunnel did not come up",
                      _evidence(client, server_log, since, case.conn))
    try:
        vip = _virtual_ip(client, case.conn)
        remote_ts = case.tree["children"][child]["remote_ts"]
        target = _target(server_netns, remote_ts)
        if vip is None:
            return Result(case.variant, "fail", "the tunnel came up without a virtual IP",
                          _evidence(client, server_log, since, case.conn))
        if target is None:
            return Result(case.variant, "pass", f"tunnel up with virtual IP {vip}; no server address lies inside "
                          f"{', '.join(remote_ts)}, so no data was sent")
        seen = _exchange(server_netns, client, target, vip)
        if seen != vip:
            return Result(case.variant, "fail", f"data arrived from {seen}, not from the tunnel address {vip}")
        return Result(case.variant, "pass", f"tunnel up, virtual IP {vip}, 64 KiB each way to {target} "
                      f"({datetime.now(UTC):%H:%M:%S} UTC)")
    except NetnsError as exc:
        return Result(case.variant, "fail", str(exc), _evidence(client, server_log, since, case.conn))
    finally:
        client.swanctl("--terminate", "--ike", case.conn, "--timeout", "10", timeout=20)


def _virtual_ip(client: ThrowawayCharon, conn: str) -> str | None:
    with vici_session(client.vici_path) as session:
        vips = [v.decode() for sa in session.list_sas({"ike": conn}) for ike in sa.values()
                for v in ike.get("local-vips", [])]
    return vips[0] if vips else None
