"""Each client profile against its consumer's documented schema, and every profile's proposals against the server's.

The schemas are the consumers' own documentation (reference §4.1-4.4): Apple's VPN.IKEv2 dictionary, the strongSwan
Android app's VpnProfileImportActivity, Microsoft's Add-VpnConnection and Set-VpnConnectionIPsecConfiguration, and
the keys charon-nm reads from a NetworkManager keyfile. A key outside the schema, a value outside its enum or of the
wrong type fails. The proposal test intersects what each profile offers with what the server's swanctl.conf accepts,
for the IKE SA, the first CHILD_SA, and a CHILD_SA rekey with PFS and without, for every proposals preset.
"""

from __future__ import annotations

import base64
import configparser
import json
import plistlib
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_profiles import WINDOWS_VALUES, apply_answers, client_file, server_conn, split_list

from wizard.fs.paths import Root
from wizard.render.profiles import suites

PRESETS = {
    "modern": "proposals: modern",
    "seed": "proposals: seed",
    "custom": "proposals: {ike: [aes128-sha256-ecp256], esp: [aes128gcm16-ecp256]}",
}


def answers(preset: str) -> str:
    return f"""
version: 1
server: {{address: vpn.example.com}}
ca: {{key: ecdsa-p256}}
host: {{key: rsa-2048}}
clients:
  - {{name: alice@example.com, key: rsa-2048}}
  - {{name: laptop, key: ecdsa-p256, on_demand: true}}
variants:
  ikev2-cert: {{}}
  ikev2-eap: {{users: [{{name: bob}}]}}
pool: {{addresses: 10.10.10.0/24, dns: [10.10.10.1]}}
{PRESETS[preset]}
"""


@pytest.fixture(scope="module", params=sorted(PRESETS))
def applied(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Root]:
    root, _ = apply_answers(tmp_path_factory.mktemp(request.param), answers(request.param))
    return request.param, root


# (client, stem) of every IKEv2 profile the answers make.
PROFILES = (("alice@example.com", "alice@example.com"), ("laptop", "laptop"), ("bob", "bob-eap"))


# ---------------------------------------------------------------------------------------------------
# Apple: VPN.IKEv2 (developer.apple.com/documentation/devicemanagement/vpn/ikev2-data.dictionary)

APPLE_ENCRYPTION = {"DES", "3DES", "AES-128", "AES-256", "AES-128-GCM", "AES-256-GCM", "ChaCha20Poly1305"}
APPLE_INTEGRITY = {"SHA1-96", "SHA1-160", "SHA2-256", "SHA2-384", "SHA2-512"}
APPLE_GROUPS = {0, 1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31, 32}
APPLE_IKEV2 = {
    "RemoteAddress": str, "RemoteIdentifier": str, "LocalIdentifier": str, "AuthenticationMethod": str,
    "ExtendedAuthEnabled": int, "AuthName": str, "AuthPassword": str, "PayloadCertificateUUID": str,
    "CertificateType": str, "ServerCertificateIssuerCommonName": str, "ServerCertificateCommonName": str,
    "IKESecurityAssociationParameters": dict, "ChildSecurityAssociationParameters": dict, "EnablePFS": int,
    "DeadPeerDetectionRate": str, "DisableMOBIKE": int, "DisableRedirect": int,
    "EnableCertificateRevocationCheck": int, "UseConfigurationAttributeInternalIPSubnet": int,
    "OnDemandEnabled": int, "OnDemandRules": list,
}
APPLE_ENUMS = {"AuthenticationMethod": {"Certificate", "SharedSecret", "None"},
               "CertificateType": {"RSA", "ECDSA256", "ECDSA384", "ECDSA521", "Ed25519"},
               "DeadPeerDetectionRate": {"None", "Low", "Medium", "High"}}
APPLE_FLAGS = {"ExtendedAuthEnabled", "EnablePFS", "DisableMOBIKE", "DisableRedirect",
               "EnableCertificateRevocationCheck", "UseConfigurationAttributeInternalIPSubnet", "OnDemandEnabled"}
PAYLOAD_COMMON = {"PayloadType": str, "PayloadVersion": int, "PayloadIdentifier": str, "PayloadUUID": str,
                  "PayloadDisplayName": str, "PayloadDescription": str}
