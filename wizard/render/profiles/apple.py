"""Apple (iOS, iPadOS, macOS): an IKEv2 .mobileconfig with the VPN, the client's PKCS#12 and the CA.

Field names follow Apple's VPN.IKEv2 dictionary (reference §4.1); the file is written with plistlib,
so the structure is a real property list that the Settings app and ``plutil -lint`` accept.
"""

from __future__ import annotations

import plistlib
from typing import Any

from wizard.model import formats
from wizard.pki.keytypes import KeyType
from wizard.render.profiles import suites
from wizard.render.profiles.model import Profile

# IKE and Child SA lifetimes: Apple's ceiling (24 h). The server never rekeys (rekey_time = 0s by
# default), so the client's lifetimes are the ones that apply.
LIFETIME_MINUTES = 1440

_CERT_TYPE = {KeyType.ECDSA_P256: "ECDSA256", KeyType.ECDSA_P384: "ECDSA384", KeyType.ED25519: "Ed25519"}


class NoSuite(ValueError):
    """The server's proposals offer nothing the platform can configure."""


def sa_parameters(profile: Profile) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(IKE SA parameters, Child SA parameters, EnablePFS) matching the server's proposals."""
    ike = suites.choose_ike(profile.tunnel.ike, suites.APPLE)
    esp = suites.choose_esp(profile.tunnel.esp, suites.APPLE)
    if ike is None or esp is None:
        raise NoSuite("the server's proposals offer no suite Apple devices support")
    p = suites.APPLE
    ike_params = {
        "EncryptionAlgorithm": p.ike_encryption[ike.encryption],
        "IntegrityAlgorithm": p.ike_hash[ike.hash],
        "DiffieHellmanGroup": p.ike_groups[ike.group],
        "LifeTimeInMinutes": LIFETIME_MINUTES,
    }
    # An AEAD child SA has no integrity algorithm; Apple still wants the key, so it repeats the IKE hash.
    child_integrity = p.esp_integrity[esp.integrity] if esp.integrity else p.ike_hash[ike.hash]
    child_group = esp.group or ike.group
    child_params = {
        "EncryptionAlgorithm": p.esp_encryption[esp.encryption],
        "IntegrityAlgorithm": child_integrity,
        "DiffieHellmanGroup": p.esp_groups.get(child_group, p.ike_groups[ike.group]),
        "LifeTimeInMinutes": LIFETIME_MINUTES,
    }
    return ike_params, child_params, esp.group is not None


def vpn_payload(profile: Profile, p12_uuid: str | None) -> dict[str, Any]:
    ike_params, child_params, pfs = sa_parameters(profile)
    server = profile.server
    ikev2: dict[str, Any] = {
        "RemoteAddress": server.address,
        # What the server sends as its identity (its local.id): the client checks it against this.
        "RemoteIdentifier": server.identity,
        "LocalIdentifier": profile.name,
        # Makes the device send a certificate request naming our CA, and check the server's issuer.
        "ServerCertificateIssuerCommonName": server.ca_name,
        "ServerCertificateCommonName": server.host_cn,
        "IKESecurityAssociationParameters": ike_params,
        "ChildSecurityAssociationParameters": child_params,
        "EnablePFS": int(pfs),
        "DeadPeerDetectionRate": "Medium",
        "DisableMOBIKE": 0,
        "DisableRedirect": 0,
        # The certificates carry no CRL distribution point: a mandatory check would always fail.
        "EnableCertificateRevocationCheck": 0,
        "UseConfigurationAttributeInternalIPSubnet": 0,
    }
    if profile.cert is not None:
        assert p12_uuid is not None
        ikev2["AuthenticationMethod"] = "Certificate"
        ikev2["PayloadCertificateUUID"] = p12_uuid
        ikev2["CertificateType"] = _CERT_TYPE.get(profile.cert.key_type, "RSA")
    else:
        assert profile.eap is not None
        # EAP only: method None plus ExtendedAuthEnabled (else the device falls back to a shared secret).
        ikev2["AuthenticationMethod"] = "None"
        ikev2["ExtendedAuthEnabled"] = 1
        ikev2["AuthName"] = profile.name
        ikev2["AuthPassword"] = formats.xml_text(profile.eap.password, f"{profile.name}: EAP password")
    if profile.on_demand:
        ikev2["OnDemandEnabled"] = 1
        ikev2["OnDemandRules"] = [{"Action": "Connect"}]
    return {
        "PayloadType": "com.apple.vpn.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": profile.identifier("vpn"),
        "PayloadUUID": profile.uuid("vpn"),
        "PayloadDisplayName": f"VPN {profile.display_name}",
        "PayloadDescription": f"IKEv2 VPN to {server.address} as {profile.name}",
        "UserDefinedName": profile.display_name,
        "VPNType": "IKEv2",
        "IKEv2": ikev2,
        # A full tunnel takes the default route; a split tunnel leaves it and routes the server's subnets.
        "IPv4": {"OverridePrimary": int(profile.tunnel.full_tunnel)},
    }


def mobileconfig(profile: Profile) -> bytes:
    server = profile.server
    ca_payload = {
        "PayloadType": "com.apple.security.root",
        "PayloadVersion": 1,
        "PayloadIdentifier": profile.identifier("ca"),
        "PayloadUUID": profile.uuid("ca"),
        "PayloadDisplayName": server.ca_name,
        "PayloadCertificateFileName": "ca.cer",
        "PayloadContent": server.ca_der,
    }
    content: list[dict[str, Any]] = []
    p12_uuid = None
    if profile.cert is not None:
        p12_uuid = profile.uuid("pkcs12")
        content.append({
            "PayloadType": "com.apple.security.pkcs12",
            "PayloadVersion": 1,
            "PayloadIdentifier": profile.identifier("pkcs12"),
            "PayloadUUID": p12_uuid,
            "PayloadDisplayName": profile.name,
            "PayloadDescription": "Adds the client certificate and key (PKCS#12)",
            "PayloadCertificateFileName": f"{profile.name}.p12",
            "PayloadContent": profile.cert.p12,
            # With the password in the payload the profile installs without asking for it.
            "Password": formats.xml_text(profile.cert.p12_password, f"{profile.name}: p12_password"),
        })
    content = [vpn_payload(profile, p12_uuid), *content, ca_payload]
    document = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": profile.identifier("profile"),
        "PayloadUUID": profile.uuid("profile"),
        "PayloadDisplayName": f"VPN {profile.display_name}",
        "PayloadDescription": f"IKEv2 VPN to {server.address} for {profile.name} (made by Swan Wizard)",
        "PayloadRemovalDisallowed": False,
        "PayloadContent": content,
    }
    return plistlib.dumps(document, fmt=plistlib.FMT_XML, sort_keys=True)
