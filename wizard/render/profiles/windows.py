"""Windows 10/11: a PowerShell script that installs the CA and the client certificate and adds the VPN.

Without Set-VpnConnectionIPsecConfiguration Windows offers only 3DES/SHA-1/MODP-1024 suites, which the
server refuses; the script therefore pins the one suite of the server's proposals Windows can name
(reference §4.2, §2.2). The certificates travel inside the script (base64), so it is one file to copy.
"""

from __future__ import annotations

import base64

from wizard.model import formats
from wizard.render.profiles import suites
from wizard.render.profiles.model import Profile


def ps_quote(text: str, field: str = "") -> str:
    """A PowerShell single-quoted string literal (wizard.model.formats.powershell_literal)."""
    return formats.powershell_literal(text, field)


def _here_string(variable: str, data: bytes) -> list[str]:
    # A single-quoted here-string keeps the base64 readable; whitespace is stripped before decoding.
    text = base64.b64encode(data).decode()
    return [f"${variable} = @'", *(text[i:i + 76] for i in range(0, len(text), 76)), "'@"]


def ipsec_parameters(profile: Profile) -> dict[str, str] | None:
    """Set-VpnConnectionIPsecConfiguration's six parameters, or None when Windows can match no proposal."""
    ike = suites.choose_ike(profile.tunnel.ike, suites.WINDOWS)
    esp = suites.choose_esp(profile.tunnel.esp, suites.WINDOWS)
    if ike is None or esp is None:
        return None
    w = suites.WINDOWS
    cipher = w.esp_encryption[esp.encryption]
    return {
        "EncryptionMethod": w.ike_encryption[ike.encryption],
        "IntegrityCheckMethod": w.ike_hash[ike.hash],
        "DHGroup": str(w.ike_groups[ike.group]),
        "CipherTransformConstants": cipher,
        # With GCM the cipher authenticates too: Windows names it again as the authentication transform.
        "AuthenticationTransformConstants": w.esp_integrity[esp.integrity] if esp.integrity else cipher,
        "PfsGroup": str(w.esp_groups[esp.group]) if esp.group else "None",
    }


def powershell(profile: Profile) -> str:
    server = profile.server
    cert = profile.cert
    lines = [
        f"# Swan Wizard: IKEv2 VPN to {server.address} for {profile.name}",
        "# Run it once in an elevated PowerShell (\"Run as administrator\"):",
        f"#   powershell -ExecutionPolicy Bypass -File .\\{profile.stem}.ps1",
        "# The VPN is added for all users of this PC (-AllUserConnection), like the certificates, which go to the",
        "# computer's stores: elevating with another administrator's account would otherwise put the connection in",
        "# that administrator's own list, not in the list of the user who runs the script.",
        "#Requires -RunAsAdministrator",
        "$ErrorActionPreference = 'Stop'",
        f"$Name = {ps_quote(profile.display_name, 'server.address')}",
        f"$Server = {ps_quote(server.address, 'server.address')}",
        "",
        "# The CA that signed the server's certificate (Windows looks for it in the computer's store)",
        *_here_string("CaBase64", server.ca_der),
    ]
    if cert is not None:
        lines += [
            "# The client certificate and key (PKCS#12, 3DES: the kind Windows imports)",
            *_here_string("P12Base64", cert.p12),
            f"$P12Password = ConvertTo-SecureString -String {ps_quote(cert.p12_password, 'p12_password')} "
            "-AsPlainText -Force",
        ]
    lines += [
        "",
        "$Work = New-Item -ItemType Directory -Path (Join-Path $env:TEMP ([guid]::NewGuid().ToString()))",
        "try {",
        "    $CaFile = Join-Path $Work 'ca.cer'",
        "    [IO.File]::WriteAllBytes($CaFile, [Convert]::FromBase64String(($CaBase64 -replace '\\s', '')))",
        "    Import-Certificate -FilePath $CaFile -CertStoreLocation Cert:\\LocalMachine\\Root | Out-Null",
    ]
    if cert is not None:
        lines += [
            "    $P12File = Join-Path $Work 'client.p12'",
            "    [IO.File]::WriteAllBytes($P12File, [Convert]::FromBase64String(($P12Base64 -replace '\\s', '')))",
            "    # Machine certificate authentication reads the computer's Personal store",
            "    Import-PfxCertificate -FilePath $P12File -CertStoreLocation Cert:\\LocalMachine\\My "
            "-Password $P12Password | Out-Null",
        ]
    lines += [
        "} finally {",
        "    Remove-Item -Recurse -Force $Work",
        "}",
        "",
        "# Re-running the script replaces the connection",
        "Get-VpnConnection -Name $Name -AllUserConnection -ErrorAction SilentlyContinue | "
        "Remove-VpnConnection -AllUserConnection -Force",
    ]
    add = ["Add-VpnConnection", "-Name $Name", "-ServerAddress $Server", "-TunnelType Ikev2",
           "-EncryptionLevel Required", "-AllUserConnection"]
    if cert is not None:
        add.append("-AuthenticationMethod MachineCertificate")
    else:
        # EAP-MSCHAPv2 is Add-VpnConnection's default EAP method: Windows asks for user name and password.
        add += ["-AuthenticationMethod Eap", "-RememberCredential"]
    if not profile.tunnel.full_tunnel:
        add.append("-SplitTunneling")
    lines.append(" ".join(add) + " | Out-Null")
    params = ipsec_parameters(profile)
    if params is None:
        lines += ["# The server's proposals offer no suite Windows can use: the connection will fail to",
                  "# negotiate. Add e.g. aes256gcm16-prfsha384-ecp384 to the server's IKE proposals."]
    else:
        lines.append("Set-VpnConnectionIPsecConfiguration -ConnectionName $Name "
                     + " ".join(f"-{k} {v}" for k, v in params.items()) + " -AllUserConnection -Force")
    if not profile.tunnel.full_tunnel:
        lines += [f"Add-VpnConnectionRoute -ConnectionName $Name -DestinationPrefix {ts} -AllUserConnection"
                  for ts in profile.tunnel.remote_ts]
    how = f"user name {profile.name} and its password" if profile.eap else "it authenticates with the certificate"
    lines.append(f"Write-Host \"VPN '$Name' added: connect in Settings > Network & Internet > VPN ({how}).\"")
    for line in lines:
        # Every value above is on its line alone: a line break in one would be a command of its own.
        formats.line_text(line, f"{profile.stem}.ps1", "a PowerShell script line")
    text = "\r\n".join(lines) + "\r\n"
    # Windows PowerShell 5.1 reads a script without BOM in the ANSI code page: mark UTF-8 when it matters.
    return text if text.isascii() else "\ufeff" + text