PAYLOADS: dict[str, dict[str, type]] = {
    "com.apple.vpn.managed": {**PAYLOAD_COMMON, "UserDefinedName": str, "VPNType": str, "IKEv2": dict, "IPv4": dict},
    "com.apple.security.root": {**PAYLOAD_COMMON, "PayloadCertificateFileName": str, "PayloadContent": bytes},
    "com.apple.security.pkcs12": {**PAYLOAD_COMMON, "PayloadCertificateFileName": str, "PayloadContent": bytes,
                                  "Password": str},
}


def check_keys(where: str, data: dict[str, Any], schema: dict[str, type]) -> None:
    unknown = set(data) - set(schema)
    assert not unknown, f"{where}: keys outside the schema: {unknown}"
    for key, value in data.items():
        # plistlib reads <true/> as bool, which is an int: Apple's integer flags must be real integers.
        assert isinstance(value, schema[key]) and not (schema[key] is int and isinstance(value, bool)), \
            f"{where}.{key}: {value!r} is not {schema[key].__name__}"


def check_sa_parameters(where: str, params: dict[str, Any]) -> None:
    check_keys(where, params, {"EncryptionAlgorithm": str, "IntegrityAlgorithm": str, "DiffieHellmanGroup": int,
                               "LifeTimeInMinutes": int})
    assert params["EncryptionAlgorithm"] in APPLE_ENCRYPTION, params
    assert params["IntegrityAlgorithm"] in APPLE_INTEGRITY, params
    assert params["DiffieHellmanGroup"] in APPLE_GROUPS, params
    assert 10 <= params["LifeTimeInMinutes"] <= 1440, params


def test_mobileconfig_follows_apples_schema(applied: tuple[str, Root]) -> None:
    _, root = applied
    for name, stem in PROFILES:
        doc = plistlib.loads(client_file(root, name, f"{stem}.mobileconfig").read_bytes())
        check_keys("profile", doc, {**PAYLOAD_COMMON, "PayloadContent": list, "PayloadRemovalDisallowed": bool})
        assert doc["PayloadType"] == "Configuration" and doc["PayloadVersion"] == 1
        uuids = {p["PayloadUUID"] for p in doc["PayloadContent"]} | {doc["PayloadUUID"]}
        assert len(uuids) == len(doc["PayloadContent"]) + 1
        for u in uuids:
            uuid.UUID(u)
        by_type = {}
        for payload in doc["PayloadContent"]:
            check_keys(payload["PayloadType"], payload, PAYLOADS[payload["PayloadType"]])
            by_type[payload["PayloadType"]] = payload
        vpn = by_type["com.apple.vpn.managed"]
        assert vpn["VPNType"] == "IKEv2"
        check_keys("IPv4", vpn["IPv4"], {"OverridePrimary": int})
        ikev2 = vpn["IKEv2"]
        check_keys("IKEv2", ikev2, APPLE_IKEV2)
        for key, values in APPLE_ENUMS.items():
            assert key not in ikev2 or ikev2[key] in values, (key, ikev2.get(key))
        for key in APPLE_FLAGS & set(ikev2):
            assert ikev2[key] in (0, 1), (key, ikev2[key])
        check_sa_parameters("IKESecurityAssociationParameters", ikev2["IKESecurityAssociationParameters"])
        check_sa_parameters("ChildSecurityAssociationParameters", ikev2["ChildSecurityAssociationParameters"])
        if ikev2["AuthenticationMethod"] == "Certificate":
            # Apple: "If CertificateType is included, the system requires ServerCertificateIssuerCommonName".
            assert ikev2["PayloadCertificateUUID"] == by_type["com.apple.security.pkcs12"]["PayloadUUID"]
            assert "ServerCertificateIssuerCommonName" in ikev2
        else:
            # EAP only: None plus ExtendedAuthEnabled (without it the device falls back to a shared secret).
            assert ikev2["AuthenticationMethod"] == "None" and ikev2["ExtendedAuthEnabled"] == 1
            assert "com.apple.security.pkcs12" not in by_type


# ---------------------------------------------------------------------------------------------------
# Android: the strongSwan app's .sswan (VpnProfileImportActivity.parseProfile, VpnType.java)

SSWAN = {"uuid": str, "name": str, "type": str, "remote": dict, "local": dict, "ike-proposal": str,
         "esp-proposal": str, "dns-servers": list, "mtu": int, "nat-keepalive": int, "ipv6-transport": bool,
         "split-tunneling": dict, "apps": list, "excluded-apps": list}
