"""Client profiles: every format parsed back and checked field by field against the server's own files.

The server side is read from what the engine wrote (swanctl.conf, the host certificate), not from the
answers, so a profile that disagrees with the server fails here.
"""

from __future__ import annotations

import base64
import configparser
import json
import plistlib
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from wizard.fs import paths
from wizard.fs.changes import file_changes, pending
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers
from wizard.model.secrets import SecretSource
from wizard.pki import encode, keys
from wizard.plan.apply import apply
from wizard.plan.planner import build_plan
from wizard.render.profiles import suites

ANSWERS = """
version: 1
server: {address: vpn.example.com, alt_names: [203.0.113.10]}
ca: {key: ecdsa-p256}
host: {key: rsa-2048}
clients:
  - {name: alice@example.com, key: rsa-2048}
  - {name: laptop, key: ecdsa-p256, p12_password: {env: LAPTOP_P12}, on_demand: true}
variants:
  ikev2-cert: {}
  ikev2-eap:
    users: [{name: bob}]
  ikev1-xauth:
    auth: psk
    users: [{name: carol}]
pool: {addresses: 10.10.10.0/24, dns: [10.10.10.1]}
"""
ENV = {"LAPTOP_P12": "laptop p12 'secret'"}

# Set-VpnConnectionIPsecConfiguration's accepted values (Microsoft's documentation, reference §4.2).
WINDOWS_VALUES = {
    "EncryptionMethod": {"DES", "DES3", "AES128", "AES192", "AES256", "GCMAES128", "GCMAES256"},
    "IntegrityCheckMethod": {"MD5", "SHA1", "SHA256", "SHA384"},
    "DHGroup": {"None", "Group1", "Group2", "Group14", "ECP256", "ECP384", "Group24"},
    "CipherTransformConstants": {"DES", "DES3", "AES128", "AES192", "AES256", "GCMAES128", "GCMAES192",
                                 "GCMAES256", "None"},
    "AuthenticationTransformConstants": {"MD596", "SHA196", "SHA256128", "GCMAES128", "GCMAES192", "GCMAES256",
                                         "None"},
    "PfsGroup": {"None", "PFS1", "PFS2", "PFS2048", "ECP256", "ECP384", "PFSMM", "PFS24"},
}


# ---------------------------------------------------------------------------------------------------
# helpers (also used by test_clients*.py)


def parse_settings(text: str) -> dict[str, Any]:
    """Read strongswan.conf/swanctl.conf syntax, one statement per line as the renderers write it, back
    into nested dicts (quoted values unescaped)."""
    stack: list[dict[str, Any]] = [{}]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            section: dict[str, Any] = {}
            stack[-1][line[:-1].strip()] = section
            stack.append(section)
        elif line == "}":
            stack.pop()
        else:
            key, _, value = line.partition("=")
            value = value.strip()
            stack[-1][key.strip()] = json.loads(value) if value.startswith('"') else value
    assert len(stack) == 1, "unbalanced braces"
    return stack[0]


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def apply_answers(tmp_path: Path, text: str = ANSWERS, environ: dict[str, str] | None = None) -> tuple[Root, Answers]:
    answers = answers_file.parse(textwrap.dedent(text))
    root = Root.of(tmp_path / "root")
    source = SecretSource(base_dir=tmp_path, environ=environ if environ is not None else ENV)
    apply(build_plan(answers, root, source), root)
    return root, answers


def client_file(root: Root, name: str, file: str) -> Path:
    return root(paths.client_dir(name) / file)


def server_conf(root: Root) -> dict[str, Any]:
    return parse_settings(root(paths.SWANCTL_CONF).read_text())


def server_conn(root: Root, conn: str) -> dict[str, Any]:
    return server_conf(root)["connections"][conn]


def open_p12(data: bytes, password: str) -> pkcs12.PKCS12KeyAndCertificates:
    bundle = pkcs12.load_pkcs12(data, password.encode())
    assert bundle.key is not None and bundle.cert is not None
    assert keys.public_keys_equal(bundle.key.public_key(), bundle.cert.certificate.public_key())
    return bundle


