"""Every path Swan Wizard reads or writes, relative to a root directory.

The engine names files by their absolute path on a live system (``/etc/swanctl/...``); ``Root``
maps such a path into the directory given with ``--root`` (``/`` on a live system), like DESTDIR.
Nothing else in the code base builds a filesystem path from a literal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from wizard.fs.safefs import check_no_links

# strongSwan, swanctl flavour (Debian: strongswan-swanctl + charon-systemd)
SWANCTL_DIR = PurePosixPath("/etc/swanctl")
SWANCTL_CONF_D = SWANCTL_DIR / "conf.d"
SWANCTL_X509CA = SWANCTL_DIR / "x509ca"
SWANCTL_X509 = SWANCTL_DIR / "x509"
SWANCTL_X509CRL = SWANCTL_DIR / "x509crl"
SWANCTL_PRIVATE = SWANCTL_DIR / "private"
SWANCTL_CONF = SWANCTL_CONF_D / "swan-wizard.conf"

STRONGSWAN_CONF = PurePosixPath("/etc/strongswan.conf")
STRONGSWAN_D = PurePosixPath("/etc/strongswan.d")
STRONGSWAN_SETTINGS = STRONGSWAN_D / "swan-wizard.conf"
# The eap-radius settings hold the RADIUS shared secrets: a file of their own, 0600 (the one above is 0644).
RADIUS_SETTINGS = STRONGSWAN_D / "swan-wizard-radius.conf"

# strongSwan, legacy flavour (strongswan-starter: ipsec.conf + ipsec.secrets, stroke)
IPSEC_CONF = PurePosixPath("/etc/ipsec.conf")
IPSEC_SECRETS = PurePosixPath("/etc/ipsec.secrets")
IPSEC_D = PurePosixPath("/etc/ipsec.d")
IPSEC_CACERTS = IPSEC_D / "cacerts"
IPSEC_CERTS = IPSEC_D / "certs"
IPSEC_PRIVATE = IPSEC_D / "private"
IPSEC_CRLS = IPSEC_D / "crls"

SYSCTL_CONF = PurePosixPath("/etc/sysctl.d/60-swan-wizard.conf")

# Firewall: Swan Wizard's own rules, beside the admin's (never a flush of anyone else's).
FIREWALL_DIR = PurePosixPath("/etc/swan-wizard/firewall")
NFT_RULES = FIREWALL_DIR / "swan-wizard.nft"
NFTABLES_CONF = PurePosixPath("/etc/nftables.conf")
IPTABLES_SCRIPT = FIREWALL_DIR / "iptables.sh"
IPTABLES_RESTORE = FIREWALL_DIR / "iptables.rules"
FIREWALL_UNIT = PurePosixPath("/etc/systemd/system/swan-wizard-firewall.service")
FIREWALLD_SERVICE = PurePosixPath("/etc/firewalld/services/swan-wizard.xml")
UFW_BEFORE_RULES = PurePosixPath("/etc/ufw/before.rules")
FIREWALL_STATE = PurePosixPath("/var/lib/swan-wizard/firewall.json")

# Swan Wizard's own files. The CA key lives here, outside every directory charon reads.
WIZARD_ETC = PurePosixPath("/etc/swan-wizard")
CA_DIR = WIZARD_ETC / "ca"
CA_KEY = CA_DIR / "ca.key"
CA_CERT = CA_DIR / "ca.pem"
CLIENTS_DIR = WIZARD_ETC / "clients"
PEERS_DIR = WIZARD_ETC / "peers"
SECRETS_DIR = WIZARD_ETC / "secrets"
# Secrets the admin typed in the wizard, one 0600 file each, written by apply. The answers reference them by
# this logical path, which is read under the root of the run (see model.secrets.SecretSource).
TYPED_SECRETS_DIR = SECRETS_DIR / "typed"
RADIUS_DIR = WIZARD_ETC / "radius"


def radius_client_snippet(server: str) -> PurePosixPath:
    """The FreeRADIUS clients.conf entry for the RADIUS server at ``server`` (an address or DNS name)."""
    return RADIUS_DIR / f"clients.{server}.conf"

# L2TP/IPsec (xl2tpd + pppd)
XL2TPD_CONF = PurePosixPath("/etc/xl2tpd/xl2tpd.conf")
PPP_OPTIONS_XL2TPD = PurePosixPath("/etc/ppp/options.xl2tpd")
PPP_CHAP_SECRETS = PurePosixPath("/etc/ppp/chap-secrets")

WIZARD_STATE = PurePosixPath("/var/lib/swan-wizard")
BACKUPS_DIR = WIZARD_STATE / "backups"
# The one lock of every command that changes the root (apply, client, rollback, uninstall; see apply.lock).
LOCK_FILE = WIZARD_STATE / "apply.lock"
JOURNAL_FILE = WIZARD_STATE / "apply-journal.json"
# The service commands of an apply that have not all succeeded yet: the next apply runs them again.
PENDING_COMMANDS = WIZARD_STATE / "pending-commands.json"

# The CRL of revoked client certificates, where each layout's charon loads CRLs from.
CRL_NAME = "swan-wizard.crl"
SWANCTL_CRL = SWANCTL_X509CRL / CRL_NAME
IPSEC_CRL = IPSEC_CRLS / CRL_NAME

CHARON_LOG = PurePosixPath("/var/log/swan-wizard/charon.log")
VICI_SOCKET = PurePosixPath("/run/charon.vici")

# File names inside strongSwan's directories (shared by both layouts).
CA_CERT_NAME = "swan-wizard-ca.pem"
HOST_CERT_NAME = "vpn-host.pem"
HOST_KEY_NAME = "vpn-host.key"


def client_dir(name: str) -> PurePosixPath:
    return CLIENTS_DIR / name


@dataclass(frozen=True)
class Root:
    """A directory that stands for ``/``: the live system, a test tree or an image being built."""

    path: Path
    # Directories below the root already found to be real directories (not links): see __call__.
    _verified: set[str] = field(default_factory=set, compare=False, repr=False, kw_only=True)

    @classmethod
    def of(cls, root: str | Path | None) -> Root:
        return cls(Path(root or "/").resolve())

    @property
    def is_live(self) -> bool:
        return self.path == Path("/")

    def __call__(self, logical: PurePosixPath | str) -> Path:
        """The real location of a logical absolute path under this root.

        A symbolic link at the path or at any directory above it (below the root) raises LinkRefused:
        nothing the wizard reads or writes is reached through a link. Writes do not rely on this check
        alone (it is made before the file is used): they go through ``safefs.Tree``.
        """
        text = str(PurePosixPath(logical))  # normalised: no "//", no trailing "/"
        if not text.startswith("/"):
            raise ValueError(f"not an absolute path: {logical}")
        if "/.." in text and ".." in text.split("/"):
            raise ValueError(f"not a path under the root: {logical}")
        return Path(check_no_links(self.path, text, self._verified))

    def forget_checks(self) -> None:
        """Check every directory again (a run that takes the lock starts from what is on disk now)."""
        self._verified.clear()
