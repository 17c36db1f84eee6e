"""Every path Swan Wizard reads or writes, relative to a root directory.

The engine names files by their absolute path on a live system (``/etc/swanctl/...``); ``Root``
maps such a path into the directory given with ``--root`` (``/`` on a live system), like DESTDIR.
Nothing else in the code base builds a filesystem path from a literal.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from wizard.fs.safefs import check_no_links

# What identifies one version of a file's content without reading it: inode, size, mtime and ctime (ns).
Stamp = tuple[int, int, int, int, int]
# A file changed within this long before it was read may change again within the same timestamp tick
# (filesystem clocks are coarse), so its stamp does not vouch for its content.
_RACY_NS = 1_000_000_000


def stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

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
# The authority (swanctl.conf, vici) through which charon fetches a CRL too big to be handed over by vici.
CRL_AUTHORITY = "swan-wizard-crl"
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
    # Files read through read_bytes since the last forget_checks: their stamp and content, so that the
    # comparison of a plan with the disk need not read an unchanged file a second time.
    _seen: dict[str, tuple[Stamp, bytes]] = field(default_factory=dict, compare=False, repr=False, kw_only=True)

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
        return Path(self.locate(logical)[1])

    def locate(self, logical: PurePosixPath | str) -> tuple[str, str]:
        """(logical, real) as text, checked as ``__call__`` describes: what every lookup goes through."""
        # A PurePosixPath is normalised already (no "//", no trailing "/"); building one costs more than the rest.
        text = str(logical) if isinstance(logical, PurePosixPath) else str(PurePosixPath(logical))
        if not text.startswith("/"):
            raise ValueError(f"not an absolute path: {logical}")
        if "/.." in text and ".." in text.split("/"):
            raise ValueError(f"not a path under the root: {logical}")
        return text, check_no_links(self.path, text, self._verified)

    def read_bytes(self, logical: PurePosixPath | str, limit: int | None = None) -> bytes | None:
        """A regular file's content, read without following a link (None: missing, not a regular file, or
        larger than ``limit`` bytes).

        The content is remembered with the file's stamp: ``unchanged`` can then tell, with one lstat, that the
        file still holds it."""
        text, real = self.locate(logical)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
                return None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (limit is not None and st.st_size > limit):
                return None
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        if limit is not None and len(data) > limit:
            return None  # it grew while being read
        if len(data) == st.st_size and st.st_ctime_ns < time.time_ns() - _RACY_NS:
            self._seen[text] = (stamp_of(st), data)
        return data

    def unchanged(self, logical: PurePosixPath, content: bytes) -> os.stat_result | None:
        """The file's status when ``read_bytes`` found ``content`` there (since the last ``forget_checks``) and
        its stamp says it still holds it: one lstat instead of a second read. None: read it to know."""
        seen = self._seen.get(str(logical))
        if seen is None or seen[1] != content:
            return None
        try:
            st = os.lstat(f"{'' if str(self.path) == '/' else self.path}{logical}")
        except OSError:
            return None
        return st if stat.S_ISREG(st.st_mode) and stamp_of(st) == seen[0] else None

    def forget_checks(self) -> None:
        """Check every directory again (a run that takes the lock starts from what is on disk now)."""
        self._verified.clear()
        self._seen.clear()