def openssl_p12_info(tmp_path: Path, data: bytes, password: str) -> str:
    """`openssl pkcs12 -info -legacy`: OpenSSL 3 opens 3DES bundles only with the legacy provider."""
    p12 = tmp_path / "check.p12"
    p12.write_bytes(data)
    proc = subprocess.run(["openssl", "pkcs12", "-info", "-legacy", "-noout", "-in", str(p12),
                           "-passin", "env:P12PASS"], capture_output=True, text=True,
                          env={"P12PASS": password, "PATH": "/usr/bin:/bin"}, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def assert_legacy_p12(tmp_path: Path, data: bytes, password: str) -> None:
    info = openssl_p12_info(tmp_path, data, password)
    assert "MAC: sha1" in info, info
    # both the certificate bag and the shrouded key bag: PBE-SHA1-3DES, the kind Apple and Windows import
    assert info.count("pbeWithSHA1And3-KeyTripleDES-CBC") >= 2, info
    assert "AES" not in info and "RC2" not in info, info


def san_values(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v.value) for v in san]


def ps_block(script: str, variable: str) -> bytes:
    match = re.search(rf"^\${variable} = @'\r\n(.*?)\r\n'@", script, re.S | re.M)
    assert match, f"${variable} here-string missing"
    return base64.b64decode(re.sub(r"\s", "", match.group(1)))


def ps_command(script: str, cmdlet: str) -> dict[str, str | bool]:
    line = next((ln for ln in script.splitlines() if ln.startswith(cmdlet + " ")), None)
    assert line is not None, f"{cmdlet} missing"
    params: dict[str, str | bool] = {}
    for match in re.finditer(r"-(\w+)(?:\s+(?!-)([^\s|]+))?", line[len(cmdlet):]):
        params[match.group(1)] = match.group(2) if match.group(2) is not None else True
    return params


def accepts(proposals: list[str], kind: str, *, enc: str, hash_: str | None, group: str | None) -> bool:
    """Whether the server's proposal list accepts one client suite (strongSwan's selection, simplified)."""
    for proposal in proposals:
        p = suites.parse(proposal)
        if enc not in p.encryption:
            continue
        if kind == "ike":
            ok_hash = hash_ in p.prf if suites.is_aead(enc) else hash_ in p.integrity and hash_ in (p.prf or
                                                                                                     p.integrity)
            if ok_hash and group in p.groups:
                return True
        else:
            ok_hash = suites.is_aead(enc) or hash_ in p.integrity
            ok_group = group in p.groups if group else (not p.groups or "none" in p.groups)
            if ok_hash and ok_group:
                return True
    return False


# ---------------------------------------------------------------------------------------------------
# tests


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Root, Answers]:
    return apply_answers(tmp_path_factory.mktemp("profiles"))


def test_every_client_gets_its_files_0600_in_a_0700_directory(applied):
    root, _ = applied
    expected = {
        "alice@example.com": ["alice@example.com.mobileconfig", "alice@example.com.ps1", "alice@example.com.sswan",
                              "alice@example.com.nmconnection", "alice@example.com.swanctl.conf", "README.txt"],
        "bob": ["bob-eap.mobileconfig", "bob-eap.ps1", "bob-eap.sswan", "bob-eap.nmconnection",
                "bob-eap.swanctl.conf", "README.txt", "ca.pem"],
        "carol": ["README.txt"],
    }
    for name, files in expected.items():
        folder = root(paths.client_dir(name))
        assert folder.stat().st_mode & 0o777 == 0o700
        for file in files:
            assert (folder / file).stat().st_mode & 0o777 == 0o600, file
    # EAP and XAUTH users get no key material; the EAP user gets the CA as a file for the Linux profiles
    assert not client_file(root, "bob", "key.pem").exists() and not client_file(root, "carol", "ca.pem").exists()
    assert client_file(root, "bob", "ca.pem").read_bytes() == root(paths.CA_CERT).read_bytes()


