"""Helpers for the tests whose client is not strongSwan's charon: Libreswan's pluto and NetworkManager.

Their servers run as in the other lab tests (tests/lab.py, on the files `swan-wizard apply --root` wrote); the
clients run here, each in the lab's client network namespace and a mount namespace of its own, so nothing
they write (resolv.conf, NetworkManager's state, D-Bus sockets) reaches the host.
"""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab import CLIENT_ADDR, SERVER_ADDR, SERVER_LAN_ADDR, Lab, Node

REPO = Path(__file__).resolve().parents[1]
POOL = "198.19.128.0/24"
CLIENT = "alice@example.com"
EAP_USER = "bob"
# Where packaging/bootstrap unpacks Libreswan (it conflicts with strongswan-starter: never installed).
LIBRESWAN = Path(os.environ.get("SWAN_WIZARD_LIBRESWAN", "/var/cache/swan-wizard/libreswan"))
LIBRESWAN_BIN = LIBRESWAN / "usr/libexec/ipsec"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require(*needs: tuple[str, bool]) -> None:
    """Skip when a prerequisite is missing, but fail under CI=true: a skipped CI test proves nothing."""
    import pytest

    missing = [what for what, ok in needs if not ok]
    if not missing:
        return
    message = "missing: " + "; ".join(missing) + " (packaging/bootstrap test installs them)"
    if _ci():
        pytest.fail(f"{message} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(message)


def tool(name: str) -> tuple[str, bool]:
    return (f"{name} not in PATH", shutil.which(name) is not None)


def path(p: Path) -> tuple[str, bool]:
    return (f"{p} missing", p.exists())


def wizard(*argv: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", *argv], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0, f"swan-wizard {' '.join(argv)}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def answers_text(layout: str, *, eap: bool = False, extra: str = "") -> str:
    variants = "  ikev2-cert: {}\n" + (f"  ikev2-eap: {{users: [{{name: {EAP_USER}}}]}}\n" if eap else "")
    return f"""\
version: 1
layout: {layout}
server: {{address: {SERVER_ADDR}}}
ca: {{key: rsa-2048}}
host: {{key: rsa-2048}}
clients:
  - {{name: {CLIENT}, key: rsa-2048}}
variants:
{variants}pool: {{addresses: {POOL}, dns: [{SERVER_LAN_ADDR}]}}
{extra}"""


@dataclass
class Product:
    """A server written by `swan-wizard apply --root` from answers, and its client folders."""

    answers: Path
    root: Path

    @classmethod
    def apply(cls, workdir: Path, text: str) -> Product:
        workdir.mkdir(parents=True, exist_ok=True)
        answers = workdir / "answers.yaml"
        answers.write_text(text)
        root = workdir / "root"
        wizard("apply", str(answers), "--root", str(root))
        return cls(answers, root)

    def client_dir(self, name: str) -> Path:
        return self.root / "etc/swan-wizard/clients" / name

    def ca_common_name(self) -> str:
        """The CA's CN: the friendly name the .p12 gives the CA, hence its NSS nickname after pk12util."""
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cert = x509.load_pem_x509_certificate((self.root / "etc/swan-wizard/ca/ca.pem").read_bytes())
        return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    def p12_password(self, name: str) -> str:
        return (self.client_dir(name) / "p12-password").read_text().splitlines()[0]


def start_server(lab: Lab, product: Product, layout: str) -> None:
    server = lab.add_peer("server", root=product.root)
    if layout == "ipsec":
        server.start(daemon=("/usr/lib/ipsec/starter", "--nofork"))
        server.wait_log("IPSec-IKEv2")
    else:
        server.start()
        loaded = server.swanctl("--load-all", "--noprompt")
        assert "failed" not in loaded.stdout.lower(), loaded.stdout


# ---------------------------------------------------------------------------------------------------
# cipher suites read back from the Windows and Apple profiles, in Libreswan's words

_WINDOWS_ENC = {"GCMAES256": "aes_gcm256", "GCMAES192": "aes_gcm192", "GCMAES128": "aes_gcm128",
                "AES256": "aes256", "AES192": "aes192", "AES128": "aes128", "DES3": "3des"}
_WINDOWS_HASH = {"SHA384": "sha2_384", "SHA256": "sha2_256", "SHA1": "sha1"}
_WINDOWS_DH = {"ECP384": "dh20", "ECP256": "dh19", "Group14": "dh14", "Group2": "dh2", "Group24": "dh24",
               "PFS2048": "dh14", "PFS2": "dh2", "PFS24": "dh24"}
_WINDOWS_AUTH = {"SHA256128": "sha2_256", "SHA196": "sha1"}
_APPLE_ENC = {"AES-256-GCM": "aes_gcm256", "AES-128-GCM": "aes_gcm128", "AES-256": "aes256", "AES-128": "aes128",
              "ChaCha20Poly1305": "chacha20_poly1305", "3DES": "3des"}
_APPLE_HASH = {"SHA2-384": "sha2_384", "SHA2-256": "sha2_256", "SHA2-512": "sha2_512", "SHA1-96": "sha1"}


# Libreswan's keywords as charon names them in "selected proposal: IKE:..." lines.
_CHARON_NAMES = {"aes_gcm256": "AES_GCM_16_256", "aes_gcm128": "AES_GCM_16_128", "aes256": "AES_CBC_256",
                 "aes128": "AES_CBC_128", "chacha20_poly1305": "CHACHA20_POLY1305", "3des": "3DES_CBC",
                 "sha2_512": "PRF_HMAC_SHA2_512", "sha2_384": "PRF_HMAC_SHA2_384", "sha2_256": "PRF_HMAC_SHA2_256",
                 "sha1": "PRF_HMAC_SHA1", "dh14": "MODP_2048", "dh19": "ECP_256", "dh20": "ECP_384",
                 "dh21": "ECP_521", "dh31": "CURVE_25519", "dh2": "MODP_1024"}


@dataclass(frozen=True)
class Suite:
    """One IKE and one ESP proposal in Libreswan's ipsec.conf syntax, and whether ESP uses PFS."""

    source: str
    ike: str
    esp: str
    pfs: bool

    @property
    def charon_ike(self) -> tuple[str, ...]:
        """The parts charon's "selected proposal: IKE:..." line must hold for this suite."""
        return tuple(_CHARON_NAMES[part] for part in self.ike.split("-"))


def _aead(libreswan_enc: str) -> bool:
    return "gcm" in libreswan_enc or "chacha" in libreswan_enc


def windows_suite(ps1: str) -> Suite:
    """The suite the .ps1 pins with Set-VpnConnectionIPsecConfiguration."""
    line = next(ln for ln in ps1.splitlines() if ln.startswith("Set-VpnConnectionIPsecConfiguration "))
    p = dict(re.findall(r"-(\w+) (\S+)", line))
    enc = _WINDOWS_ENC[p["EncryptionMethod"]]
    ike = f"{enc}-{_WINDOWS_HASH[p['IntegrityCheckMethod']]}-{_WINDOWS_DH[p['DHGroup']]}"
    cipher = _WINDOWS_ENC[p["CipherTransformConstants"]]
    # An AEAD cipher has no integrity algorithm: Libreswan spells it "none" when a PFS group follows.
    esp = f"{cipher}-none" if _aead(cipher) else f"{cipher}-{_WINDOWS_AUTH[p['AuthenticationTransformConstants']]}"
    pfs = p["PfsGroup"] != "None"
    if pfs:
        esp += f"-{_WINDOWS_DH[p['PfsGroup']]}"
    return Suite("windows", ike, esp, pfs)


def apple_suite(mobileconfig: bytes) -> Suite:
    """The suite of the .mobileconfig's IKEv2 payload (IKE and Child SA parameters, EnablePFS)."""
    doc = plistlib.loads(mobileconfig)
    ikev2 = next(p for p in doc["PayloadContent"] if p["PayloadType"] == "com.apple.vpn.managed")["IKEv2"]
    ike_p, child_p = ikev2["IKESecurityAssociationParameters"], ikev2["ChildSecurityAssociationParameters"]
    enc = _APPLE_ENC[ike_p["EncryptionAlgorithm"]]
    ike = f"{enc}-{_APPLE_HASH[ike_p['IntegrityAlgorithm']]}-dh{ike_p['DiffieHellmanGroup']}"
    cipher = _APPLE_ENC[child_p["EncryptionAlgorithm"]]
    esp = f"{cipher}-none" if _aead(cipher) else f"{cipher}-{_APPLE_HASH[child_p['IntegrityAlgorithm']]}"
    pfs = bool(ikev2.get("EnablePFS"))
    if pfs:
        esp += f"-dh{child_p['DiffieHellmanGroup']}"
    return Suite("apple", ike, esp, pfs)


# ---------------------------------------------------------------------------------------------------
# Libreswan's pluto as a client


class Pluto:
    """pluto in the lab's client namespace, with its own NSS database made from the client's .p12.

    Runs as ``ip netns exec NS unshare --mount -- sh start-pluto.sh``: the script overlays the unpacked
    Libreswan on /usr/libexec/ipsec (where pluto looks for its helpers) and gives it a private /etc/resolv.conf
    (Libreswan's updown rewrites it on a Mode Config DNS push), then execs pluto.
    """

    def __init__(self, lab: Lab, node: Node, workdir: Path) -> None:
        self.lab, self.node, self.dir = lab, node, workdir
        self.nss = workdir / "nss"
        self.run_dir = workdir / "run"
        self.log_path = workdir / "pluto.log"
        self.config = workdir / "ipsec.conf"
        self.ctl = self.run_dir / "pluto.ctl"
        self.proc: subprocess.Popen[bytes] | None = None

    def make_nss_db(self, p12: Path, password: str, ca_nickname: str) -> None:
        self.nss.mkdir(parents=True, exist_ok=True)
        db = f"sql:{self.nss}"
        _run(["certutil", "-N", "-d", db, "--empty-password"])
        _run(["pk12util", "-i", str(p12), "-d", db, "-W", password, "-K", ""])
        # pk12util imports the CA without trust: pluto must trust it to accept the server's certificate.
        _run(["certutil", "-M", "-d", db, "-n", ca_nickname, "-t", "CT,,"])

    def start(self, config_setup: str = "") -> None:
        for d in (self.run_dir, self.dir / "ipsec.d"):
            d.mkdir(parents=True, exist_ok=True)
        (self.dir / "ipsec.secrets").write_text("")
        (self.dir / "resolv.conf").write_text(f"nameserver {SERVER_LAN_ADDR}\n")
        self.config.write_text(f"config setup\n    plutodebug=none\n{config_setup}")
        script = self.dir / "start-pluto.sh"
        script.write_text(f"""#!/bin/sh
set -e
# A read-only overlay: the host's /usr/libexec with Libreswan's ipsec/ on top, in this namespace only.
mount -t overlay swan-lab-libreswan -o lowerdir={LIBRESWAN}/usr/libexec:/usr/libexec /usr/libexec
mount --bind {self.dir}/resolv.conf /etc/resolv.conf
exec {LIBRESWAN_BIN}/pluto --nofork --config {self.config} --nssdir {self.nss} --rundir {self.run_dir} \\
    --ipsecdir {self.dir}/ipsec.d --secretsfile {self.dir}/ipsec.secrets --logfile {self.log_path} \\
    --no-dnssec --use-xfrm
""")
        self.proc = self.node.popen("unshare", "--mount", "--propagation", "private", "--", "/bin/sh", str(script),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=(self.dir / "pluto.stderr").open("wb"), start_new_session=True)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"pluto exited with {self.proc.returncode}: "
                                     f"{(self.dir / 'pluto.stderr').read_text()}\n{self.log()}")
            return self.ctl.exists()

        self.lab.wait_for(ready, 20, "pluto's control socket")

    def command(self, *argv: str) -> list[str]:
        """argv run in pluto's network and mount namespaces."""
        assert self.proc is not None
        return ["nsenter", f"--mount=/proc/{self.proc.pid}/ns/mnt", f"--net=/proc/{self.proc.pid}/ns/net", "--",
                *argv]

    def add(self, name: str, conn: str) -> None:
        with self.config.open("a") as f:
            f.write(f"\nconn {name}\n{conn}")
        _run(self.command(str(LIBRESWAN_BIN / "addconn"), "--config", str(self.config), "--ctlsocket",
                          str(self.ctl), name))

    def whack(self, *args: str, timeout: float = 40) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(str(LIBRESWAN_BIN / "whack"), "--ctlsocket", str(self.ctl), *args),
                              capture_output=True, text=True, timeout=timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def libreswan_conn(server_id: str, suite: Suite | None) -> str:
    """A road-warrior certificate connection to the generated server (reference: lab-recipes, Libreswan)."""
    lines = [
        "    ikev2=yes",
        f"    left={CLIENT_ADDR}",
        f"    leftcert={CLIENT}",
        f"    leftid={CLIENT}",
        "    leftmodecfgclient=yes",
        # Without it Libreswan proposes its own address as TSi and the server refuses the CHILD_SA.
        "    leftsubnet=0.0.0.0/0",
        "    leftupdown=/bin/true",
        f"    right={SERVER_ADDR}",
        f"    rightid={server_id}",
        "    rightsubnet=0.0.0.0/0",
        "    authby=rsasig",
        "    auto=add",
    ]
    if suite is not None:
        lines += [f"    ike={suite.ike}", f"    esp={suite.esp}", f"    pfs={'yes' if suite.pfs else 'no'}"]
    return "\n".join(lines) + "\n"


def _run(argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


# ---------------------------------------------------------------------------------------------------
# NetworkManager with charon-nm as a client

NM_CONF = """\
[main]
plugins=keyfile
dns=none
[ifupdown]
managed=false
[logging]
level=INFO
"""

# The lab's eth0 is configured before NetworkManager starts; NM only "assumes" it unless a connection of its own
# describes it, so one is brought up first (NetworkManager would otherwise leave the device unmanaged).
ETH0_KEYFILE = f"""\
[connection]
id=lab-eth0
uuid=6f1c0d52-5d6a-4a8e-9a57-0f1e2d3c4b5a
type=ethernet
interface-name=eth0
autoconnect=false
[ipv4]
method=manual
# A default route (via the server): NetworkManager attaches a VPN to the connection that holds it.
address1={CLIENT_ADDR}/24,{SERVER_ADDR}
[ipv6]
method=ignore
"""


# charon-nm 5.9.8's built-in plugin list (its log's "loaded plugins:" line) with kernel-libipsec put ahead of
# kernel-netlink: charon-nm loads a fixed list, not strongswan.d's per-plugin "load" settings.
CHARON_NM_PLUGINS = (
    "ldap pkcs11 aesni aes rc2 sha2 sha1 md5 mgf1 rdrand random nonce x509 revocation constraints pkcs1 pkcs7 "
    "sshkey pem openssl gcrypt pkcs8 fips-prf gmp curve25519 agent chapoly xcbc cmac hmac kdf ctr ccm gcm drbg "
    "curl kernel-libipsec kernel-netlink socket-default eap-identity eap-md5 eap-gtc eap-mschapv2 eap-tls eap-ttls"
)


def charon_nm_snippet(log_path: Path) -> str:
    """charon-nm's settings in the client namespace: userspace ESP (no ESP in this kernel) and a level-2 log.

    kernel-libipsec must come before kernel-netlink, and bypass-lan stays out: with userspace ESP its bypass
    policies turn into a route into the tunnel."""
    return f"""\
charon-nm {{
    load = {CHARON_NM_PLUGINS}
    filelog {{
        lab {{
            path = {log_path}
            default = 1
            ike = 2
            cfg = 2
            knl = 2
            flush_line = yes
            ike_name = yes
        }}
    }}
    plugins {{
        kernel-libipsec {{
            load = yes
        }}
        bypass-lan {{
            load = no
        }}
    }}
}}
"""


class NetworkManagerClient:
    """NetworkManager and a system D-Bus in the lab's client network namespace, in a mount namespace where /etc
    is an overlay (writes land in ``etc-upper``), /run and /var/lib/NetworkManager are private and /sys shows
    this namespace's devices, read-only (no udev here: NetworkManager then takes the devices as initialized)."""

    def __init__(self, lab: Lab, node: Node, workdir: Path) -> None:
        self.lab, self.node, self.dir = lab, node, workdir
        self.upper = workdir / "etc-upper"
        self.log_path = workdir / "charon-nm.log"
        self.nm_log = workdir / "NetworkManager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        work, state = self.dir / "etc-work", self.dir / "var-lib-nm"
        for d in (self.upper / "NetworkManager/system-connections", self.upper / "strongswan.d", work, state):
            d.mkdir(parents=True, exist_ok=True)
        (self.upper / "resolv.conf").write_text(f"nameserver {SERVER_LAN_ADDR}\n")
        (self.upper / "NetworkManager/NetworkManager.conf").write_text(NM_CONF)
        eth0 = self.upper / "NetworkManager/system-connections/lab-eth0.nmconnection"
        eth0.write_text(ETH0_KEYFILE)
        eth0.chmod(0o600)
        (self.upper / "strongswan.d/zz-swan-lab-nm.conf").write_text(charon_nm_snippet(self.log_path))
        script = self.dir / "start-nm.sh"
        script.write_text(f"""#!/bin/sh
set -e
mount -t overlay swan-lab-etc -o lowerdir=/etc,upperdir={self.upper},workdir={work} /etc
mount -t tmpfs -o mode=0755 swan-lab-run /run
mount --bind {state} /var/lib/NetworkManager
umount -l /sys 2>/dev/null || true
mount -t sysfs -o ro sysfs /sys
mkdir -p /run/dbus
dbus-daemon --system --fork --nopidfile
exec NetworkManager --no-daemon --debug --log-level=INFO > {self.nm_log} 2>&1
""")
        self.proc = self.node.popen("unshare", "--mount", "--propagation", "private", "--", "/bin/sh", str(script),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"NetworkManager exited with {self.proc.returncode}:\n{self.nm_text()}")
            try:
                if not os.readlink(f"/proc/{self.proc.pid}/exe").endswith("NetworkManager"):
                    return False
            except OSError:
                return False
            return self.nmcli("-t", "general", "status", check=False).returncode == 0

        self.lab.wait_for(ready, 30, "NetworkManager answering on D-Bus")
        self.nmcli("connection", "up", "lab-eth0")

    def command(self, *argv: str) -> list[str]:
        assert self.proc is not None
        return ["nsenter", f"--mount=/proc/{self.proc.pid}/ns/mnt", f"--net=/proc/{self.proc.pid}/ns/net", "--",
                *argv]

    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.command(*argv), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}\n"
                                 f"--- NetworkManager:\n{self.nm_text()[-3000:]}\n"
                                 f"--- charon-nm:\n{self.charon_log()[-3000:]}")
        return proc

    def nmcli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run("nmcli", "--wait", "45", *args, check=check, timeout=timeout)

    def nm_text(self) -> str:
        return self.nm_log.read_text(errors="replace") if self.nm_log.exists() else ""

    def charon_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # NetworkManager stops its VPN service (charon-nm) on the way out; the lab kills what remains.
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def readme_lines(readme: str, section: str) -> list[str]:
    """The indented command lines of one OS section of a client README.txt (e.g. "Linux desktop")."""
    lines = readme.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(section))
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        out.append(line.strip())
    return out