SSWAN_REMOTE = {"addr": str, "port": int, "id": str, "cert": str, "certreq": bool, "revocation": dict}
SSWAN_LOCAL = {"id": str, "eap_id": str, "shared_secret": str, "p12": str, "rsa-pss": bool}
SSWAN_TYPES = {"ikev2-eap", "ikev2-cert", "ikev2-cert-eap", "ikev2-eap-tls", "ikev2-byod-eap"}


def test_sswan_follows_the_android_apps_schema(applied: tuple[str, Root]) -> None:
    _, root = applied
    for name, stem in PROFILES:
        doc = json.loads(client_file(root, name, f"{stem}.sswan").read_text())
        check_keys("sswan", doc, SSWAN)
        check_keys("remote", doc["remote"], SSWAN_REMOTE)
        check_keys("local", doc["local"], SSWAN_LOCAL)
        assert {"uuid", "name", "type"} <= set(doc) and "addr" in doc["remote"]
        assert doc["type"] in SSWAN_TYPES
        uuid.UUID(doc["uuid"])
        base64.b64decode(doc["remote"]["cert"], validate=True)
        if doc["type"] == "ikev2-cert":
            base64.b64decode(doc["local"]["p12"], validate=True)
            assert "id" in doc["local"]
        else:
            assert "eap_id" in doc["local"]
        if "split-tunneling" in doc:
            check_keys("split-tunneling", doc["split-tunneling"], {"subnets": list, "excluded": list,
                                                                   "block-ipv4": bool, "block-ipv6": bool})


# ---------------------------------------------------------------------------------------------------
# Windows: Add-VpnConnection and Set-VpnConnectionIPsecConfiguration (MicrosoftDocs/windows-powershell-docs)

ADD_VPN_VALUES = {"TunnelType": {"Pptp", "L2tp", "Sstp", "Ikev2", "Automatic"},
                  "AuthenticationMethod": {"Pap", "Chap", "MSChapv2", "Eap", "MachineCertificate"},
                  "EncryptionLevel": {"NoEncryption", "Optional", "Required", "Maximum", "Custom"},
                  "Name": None, "ServerAddress": None, "DestinationPrefix": None, "ConnectionName": None}
ADD_VPN_SWITCHES = {"SplitTunneling", "AllUserConnection", "RememberCredential", "UseWinlogonCredential", "Force",
                    "PassThru"}


def cmdlet_arguments(line: str) -> tuple[str, dict[str, str | None]]:
    words = line.split(" | ")[0].split()
    out: dict[str, str | None] = {}
    i = 1
    while i < len(words):
        assert words[i].startswith("-"), (line, words[i])
        key = words[i][1:]
        if i + 1 < len(words) and not words[i + 1].startswith("-"):
            out[key] = words[i + 1]
            i += 2
        else:
            out[key] = None
            i += 1
    return words[0], out


def test_powershell_script_uses_documented_parameters_and_values(applied: tuple[str, Root]) -> None:
    _, root = applied
    for name, stem in PROFILES:
        script = client_file(root, name, f"{stem}.ps1").read_text(encoding="utf-8-sig")
        cmdlets = [cmdlet_arguments(ln) for ln in script.splitlines()
                   if re.match(r"(Add-VpnConnection|Set-VpnConnectionIPsecConfiguration|Add-VpnConnectionRoute) ", ln)]
        assert [c for c, _ in cmdlets][:2] == ["Add-VpnConnection", "Set-VpnConnectionIPsecConfiguration"]
        for cmdlet, args in cmdlets:
            if cmdlet == "Set-VpnConnectionIPsecConfiguration":
                # All six together (CustomPolicy parameter set).
                assert set(WINDOWS_VALUES) <= set(args), args
                for key, value in args.items():
                    assert key in WINDOWS_VALUES or key in {"ConnectionName", "Force", "PassThru",
                                                            "AllUserConnection"}, key
                    if key in WINDOWS_VALUES:
                        assert value in WINDOWS_VALUES[key], (key, value)
            else:
                for key, value in args.items():
                    if value is None:
                        assert key in ADD_VPN_SWITCHES, key
                    else:
                        allowed = ADD_VPN_VALUES[key]
                        assert allowed is None or value in allowed, (key, value)


# ---------------------------------------------------------------------------------------------------
# NetworkManager: the [vpn] keys charon-nm 5.9.8 reads (nm_service.c), values as NetworkManager-strongswan writes

NM_VPN = {"service-type", "address", "certificate", "remote-identity", "server-port", "local-identity", "method",
          "cert-source", "user", "usercert", "userkey", "virtual", "encap", "ipcomp", "proposal", "ike", "esp",
          "remote-ts", "password-flags"}