def test_mobileconfig_certificate_profile_matches_the_server(applied, tmp_path):
    root, _ = applied
    doc = plistlib.loads(client_file(root, "alice@example.com", "alice@example.com.mobileconfig").read_bytes())
    assert doc["PayloadType"] == "Configuration" and doc["PayloadVersion"] == 1
    by_type = {p["PayloadType"]: p for p in doc["PayloadContent"]}
    assert set(by_type) == {"com.apple.vpn.managed", "com.apple.security.pkcs12", "com.apple.security.root"}
    uuids = [doc["PayloadUUID"], *(p["PayloadUUID"] for p in doc["PayloadContent"])]
    assert len(set(uuids)) == 4
    vpn, p12, ca = by_type["com.apple.vpn.managed"], by_type["com.apple.security.pkcs12"], \
        by_type["com.apple.security.root"]
    assert vpn["VPNType"] == "IKEv2"
    ike = vpn["IKEv2"]
    conn = server_conn(root, "IPSec-IKEv2")
    host = encode.load_cert_pem(root(paths.SWANCTL_X509 / paths.HOST_CERT_NAME).read_bytes())
    assert ike["RemoteAddress"] == "vpn.example.com"
    # what the server sends as its identity, and a name in its certificate
    assert ike["RemoteIdentifier"] == conn["local"]["id"] == "vpn.example.com"
    assert ike["RemoteIdentifier"] in san_values(host)
    assert ike["ServerCertificateCommonName"] == "vpn.example.com"
    assert ike["ServerCertificateIssuerCommonName"] == "vpn.example.com VPN CA"
    assert ike["AuthenticationMethod"] == "Certificate" and "ExtendedAuthEnabled" not in ike
    assert ike["PayloadCertificateUUID"] == p12["PayloadUUID"]
    assert ike["CertificateType"] == "RSA"
    # the PKCS#12 payload opens with its password and holds the certificate the LocalIdentifier names
    bundle = open_p12(p12["PayloadContent"], p12["Password"])
    assert p12["Password"] == client_file(root, "alice@example.com", "p12-password").read_text().strip()
    assert ike["LocalIdentifier"] == "alice@example.com" == san_values(bundle.cert.certificate)[0]
    assert_legacy_p12(tmp_path, p12["PayloadContent"], p12["Password"])
    assert ca["PayloadContent"] == encode.load_cert_pem(root(paths.CA_CERT).read_bytes()).public_bytes(
        serialization.Encoding.DER)
    # the SA parameters are a suite the server's proposals accept: modern = AES-256-GCM, SHA2-384, ECP-384
    sa, child = ike["IKESecurityAssociationParameters"], ike["ChildSecurityAssociationParameters"]
    assert (sa["EncryptionAlgorithm"], sa["IntegrityAlgorithm"], sa["DiffieHellmanGroup"]) == \
        ("AES-256-GCM", "SHA2-384", 20)
    assert accepts(split_list(conn["proposals"]), "ike", enc="aes256gcm16", hash_="sha384", group="ecp384")
    esp = split_list(conn["children"]["IPSec-IKEv2"]["esp_proposals"])
    assert (child["EncryptionAlgorithm"], child["DiffieHellmanGroup"], ike["EnablePFS"]) == ("AES-256-GCM", 20, 1)
    assert accepts(esp, "esp", enc="aes256gcm16", hash_=None, group="ecp384")
    assert 10 <= sa["LifeTimeInMinutes"] <= 1440 and 10 <= child["LifeTimeInMinutes"] <= 1440
    assert vpn["IPv4"] == {"OverridePrimary": 1}  # full tunnel
    assert "OnDemandEnabled" not in ike


def test_mobileconfig_on_demand_and_ecdsa_client(applied):
    root, _ = applied
    doc = plistlib.loads(client_file(root, "laptop", "laptop.mobileconfig").read_bytes())
    vpn = next(p for p in doc["PayloadContent"] if p["PayloadType"] == "com.apple.vpn.managed")
    assert vpn["IKEv2"]["OnDemandEnabled"] == 1 and vpn["IKEv2"]["OnDemandRules"] == [{"Action": "Connect"}]
    assert vpn["IKEv2"]["CertificateType"] == "ECDSA256"
    p12 = next(p for p in doc["PayloadContent"] if p["PayloadType"] == "com.apple.security.pkcs12")
    assert p12["Password"] == ENV["LAPTOP_P12"]  # from the environment, as the answers say
    open_p12(p12["PayloadContent"], p12["Password"])


