"""Android: a strongSwan VPN Client app profile (.sswan, JSON), with the PKCS#12 and the CA embedded.

Keys as the app's VpnProfileImportActivity parses them (reference §4.3). Android's built-in IKEv2
client cannot import files; the README lists what to type into it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from wizard.render.profiles.model import Profile


def document(profile: Profile) -> dict[str, Any]:
    server = profile.server
    doc: dict[str, Any] = {
        # Same UUID on every export: importing the new file replaces the old profile in the app.
        "uuid": profile.uuid("sswan").lower(),
        "name": profile.display_name,
        "type": "ikev2-cert" if profile.kind == "cert" else "ikev2-eap",
        "remote": {
            "addr": server.address,
            "id": server.identity,
            # The app keeps this CA in its own store and trusts the server's certificate through it.
            "cert": base64.b64encode(server.ca_der).decode(),
        },
        "local": {},
        # The app takes one proposal each; the server's first one is accepted as it is.
        "ike-proposal": profile.tunnel.ike[0],
        "esp-proposal": profile.tunnel.esp[0],
    }
    if profile.cert is not None:
        # The app offers the PKCS#12 for installation into the Android KeyChain (it asks for the password).
        doc["local"] = {"id": profile.name, "p12": base64.b64encode(profile.cert.p12).decode()}
    else:
        assert profile.eap is not None
        doc["local"] = {"eap_id": profile.name, "shared_secret": profile.eap.password}
    if not profile.tunnel.full_tunnel:
        doc["split-tunneling"] = {"subnets": list(profile.tunnel.remote_ts)}
    return doc


def sswan(profile: Profile) -> bytes:
    return (json.dumps(document(profile), indent=2) + "\n").encode()