NM_ENUMS = {"method": {"eap", "psk", "cert", "eap-tls", "key", "agent", "smartcard"},
            "cert-source": {"file", "agent", "smartcard"}, "virtual": {"yes", "no"}, "encap": {"yes", "no"},
            "ipcomp": {"yes", "no"}, "proposal": {"yes", "no"}, "password-flags": {"0", "1", "2", "4"}}


def test_nmconnection_follows_the_keyfile_and_charon_nm_schema(applied: tuple[str, Root]) -> None:
    _, root = applied
    for name, stem in PROFILES:
        path = client_file(root, name, f"{stem}.nmconnection")
        assert path.stat().st_mode & 0o077 == 0  # NetworkManager ignores keyfiles others can read
        nm = configparser.ConfigParser(interpolation=None)
        nm.optionxform = str  # type: ignore[assignment,method-assign]
        nm.read_string(path.read_text())
        assert set(nm.sections()) <= {"connection", "vpn", "vpn-secrets", "ipv4", "ipv6"}
        assert set(nm["connection"]) == {"id", "uuid", "type", "autoconnect"}
        assert nm["connection"]["type"] == "vpn" and nm["connection"]["autoconnect"] in ("true", "false")
        uuid.UUID(nm["connection"]["uuid"])
        vpn = nm["vpn"]
        assert set(vpn) <= NM_VPN, set(vpn) - NM_VPN
        assert vpn["service-type"] == "org.freedesktop.NetworkManager.strongswan"
        for key, values in NM_ENUMS.items():
            assert key not in vpn or vpn[key] in values, (key, vpn.get(key))
        assert "," not in vpn["ike"] and "," not in vpn["esp"]  # charon-nm splits proposals at ";"
        if vpn["method"] == "cert":
            assert vpn["cert-source"] == "file" and vpn["usercert"].startswith("/") and vpn["userkey"].startswith("/")
        else:
            assert vpn["password-flags"] == "0" and set(nm["vpn-secrets"]) == {"password"}
        assert nm["ipv4"]["method"] in {"auto", "ignore", "disabled"}
        assert nm["ipv6"]["method"] in {"auto", "ignore", "disabled"}


# ---------------------------------------------------------------------------------------------------
# proposals: each profile against the server, IKE SA, first CHILD_SA and CHILD_SA rekey with and without PFS

_APPLE_TO_SWAN = {"AES-256-GCM": "aes256gcm16", "AES-128-GCM": "aes128gcm16", "AES-256": "aes256", "AES-128": "aes128",
                  "ChaCha20Poly1305": "chacha20poly1305", "3DES": "3des", "SHA2-384": "sha384", "SHA2-256": "sha256",
                  "SHA2-512": "sha512", "SHA1-96": "sha1"}
_GROUP_NUMBERS = {14: "modp2048", 15: "modp3072", 16: "modp4096", 19: "ecp256", 20: "ecp384", 21: "ecp521",
                  31: "curve25519", 2: "modp1024", 5: "modp1536"}
_WINDOWS_TO_SWAN = {"GCMAES256": "aes256gcm16", "GCMAES192": "aes192gcm16", "GCMAES128": "aes128gcm16",
                    "AES256": "aes256", "AES192": "aes192", "AES128": "aes128", "DES3": "3des", "SHA384": "sha384",
                    "SHA256": "sha256", "SHA1": "sha1", "SHA256128": "sha256", "SHA196": "sha1", "ECP384": "ecp384",
                    "ECP256": "ecp256", "Group14": "modp2048", "Group2": "modp1024", "Group24": "modp2048s256",
                    "PFS2048": "modp2048", "PFS2": "modp1024", "PFS24": "modp2048s256"}


def _ike_match(client: suites.Parsed, server: suites.Parsed) -> bool:
    common_enc = set(client.encryption) & set(server.encryption)
    if not common_enc:
        return False
    aead = all(suites.is_aead(e) for e in common_enc)
    integ_ok = aead or bool(set(client.integrity) & set(server.integrity))
    prfs = set(client.prf or client.integrity) & set(server.prf or server.integrity)
    return integ_ok and bool(prfs) and bool(set(client.groups) & set(server.groups))