def test_mobileconfig_eap_profile_has_no_certificate(applied):
    root, _ = applied
    doc = plistlib.loads(client_file(root, "bob", "bob-eap.mobileconfig").read_bytes())
    types = [p["PayloadType"] for p in doc["PayloadContent"]]
    assert types == ["com.apple.vpn.managed", "com.apple.security.root"]
    ike = doc["PayloadContent"][0]["IKEv2"]
    password = root(paths.SECRETS_DIR / "eap.user.bob").read_text().strip()
    assert (ike["AuthenticationMethod"], ike["ExtendedAuthEnabled"], ike["AuthName"], ike["AuthPassword"]) == \
        ("None", 1, "bob", password)
    assert "PayloadCertificateUUID" not in ike
    assert ike["RemoteIdentifier"] == server_conn(root, "IPSec-IKEv2-EAP")["local"]["id"]
    # the EAP connection on the server asks the client for its identity, which the profile gives as AuthName
    assert server_conn(root, "IPSec-IKEv2-EAP")["remote"]["eap_id"] == "%any"


def test_sswan_profiles(applied, tmp_path):
    root, _ = applied
    conn = server_conn(root, "IPSec-IKEv2")
    doc = json.loads(client_file(root, "alice@example.com", "alice@example.com.sswan").read_text())
    assert doc["type"] == "ikev2-cert"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", doc["uuid"])
    assert doc["remote"]["addr"] == "vpn.example.com" and doc["remote"]["id"] == conn["local"]["id"]
    ca = x509.load_der_x509_certificate(base64.b64decode(doc["remote"]["cert"]))
    assert ca == encode.load_cert_pem(root(paths.CA_CERT).read_bytes())
    assert doc["local"]["id"] == "alice@example.com"
    password = client_file(root, "alice@example.com", "p12-password").read_text().strip()
    p12 = base64.b64decode(doc["local"]["p12"])
    assert san_values(open_p12(p12, password).cert.certificate) == ["alice@example.com"]
    assert_legacy_p12(tmp_path, p12, password)
    # one proposal each, taken verbatim from the server's lists
    assert doc["ike-proposal"] in split_list(conn["proposals"])
    assert doc["esp-proposal"] in split_list(conn["children"]["IPSec-IKEv2"]["esp_proposals"])
    assert "split-tunneling" not in doc
    eap = json.loads(client_file(root, "bob", "bob-eap.sswan").read_text())
    assert eap["type"] == "ikev2-eap" and eap["local"] == {
        "eap_id": "bob", "shared_secret": root(paths.SECRETS_DIR / "eap.user.bob").read_text().strip()}
    assert "p12" not in eap["local"] and eap["uuid"] != doc["uuid"]


def test_nmconnection_profiles(applied):
    root, _ = applied
    conn = server_conn(root, "IPSec-IKEv2")
    nm = configparser.ConfigParser(interpolation=None)
    nm.read_string(client_file(root, "alice@example.com", "alice@example.com.nmconnection").read_text())
    assert nm["connection"]["type"] == "vpn" and nm["connection"]["id"] == "vpn.example.com"
    vpn = nm["vpn"]
    assert vpn["service-type"] == "org.freedesktop.NetworkManager.strongswan"
    assert vpn["address"] == "vpn.example.com" and vpn["remote-identity"] == conn["local"]["id"]
    assert (vpn["method"], vpn["cert-source"], vpn["local-identity"]) == ("cert", "file", "alice@example.com")
    assert vpn["usercert"].endswith("/cert.pem") and vpn["userkey"].endswith("/key.pem")
    assert vpn["certificate"].endswith("/ca.pem") and vpn["virtual"] == "yes" and vpn["proposal"] == "yes"
    assert vpn["ike"].split(";") == split_list(conn["proposals"])
    assert vpn["esp"].split(";") == split_list(conn["children"]["IPSec-IKEv2"]["esp_proposals"])
    assert "vpn-secrets" not in nm and nm["ipv4"]["method"] == "auto"
    eap = configparser.ConfigParser(interpolation=None)
    eap.read_string(client_file(root, "bob", "bob-eap.nmconnection").read_text())
    assert (eap["vpn"]["method"], eap["vpn"]["user"]) == ("eap", "bob")
    assert eap["vpn-secrets"]["password"] == root(paths.SECRETS_DIR / "eap.user.bob").read_text().strip()
    assert eap["connection"]["uuid"] != nm["connection"]["uuid"]


