"""README.txt: what to do with the files on each OS, and the settings to type where no file imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from wizard.model import formats
from wizard.render.profiles import suites
from wizard.render.profiles.model import LINUX_CERT_DIR, Profile
from wizard.render.profiles.swanctl import CLIENT_CA_NAME, p12_file_name

# Android's built-in IKEv2 client offers only these groups (no ECP): reference §2.2.
_ANDROID_NATIVE_GROUPS = {"modp2048", "modp3072", "modp4096", "curve25519"}


@dataclass(frozen=True)
class Revocation:
    serial: str
    revoked_at: datetime


@dataclass(frozen=True)
class TypedLogin:
    """An IKEv1 login (Cisco IPsec XAUTH, L2TP/IPsec) without an importable format."""

    kind: str  # "xauth" or "l2tp"
    auth: str  # "cert" or "psk"
    password_hint: str
    psk_hint: str | None = None
    proposals: tuple[str, ...] = ()


@dataclass
class ClientReadme:
    name: str
    server_address: str
    server_identity: str
    cert: Profile | None = None
    eap: Profile | None = None
    p12_password_hint: str | None = None  # the client has a certificate (even without an IKEv2 profile)
    eap_password_hint: str | None = None
    revoked: Revocation | None = None
    typed: list[TypedLogin] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # profiles left out, and why


def _ikev2_sections(p: Profile, secret_hint: str) -> list[str]:
    s = p.stem
    cert = p.kind == "cert"
    out = [
        "iPhone, iPad:",
        f"  Send {s}.mobileconfig to the device (AirDrop, or mail it as an attachment) and open it;",
        "  Settings > General > VPN & Device Management > the profile > Install.",
        "  Connect in Settings > VPN.",
        "Mac:",
        f"  Double-click {s}.mobileconfig, then System Settings > Privacy & Security > Profiles > Install.",
        "Windows 10/11:",
        f"  Copy {s}.ps1 to the PC; in PowerShell started with \"Run as administrator\":",
        f"    powershell -ExecutionPolicy Bypass -File .\\{s}.ps1",
        "  It installs the CA" + (" and the certificate" if cert else "") + " and adds the VPN with the server's"
        " cipher suite.",
        f"  Connect in Settings > Network & Internet > VPN > {p.display_name}"
        + (f" (user name {p.name}, the password {secret_hint})." if not cert else "."),
        "Android (strongSwan VPN Client app, from Google Play or F-Droid):",
        f"  Open {s}.sswan on the phone (or the app's menu > Import VPN profile)"
        + (f"; install the certificate with the password {secret_hint}." if cert else "."),
    ]
    native_ok = any(g in _ANDROID_NATIVE_GROUPS for prop in p.tunnel.ike for g in suites.parse(prop).groups)
    out += ["Android built-in VPN (Android 11 and newer; Settings > Network > VPN > Add), type it in:",
            f"  Type: {'IKEv2/IPSec RSA' if cert else 'IKEv2/IPSec MSCHAPv2'}",
            f"  Server address: {p.server.address}",
            f"  IPSec identifier: {p.name}"]
    if cert:
        out += [f"  IPSec user certificate: install {p.name}.p12 first (Settings > Security > Encryption &",
                f"    credentials > Install a certificate > VPN & app user certificate; password {secret_hint})",
                "  IPSec CA certificate: ca.pem (installed the same way, as a CA certificate)"]
    else:
        out += ["  IPSec CA certificate: ca.pem (Settings > Security > Install a certificate > CA certificate)",
                f"  Username: {p.name}", f"  Password: {secret_hint}"]
    out.append(f"  IPSec server certificate: received from server; server identity {p.server.identity}")
    if not native_ok:
        out.append("  (This server's IKE proposals offer no group Android's built-in client supports: "
                   "modp2048/3072/4096 or x25519. Use the strongSwan app.)")
    base = f"{LINUX_CERT_DIR}/{p.name}"
    files = "ca.pem cert.pem key.pem" if cert else "ca.pem"
    out += [
        "Linux desktop (NetworkManager with network-manager-strongswan), as root:",
        f"  install -d -m 0700 {base} && install -m 0600 {files} {base}/",
        f"  install -m 0600 {s}.nmconnection /etc/NetworkManager/system-connections/",
        f"  nmcli connection reload && nmcli connection up '{p.display_name}'",
        "Linux with strongSwan's swanctl, as root:",
        f"  install -m 0644 ca.pem /etc/swanctl/x509ca/{CLIENT_CA_NAME}",
    ]
    if cert:
        out.append(f"  install -m 0600 {p12_file_name(p)} /etc/swanctl/pkcs12/")
    out += [f"  install -m 0600 {s}.swanctl.conf /etc/swanctl/conf.d/",
            f"  swanctl --load-all && swanctl --initiate --child {p.swanctl_conn}"]
    return out


def _typed_section(r: ClientReadme, login: TypedLogin) -> list[str]:
    if login.kind == "xauth":
        out = ["", "== IKEv1 \"Cisco IPsec\" (XAUTH): no importable file, type these settings in ==",
               "iPhone, iPad: Settings > VPN > Add VPN Configuration > Type IPSec; Mac: System Settings > VPN >",
               "Add VPN Configuration > Cisco IPSec; Android (older versions): IPSec Xauth "
               + ("RSA" if login.auth == "cert" else "PSK") + "."]
    else:
        out = ["", "== L2TP/IPsec: no importable file, type these settings in ==",
               "Windows: Settings > Network & Internet > VPN > Add: VPN type \"L2TP/IPsec with "
               + ("pre-shared key" if login.auth == "psk" else "certificate") + "\";",
               "  behind NAT Windows also needs the registry value HKLM\\SYSTEM\\CurrentControlSet\\Services\\",
               "  PolicyAgent\\AssumeUDPEncapsulationContextOnSendRule = 2 (DWORD) and a reboot.",
               "Mac: System Settings > VPN > Add VPN Configuration > L2TP over IPSec; iPhone, iPad: Type L2TP;",
               "Android (older versions): L2TP/IPSec " + ("PSK" if login.auth == "psk" else "RSA") + "."]
    out += [f"  Server: {r.server_address}", f"  Account / user name: {r.name}",
            f"  Password: {login.password_hint}"]
    if login.auth == "psk":
        out += ["  Group name: (leave empty)" if login.kind == "xauth" else "",
                f"  Secret / pre-shared key: {login.psk_hint}"]
        out = [line for line in out if line]
    elif r.p12_password_hint is not None:
        out.append(f"  Certificate: {r.name} (from {r.name}.p12, password {r.p12_password_hint}; on Apple devices "
                   "installing the .mobileconfig installs it too)")
    else:
        out.append(f"  Certificate: this login also needs a client certificate named {r.name}: "
                   f"swan-wizard client add {r.name}")
    if login.proposals:
        out.append(f"  Cipher suites the server accepts: {', '.join(login.proposals)}")
    return out


def readme(r: ClientReadme) -> str:
    out = [f"Swan Wizard VPN for {r.name}",
           f"Server: {r.server_address} (its IKE identity: {r.server_identity})"]
    if r.cert is not None or r.eap is not None or r.p12_password_hint is not None:
        out += ["", "The files here hold private keys or passwords: hand them over only through a private channel",
                "(in person, an encrypted message) and delete the copies afterwards."]
    if r.revoked is not None:
        out += ["", f"REVOKED: the certificate of {r.name} (serial {r.revoked.serial}) was revoked on "
                    f"{r.revoked.revoked_at:%Y-%m-%d %H:%M} UTC;",
                "the server refuses it. `swan-wizard client renew " + r.name + "` issues a new one."]
    if r.cert is not None:
        assert r.p12_password_hint is not None
        out += ["", "== IKEv2 with a certificate ==",
                f"Certificate password (PKCS#12, {r.name}.p12): {r.p12_password_hint}.",
                *(f"Note: {note}." for note in r.notes),
                *_ikev2_sections(r.cert, r.p12_password_hint)]
    if r.eap is not None:
        assert r.eap_password_hint is not None
        out += ["", "== IKEv2 with user name and password (EAP-MSCHAPv2) ==",
                f"User name: {r.name}; password: {r.eap_password_hint} (the profiles below carry it, except "
                "on Windows).",
                *_ikev2_sections(r.eap, r.eap_password_hint)]
    for login in r.typed:
        out += _typed_section(r, login)
    for line in out:
        # Each value stands on the line written for it: a line break in one would forge instructions.
        formats.line_text(line, f"README.txt of {r.name}", "README.txt")
    return "\n".join(out) + "\n"
