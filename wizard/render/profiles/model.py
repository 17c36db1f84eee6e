"""What every client profile is made from: the server as a client sees it, and one login.

Built once per client from the same answers, materials and connection specs the server configuration
is rendered from (``wizard.render.connections``), so a profile names exactly the identity, proposals and
traffic selectors the server uses.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from wizard.pki.keytypes import KeyType

# Paths on the *client's* machine that the Linux profiles refer to (not paths of this server).
LINUX_CERT_DIR = "/etc/swan-wizard-client"
SWANCTL_CONN = "swan-wizard"  # connection and child name in the swanctl client configuration


def common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


@dataclass(frozen=True)
class ServerView:
    """The server as every profile describes it."""

    address: str  # what clients dial
    identity: str  # the server's IKE identity (its local.id, in its certificate's SAN)
    ca_cert: x509.Certificate
    host_cert: x509.Certificate

    @property
    def ca_der(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.DER)

    @property
    def ca_name(self) -> str:
        return common_name(self.ca_cert.subject) or "Swan Wizard CA"

    @property
    def host_cn(self) -> str:
        return common_name(self.host_cert.subject)

    @property
    def namespace(self) -> uuid.UUID:
        # Every UUID in a profile derives from the CA and the client: a re-export (new server address,
        # renewed certificate) keeps them, so importing the new profile replaces the old one.
        digest = hashlib.sha256(self.ca_der).hexdigest()
        return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:swan-wizard:ca:{digest}")

    @property
    def ca_tag(self) -> str:
        return hashlib.sha256(self.ca_der).hexdigest()[:12]


@dataclass(frozen=True)
class Tunnel:
    """One IKEv2 road-warrior connection of the server, from the client's side."""

    conn: str  # the server's connection name (shows in its log)
    ike: tuple[str, ...]  # the server's proposals, in its order
    esp: tuple[str, ...]
    remote_ts: tuple[str, ...]  # the server's local_ts: what the client routes into the tunnel
    virtual_ip: str  # what the client asks for: 0.0.0.0 or ::

    @property
    def full_tunnel(self) -> bool:
        return any(ipaddress.ip_network(ts).prefixlen == 0 for ts in self.remote_ts)


@dataclass(frozen=True)
class CertLogin:
    p12: bytes
    p12_password: str
    cert: x509.Certificate
    cert_pem: bytes
    key_pem: bytes
    key_type: KeyType


@dataclass(frozen=True)
class EapLogin:
    password: str


@dataclass(frozen=True)
class Profile:
    """One importable connection for one client: certificate or EAP login."""

    name: str  # the client's IKE identity (certificate SAN) or EAP user name
    server: ServerView
    tunnel: Tunnel
    cert: CertLogin | None = None
    eap: EapLogin | None = None
    on_demand: bool = False

    def __post_init__(self) -> None:
        if (self.cert is None) == (self.eap is None):
            raise ValueError("a profile has exactly one login: a certificate or EAP")

    @property
    def kind(self) -> Literal["cert", "eap"]:
        return "cert" if self.cert is not None else "eap"

    @property
    def stem(self) -> str:
        """File name stem: the client's name, marked for EAP so both kinds can share a directory."""
        return self.name if self.kind == "cert" else f"{self.name}-eap"

    @property
    def display_name(self) -> str:
        return self.server.address if self.kind == "cert" else f"{self.server.address} (EAP)"

    @property
    def swanctl_conn(self) -> str:
        return SWANCTL_CONN if self.kind == "cert" else f"{SWANCTL_CONN}-eap"

    def uuid(self, what: str) -> str:
        return str(uuid.uuid5(self.server.namespace, f"{self.kind}:{self.name}:{what}")).upper()

    def identifier(self, what: str) -> str:
        """A reverse-DNS style identifier (Apple PayloadIdentifier), stable like uuid()."""
        safe = re.sub(r"[^A-Za-z0-9-]", "-", self.name)
        return f"invalid.swan-wizard.{self.server.ca_tag}.{self.kind}.{safe}.{what}"