def test_windows_script_certificate(applied, tmp_path):
    root, _ = applied
    raw = client_file(root, "alice@example.com", "alice@example.com.ps1").read_bytes()
    assert raw.isascii() and b"\r\n" in raw
    script = raw.decode()
    add = ps_command(script, "Add-VpnConnection")
    assert (add["TunnelType"], add["AuthenticationMethod"]) == ("Ikev2", "MachineCertificate")
    assert "$Server = 'vpn.example.com'" in script and add["ServerAddress"] == "$Server"
    ipsec = ps_command(script, "Set-VpnConnectionIPsecConfiguration")
    for name, allowed in WINDOWS_VALUES.items():
        assert ipsec[name] in allowed, (name, ipsec[name])
    # the "modern" preset's Windows suite, and the server accepts it
    assert (ipsec["EncryptionMethod"], ipsec["IntegrityCheckMethod"], ipsec["DHGroup"]) == \
        ("GCMAES256", "SHA384", "ECP384")
    conn = server_conn(root, "IPSec-IKEv2")
    assert accepts(split_list(conn["proposals"]), "ike", enc="aes256gcm16", hash_="sha384", group="ecp384")
    assert (ipsec["CipherTransformConstants"], ipsec["AuthenticationTransformConstants"], ipsec["PfsGroup"]) == \
        ("GCMAES256", "GCMAES256", "ECP384")
    assert accepts(split_list(conn["children"]["IPSec-IKEv2"]["esp_proposals"]), "esp", enc="aes256gcm16",
                   hash_=None, group="ecp384")
    # the CA goes to the computer's root store, the PKCS#12 to its personal store
    assert "-CertStoreLocation Cert:\\LocalMachine\\Root" in script
    assert "-CertStoreLocation Cert:\\LocalMachine\\My" in script
    assert x509.load_der_x509_certificate(ps_block(script, "CaBase64")) == \
        encode.load_cert_pem(root(paths.CA_CERT).read_bytes())
    password = re.search(r"ConvertTo-SecureString -String '((?:[^']|'')*)'", script).group(1).replace("''", "'")
    p12 = ps_block(script, "P12Base64")
    assert san_values(open_p12(p12, password).cert.certificate) == ["alice@example.com"]
    assert_legacy_p12(tmp_path, p12, password)
    # a password with a quote survives PowerShell quoting
    laptop = client_file(root, "laptop", "laptop.ps1").read_text()
    assert "-String 'laptop p12 ''secret''' -AsPlainText" in laptop
    assert "-SplitTunneling" not in script and "Add-VpnConnectionRoute" not in script


def test_windows_script_eap(applied):
    root, _ = applied
    script = client_file(root, "bob", "bob-eap.ps1").read_text()
    add = ps_command(script, "Add-VpnConnection")
    assert add["AuthenticationMethod"] == "Eap" and add["RememberCredential"] is True
    assert "P12Base64" not in script and "Import-PfxCertificate" not in script
    assert ps_command(script, "Set-VpnConnectionIPsecConfiguration")["EncryptionMethod"] == "GCMAES256"