def _esp_match(client: suites.Parsed, server: suites.Parsed, pfs: bool | None) -> bool:
    """pfs None: the first CHILD_SA (created with IKE_AUTH, no key exchange); True/False: a rekey."""
    common_enc = set(client.encryption) & set(server.encryption)
    if not common_enc:
        return False
    if not all(suites.is_aead(e) for e in common_enc) and not set(client.integrity) & set(server.integrity):
        return False
    if pfs is None:
        return True
    if pfs:
        return bool((set(client.groups) - {"none"}) & set(server.groups))
    return (not client.groups or "none" in client.groups) and (not server.groups or "none" in server.groups)


def accepted(client: list[str], server: list[str], kind: str, pfs: bool | None = None) -> bool:
    ps = [suites.parse(s) for s in server]
    for proposal in client:
        c = suites.parse(proposal)
        if any(_ike_match(c, s) if kind == "ike" else _esp_match(c, s, pfs) for s in ps):
            return True
    return False


def offered(root: Root, name: str, stem: str) -> dict[str, tuple[list[str], list[str], bool]]:
    """What each profile offers: (IKE proposals, ESP proposals, whether it rekeys with PFS) per format."""
    folder: Path = client_file(root, name, "")
    out = {}
    sswan = json.loads((folder / f"{stem}.sswan").read_text())
    # The app adds PFS to its ESP proposal when the proposal names a group.
    out["android"] = ([sswan["ike-proposal"]], [sswan["esp-proposal"]],
                      bool(set(suites.parse(sswan["esp-proposal"]).groups) - {"none"}))
    nm = configparser.ConfigParser(interpolation=None)
    nm.read_string((folder / f"{stem}.nmconnection").read_text())
    esp = nm["vpn"]["esp"].split(";")
    out["networkmanager"] = (nm["vpn"]["ike"].split(";"), esp,
                             any(set(suites.parse(p).groups) - {"none"} for p in esp))
    swanctl = (folder / f"{stem}.swanctl.conf").read_text()
    ike_line = re.search(r"^\s*proposals = (.*)$", swanctl, re.M)
    esp_line = re.search(r"^\s*esp_proposals = (.*)$", swanctl, re.M)
    assert ike_line and esp_line
    esp = split_list(esp_line.group(1))
    out["swanctl"] = (split_list(ike_line.group(1)), esp, any(set(suites.parse(p).groups) - {"none"} for p in esp))
    ikev2 = next(p for p in plistlib.loads((folder / f"{stem}.mobileconfig").read_bytes())["PayloadContent"]
                 if p["PayloadType"] == "com.apple.vpn.managed")["IKEv2"]
    ike_p, child = ikev2["IKESecurityAssociationParameters"], ikev2["ChildSecurityAssociationParameters"]
    ike = f"{_APPLE_TO_SWAN[ike_p['EncryptionAlgorithm']]}-{_APPLE_TO_SWAN[ike_p['IntegrityAlgorithm']]}-" \
          f"{_GROUP_NUMBERS[ike_p['DiffieHellmanGroup']]}"
    enc = _APPLE_TO_SWAN[child["EncryptionAlgorithm"]]
    esp_apple = enc if suites.is_aead(enc) else f"{enc}-{_APPLE_TO_SWAN[child['IntegrityAlgorithm']]}"
    pfs = bool(ikev2["EnablePFS"])
    if pfs:
        esp_apple += f"-{_GROUP_NUMBERS[child['DiffieHellmanGroup']]}"
    out["apple"] = ([ike], [esp_apple], pfs)
    ps1 = (folder / f"{stem}.ps1").read_text(encoding="utf-8-sig")
    _, w = cmdlet_arguments(next(ln for ln in ps1.splitlines() if ln.startswith("Set-VpnConnectionIPsecConfiguration")))
    t = _WINDOWS_TO_SWAN
    ike = f"{t[str(w['EncryptionMethod'])]}-{t[str(w['IntegrityCheckMethod'])]}-{t[str(w['DHGroup'])]}"
    enc = t[str(w["CipherTransformConstants"])]
    esp_windows = enc if suites.is_aead(enc) else f"{enc}-{t[str(w['AuthenticationTransformConstants'])]}"
    pfs = w["PfsGroup"] != "None"
    if pfs:
        esp_windows += f"-{t[str(w['PfsGroup'])]}"
    out["windows"] = ([ike], [esp_windows], pfs)
    return out


