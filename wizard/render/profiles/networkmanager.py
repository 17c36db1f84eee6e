"""Linux desktops: a NetworkManager-strongswan keyfile (.nmconnection).

Keys as charon-nm 5.9.8 reads them (reference §4.4). NetworkManager wants files, not a PKCS#12: the
certificate profile points at PEM files the README has the user copy to LINUX_CERT_DIR.
"""

from __future__ import annotations

from wizard.render.profiles.model import LINUX_CERT_DIR, Profile


def cert_dir(profile: Profile) -> str:
    return f"{LINUX_CERT_DIR}/{profile.name}"


def sections(profile: Profile) -> dict[str, dict[str, str]]:
    server = profile.server
    base = cert_dir(profile)
    vpn = {
        "service-type": "org.freedesktop.NetworkManager.strongswan",
        "address": server.address,
        "certificate": f"{base}/ca.pem",
        "remote-identity": server.identity,
        "virtual": "yes",
        "encap": "no",
        "ipcomp": "no",
        # Proposals as the server has them; charon-nm separates proposals with ";".
        "proposal": "yes",
        "ike": ";".join(profile.tunnel.ike),
        "esp": ";".join(profile.tunnel.esp),
    }
    if not profile.tunnel.full_tunnel:
        vpn["remote-ts"] = ";".join(profile.tunnel.remote_ts)
    out: dict[str, dict[str, str]] = {
        "connection": {"id": profile.display_name, "uuid": profile.uuid("nm").lower(), "type": "vpn",
                       "autoconnect": "false"},
        "vpn": vpn,
    }
    if profile.cert is not None:
        vpn.update({"method": "cert", "cert-source": "file", "local-identity": profile.name,
                    "usercert": f"{base}/cert.pem", "userkey": f"{base}/key.pem"})
        # The key file is not encrypted: no secret to ask for.
        vpn["password-flags"] = "4"
    else:
        assert profile.eap is not None
        vpn.update({"method": "eap", "user": profile.name, "password-flags": "0"})
        out["vpn-secrets"] = {"password": profile.eap.password}
    out["ipv4"] = {"method": "auto"}
    out["ipv6"] = {"method": "auto"} if profile.tunnel.virtual_ip == "::" else {"method": "ignore"}
    return out


def keyfile_value(value: str) -> str:
    """GKeyFile string escaping: a backslash, line breaks and a leading space would change the value."""
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return "\\s" + escaped[1:] if escaped.startswith(" ") else escaped


def nmconnection(profile: Profile) -> str:
    blocks = []
    for section, values in sections(profile).items():
        body = "".join(f"{key}={keyfile_value(value)}\n" for key, value in values.items())
        blocks.append(f"[{section}]\n{body}")
    return "\n".join(blocks)