def test_swanctl_client_profile_mirrors_the_server(applied):
    root, _ = applied
    server = server_conn(root, "IPSec-IKEv2")
    text = client_file(root, "alice@example.com", "alice@example.com.swanctl.conf").read_text()
    tree = parse_settings(text)
    conn = tree["connections"]["swan-wizard"]
    assert conn["remote_addrs"] == "vpn.example.com" and conn["vips"] == "0.0.0.0"
    assert conn["remote"] == {"auth": "pubkey", "id": server["local"]["id"], "cacerts": paths.CA_CERT_NAME}
    assert conn["local"] == {"auth": "pubkey", "id": "alice@example.com"}
    assert split_list(conn["proposals"]) == split_list(server["proposals"])
    child = conn["children"]["swan-wizard"]
    assert split_list(child["esp_proposals"]) == split_list(server["children"]["IPSec-IKEv2"]["esp_proposals"])
    assert split_list(child["remote_ts"]) == split_list(server["children"]["IPSec-IKEv2"]["local_ts"])
    secret = tree["secrets"]["pkcs12-swan-wizard"]
    assert secret["file"] == "alice@example.com.p12"
    assert secret["secret"] == client_file(root, "alice@example.com", "p12-password").read_text().strip()
    eap = parse_settings(client_file(root, "bob", "bob-eap.swanctl.conf").read_text())
    assert eap["connections"]["swan-wizard-eap"]["local"] == {"auth": "eap-mschapv2", "eap_id": "bob"}
    assert eap["secrets"]["eap-swan-wizard-eap"]["id"] == "bob"


def test_readme_per_os_and_typed_settings(applied):
    root, _ = applied
    alice = client_file(root, "alice@example.com", "README.txt").read_text()
    for needle in ("alice@example.com.mobileconfig", "alice@example.com.ps1", "alice@example.com.sswan",
                   "alice@example.com.nmconnection", "alice@example.com.swanctl.conf", "iPhone", "Mac:",
                   "Windows 10/11", "Android", "NetworkManager", "swanctl --initiate --child swan-wizard",
                   "p12-password"):
        assert needle in alice, needle
    # no secret in a README: it only says where the password is
    assert client_file(root, "alice@example.com", "p12-password").read_text().strip() not in alice
    carol = client_file(root, "carol", "README.txt").read_text()
    assert "Cisco IPsec" in carol and "Server: vpn.example.com" in carol and "Account / user name: carol" in carol
    assert "/etc/swan-wizard/secrets/xauth.psk" in carol and "aes256-sha256-modp2048" in carol
    assert root(paths.SECRETS_DIR / "xauth.user.carol").read_text().strip() not in carol


def test_profiles_are_stable_so_a_second_apply_changes_nothing(applied, tmp_path):
    root, answers = applied
    plan = build_plan(answers, root, SecretSource(base_dir=tmp_path, environ=ENV))
    assert pending(file_changes(plan, root)) == []


def test_split_tunnel_profiles(tmp_path):
    root, _ = apply_answers(tmp_path, """
        version: 1
        server: {address: 198.51.100.7}
        ca: {key: ecdsa-p256}
        host: {key: ecdsa-p256}
        clients: [{name: alice@example.com, key: ecdsa-p256}]
        variants: {ikev2-cert: {local_ts: [10.0.0.0/8, 192.168.1.0/24]}}
        """)
    ps1 = client_file(root, "alice@example.com", "alice@example.com.ps1").read_text()
    assert ps_command(ps1, "Add-VpnConnection")["SplitTunneling"] is True
    assert "Add-VpnConnectionRoute -ConnectionName $Name -DestinationPrefix 10.0.0.0/8" in ps1
    assert "-DestinationPrefix 192.168.1.0/24" in ps1
    doc = json.loads(client_file(root, "alice@example.com", "alice@example.com.sswan").read_text())
    assert doc["split-tunneling"] == {"subnets": ["10.0.0.0/8", "192.168.1.0/24"]}
    assert doc["remote"]["id"] == "198.51.100.7"
    nm = configparser.ConfigParser(interpolation=None)
    nm.read_string(client_file(root, "alice@example.com", "alice@example.com.nmconnection").read_text())
    assert nm["vpn"]["remote-ts"] == "10.0.0.0/8;192.168.1.0/24"
    mc = plistlib.loads(client_file(root, "alice@example.com", "alice@example.com.mobileconfig").read_bytes())
    assert mc["PayloadContent"][0]["IPv4"] == {"OverridePrimary": 0}
    tree = parse_settings(client_file(root, "alice@example.com", "alice@example.com.swanctl.conf").read_text())
    assert tree["connections"]["swan-wizard"]["children"]["swan-wizard"]["remote_ts"] == "10.0.0.0/8, 192.168.1.0/24"


