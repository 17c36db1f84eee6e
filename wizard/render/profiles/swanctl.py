"""Linux with strongSwan: a swanctl.conf client connection (reference §4.5).

The certificate profile loads the client's key and certificate from its PKCS#12 (``secrets.pkcs12``),
so the files to install are this one, the .p12 and the CA: the README says where each goes.
"""

from __future__ import annotations

from typing import Any

from wizard.fs import paths
from wizard.render.confsyntax import render_settings
from wizard.render.profiles.model import Profile

# The CA file name in the client's /etc/swanctl/x509ca/ (pinned by remote.cacerts).
CLIENT_CA_NAME = paths.CA_CERT_NAME


def p12_file_name(profile: Profile) -> str:
    return f"{profile.name}.p12"


def tree(profile: Profile) -> dict[str, Any]:
    server = profile.server
    local: dict[str, Any]
    secrets: dict[str, Any]
    if profile.cert is not None:
        # No local.certs: charon finds the certificate by the identity among those the PKCS#12 loaded.
        local = {"auth": "pubkey", "id": profile.name}
        secrets = {f"pkcs12-{profile.swanctl_conn}": {"file": p12_file_name(profile),
                                                      "secret": profile.cert.p12_password}}
    else:
        assert profile.eap is not None
        local = {"auth": "eap-mschapv2", "eap_id": profile.name}
        secrets = {f"eap-{profile.swanctl_conn}": {"id": profile.name, "secret": profile.eap.password}}
    conn = {
        "version": 2,
        "remote_addrs": server.address,
        # The server hands out an address from its pool and refuses clients that ask for none.
        "vips": profile.tunnel.virtual_ip,
        "proposals": list(profile.tunnel.ike),
        "dpd_delay": "60s",
        "local": local,
        "remote": {"auth": "pubkey", "id": server.identity, "cacerts": CLIENT_CA_NAME},
        "children": {
            profile.swanctl_conn: {
                "remote_ts": list(profile.tunnel.remote_ts),
                "esp_proposals": list(profile.tunnel.esp),
                "dpd_action": "restart",
            },
        },
    }
    return {"connections": {profile.swanctl_conn: conn}, "secrets": secrets}


def swanctl_conf(profile: Profile) -> str:
    header = (f"# Swan Wizard: IKEv2 VPN to {profile.server.address} for {profile.name}.\n"
              f"# Goes to /etc/swanctl/conf.d/; connect with: swanctl --initiate --child {profile.swanctl_conn}\n")
    return header + render_settings(tree(profile))