def test_every_profiles_proposals_intersect_the_servers_for_every_preset(applied: tuple[str, Root]) -> None:
    preset, root = applied
    for conn_name, (name, stem) in (("IPSec-IKEv2", PROFILES[0]), ("IPSec-IKEv2", PROFILES[1]),
                                    ("IPSec-IKEv2-EAP", PROFILES[2])):
        conn = server_conn(root, conn_name)
        server_ike = split_list(conn["proposals"])
        server_esp = split_list(next(iter(conn["children"].values()))["esp_proposals"])
        for client, (ike, esp, pfs) in offered(root, name, stem).items():
            where = f"{preset}/{stem}/{client}"
            assert accepted(ike, server_ike, "ike"), f"{where}: IKE {ike} vs server {server_ike}"
            assert accepted(esp, server_esp, "esp"), f"{where}: ESP {esp} vs server {server_esp}"
            # On rekey the client sends a key exchange exactly when it uses PFS.
            assert accepted(esp, server_esp, "esp", pfs=pfs), f"{where}: ESP rekey (PFS {pfs}) {esp} vs {server_esp}"


def test_powershell_script_adds_the_vpn_for_all_users_and_says_so(applied: tuple[str, Root]) -> None:
    """The script needs an elevated shell and installs the certificates machine-wide: a VPN in the phone book of
    whichever administrator elevated it would be missing for the user who ran it."""
    _, root = applied
    for name, stem in PROFILES:
        script = client_file(root, name, f"{stem}.ps1").read_text(encoding="utf-8-sig")
        cmdlets = [ln for ln in script.splitlines() if re.match(r"(Get|Add|Set|Remove)-VpnConnection", ln)]
        assert cmdlets and all("-AllUserConnection" in ln for ln in cmdlets), cmdlets
        assert "for all users of this PC (-AllUserConnection)" in script


def test_the_intersection_refuses_what_the_server_does_not_offer() -> None:
    """The checker above can fail: a suite outside the server's lists is refused, so is PFS the server lacks."""
    server_ike = ["aes256gcm16-prfsha384-ecp384"]
    assert accepted(["aes256gcm16-prfsha384-ecp384"], server_ike, "ike")
    assert not accepted(["aes256gcm16-prfsha384-modp2048"], server_ike, "ike")
    assert not accepted(["aes128-sha256-ecp384"], server_ike, "ike")
    assert accepted(["aes256gcm16"], ["aes256gcm16-ecp384"], "esp")
    assert not accepted(["aes256gcm16"], ["aes256gcm16-ecp384"], "esp", pfs=False)
    assert accepted(["aes256gcm16"], ["aes256gcm16-ecp384-none"], "esp", pfs=False)
    assert not accepted(["aes256gcm16-modp2048"], ["aes256gcm16-ecp384"], "esp", pfs=True)


def test_readme_points_to_a_password_the_client_folder_does_not_hold(tmp_path: Path) -> None:
    """A password given as {file:} is the admin's file, not in the client folder: the README must not send the
    user looking for it there."""
    (tmp_path / "alice.p12pass").write_text("correct horse\n")
    text = answers("modern").replace("com, key: rsa-2048}", "com, key: rsa-2048, p12_password: {file: alice.p12pass}}")
    root, _ = apply_answers(tmp_path, text)
    readme = client_file(root, "alice@example.com", "README.txt").read_text()
    assert "in alice.p12pass (first line)" not in readme
    assert "not in this folder: the administrator gives it to you separately" in readme
    assert not client_file(root, "alice@example.com", "alice.p12pass").exists()
    # A generated one is in the folder, and the README says so.
    assert "in the file p12-password next to this README" in client_file(root, "laptop", "README.txt").read_text()


def test_aes256_bundle_is_not_put_into_apple_and_windows_profiles(tmp_path: Path) -> None:
    """Apple and Windows import only the legacy (3DES) PKCS#12: an aes256 client gets no .mobileconfig or .ps1 that
    would fail on import, and its README and the apply notes say why."""
    text = answers("modern").replace("  - {name: laptop, key: ecdsa-p256, on_demand: true}",
                                     "  - {name: laptop, key: ecdsa-p256, on_demand: true, p12_encryption: aes256}")
    root, _ = apply_answers(tmp_path, text)
    assert not client_file(root, "laptop", "laptop.mobileconfig").exists()
    assert not client_file(root, "laptop", "laptop.ps1").exists()
    assert client_file(root, "laptop", "laptop.sswan").exists()
    assert client_file(root, "alice@example.com", "alice@example.com.mobileconfig").exists()
    readme = client_file(root, "laptop", "README.txt").read_text()
    assert "aes256 (p12_encryption), which Apple devices cannot import" in readme
    assert "which Windows cannot import" in readme