@pytest.mark.parametrize(("proposals", "windows", "apple"), [
    # the article's lists: the first proposals each platform can name
    ("seed", ("AES128", "SHA256", "ECP256", "GCMAES128", "GCMAES128", "ECP256"),
     ("AES-128", "SHA2-256", 19, "AES-128-GCM", 19, 1)),
    # classic-only custom lists, PFS optional: Windows' ESP integrity is at most SHA-256
    ({"ike": ["aes256-sha256-modp2048"], "esp": ["aes256-sha384-sha256-none"]},
     ("AES256", "SHA256", "Group14", "AES256", "SHA256128", "None"),
     ("AES-256", "SHA2-256", 14, "AES-256", 14, 0)),
])
def test_suite_choice_follows_custom_and_seed_proposals(tmp_path, proposals, windows, apple):
    text = """
        version: 1
        server: {address: vpn.example.com}
        ca: {key: ecdsa-p256}
        host: {key: ecdsa-p256}
        clients: [{name: alice, key: ecdsa-p256}]
        """
    answers = answers_file.parse(textwrap.dedent(text))
    from wizard.model.answers import updated

    answers = updated(answers, proposals=proposals)
    root = Root.of(tmp_path / "root")
    apply(build_plan(answers, root, SecretSource(base_dir=tmp_path, environ={})), root)
    ps1 = ps_command(client_file(root, "alice", "alice.ps1").read_text(), "Set-VpnConnectionIPsecConfiguration")
    assert tuple(ps1[k] for k in ("EncryptionMethod", "IntegrityCheckMethod", "DHGroup", "CipherTransformConstants",
                                  "AuthenticationTransformConstants", "PfsGroup")) == windows
    mc = plistlib.loads(client_file(root, "alice", "alice.mobileconfig").read_bytes())
    ike = mc["PayloadContent"][0]["IKEv2"]
    sa, child = ike["IKESecurityAssociationParameters"], ike["ChildSecurityAssociationParameters"]
    assert (sa["EncryptionAlgorithm"], sa["IntegrityAlgorithm"], sa["DiffieHellmanGroup"],
            child["EncryptionAlgorithm"], child["DiffieHellmanGroup"], ike["EnablePFS"]) == apple


def test_windows_script_says_so_when_no_suite_fits(tmp_path):
    answers = answers_file.parse(textwrap.dedent("""
        version: 1
        server: {address: vpn.example.com}
        ca: {key: ecdsa-p256}
        host: {key: ecdsa-p256}
        clients: [{name: alice, key: ecdsa-p256}]
        proposals: {ike: [chacha20poly1305-prfsha256-x25519], esp: [chacha20poly1305]}
        """))
    root = Root.of(tmp_path / "root")
    apply(build_plan(answers, root, SecretSource(base_dir=tmp_path, environ={})), root)
    script = client_file(root, "alice", "alice.ps1").read_text()
    assert "Set-VpnConnectionIPsecConfiguration" not in script and "no suite Windows can use" in script
    ike = plistlib.loads(client_file(root, "alice", "alice.mobileconfig").read_bytes())["PayloadContent"][0]["IKEv2"]
    assert ike["IKESecurityAssociationParameters"]["EncryptionAlgorithm"] == "ChaCha20Poly1305"
    assert ike["IKESecurityAssociationParameters"]["DiffieHellmanGroup"] == 31


def test_suite_parser_aliases():
    p = suites.parse("aes256gcm128-prfsha384-x25519-modpnone")
    assert p == suites.Parsed(("aes256gcm16",), (), ("sha384",), ("curve25519", "none"))
    assert suites.choose_ike(["aes128-sha1-modp1024"], suites.WINDOWS) == \
        suites.IkeChoice("aes128", "sha1", "modp1024", "aes128-sha1-modp1024")
    # an explicit PRF that differs from every integrity algorithm cannot be named by Windows or Apple
    assert suites.choose_ike(["aes256-sha256-prfsha384-ecp256"], suites.WINDOWS) is None
