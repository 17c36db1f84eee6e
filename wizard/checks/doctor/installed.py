"""The configuration as installed under a root, in one shape for both layouts.

``apply`` writes either /etc/swanctl/conf.d/swan-wizard.conf or /etc/ipsec.conf + /etc/ipsec.secrets;
an admin may have edited either since. The checks read connections, identities, certificates,
proposals and pools from here, each with the file and line it came from.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from wizard.checks.doctor.confparse import (
    KEY_KINDS,
    Globber,
    Loc,
    Reader,
    SecretEntry,
    Section,
    Setting,
    SyntaxProblem,
    parse_ipsec_conf,
    parse_ipsec_secrets,
    parse_settings,
    root_reader,
    split_list,
)
from wizard.fs import paths
from wizard.fs.paths import Root

Layout = Literal["swanctl", "ipsec"]


@dataclass(frozen=True)
class Child:
    name: str
    esp_proposals: tuple[str, ...] | None  # None: charon's default
    esp_loc: Loc | None
    local_ts: tuple[str, ...]
    mode: str


@dataclass(frozen=True)
class Conn:
    name: str
    loc: Loc
    version: int  # 1 or 2; 0 = either (ipsec.conf keyexchange=ike)
    local_addrs: tuple[str, ...]
    remote_addrs: tuple[str, ...]
    local_id: Setting | None
    local_auth: str
    local_certs: tuple[PurePosixPath, ...]  # logical paths
    certs_loc: Loc | None
    remote_auth: str
    remote_cacerts: tuple[PurePosixPath, ...]  # logical paths (ipsec.conf rightca DNs are resolved later)
    remote_ca_dn: str | None  # ipsec.conf rightca
    ike_proposals: tuple[str, ...] | None  # None: charon's default; with "default" keyword kept in the list
    ike_loc: Loc | None
    pools: tuple[str, ...]  # pool names (swanctl) or rightsourceip entries (ipsec.conf: ranges, %dhcp, ...)
    children: tuple[Child, ...]

    @property
    def road_warrior(self) -> bool:
        """Accepts clients from anywhere (the VPN server case), as opposed to a fixed peer."""
        return not self.remote_addrs or any(a in ("%any", "%any4", "%any6", "0.0.0.0/0", "::/0")
                                            for a in self.remote_addrs)


@dataclass(frozen=True)
class Pool:
    name: str
    addrs: tuple[str, ...]  # networks or ranges as written
    loc: Loc

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for text in self.addrs:
            try:
                if "-" in text:
                    first, last = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
                    out += list(ipaddress.summarize_address_range(first, last))
                else:
                    out.append(ipaddress.ip_network(text, strict=False))
            except (ValueError, TypeError):
                continue
        return out


@dataclass(frozen=True)
class SecretValue:
    """A secret held in a configuration file (for the support bundle's redaction and permission checks)."""

    loc: Loc
    name: str
    value: str


@dataclass
class Installed:
    layout: Layout | None
    files: list[PurePosixPath] = field(default_factory=list)  # configuration files read
    conns: list[Conn] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    secrets: list[SecretValue] = field(default_factory=list)
    secret_entries: list[SecretEntry] = field(default_factory=list)  # ipsec.secrets lines
    problems: list[SyntaxProblem] = field(default_factory=list)
    tree: Section | None = None  # swanctl: the parsed tree (all files merged)
    settings: Section | None = None  # strongswan.conf + strongswan.d merged

    def conn(self, name: str) -> Conn | None:
        return next((c for c in self.conns if c.name == name), None)

    def pool_families(self) -> frozenset[int] | None:
        """The IP versions (4, 6) the connections' pools hand out; None when that cannot be known here.

        charon's dhcp plugin hands out IPv4 addresses only; a pool from elsewhere (radius, attr-sql) or a
        configuration that was not read is unknown, never "no pool".
        """
        if self.layout is None or not self.conns:
            return None
        by_name = {p.name: p for p in self.pools}
        families: set[int] = set()
        for conn in self.conns:
            for ref in conn.pools:
                pool = by_name.get(ref) or Pool(ref, (ref,), conn.loc)  # ipsec.conf: the range itself
                networks = pool.networks()
                if ref in ("dhcp", "%dhcp"):
                    families.add(4)
                elif not networks:
                    return None
                families |= {n.version for n in networks}
        return frozenset(families)

    @property
    def local_ids(self) -> list[str]:
        return list(dict.fromkeys(c.local_id.value for c in self.conns if c.local_id))

    def plugin_loaded(self, name: str) -> bool | None:
        """What strongswan.conf says about ``charon.plugins.<name>.load`` (None: not said)."""
        if self.settings is None:
            return None
        for ns in ("charon-systemd", "charon"):
            plugin = self.settings.section(ns, "plugins", name)
            value = plugin.get("load") if plugin else None
            if value is not None:
                return value.strip().lower() not in ("no", "false", "0", "disabled")
        return None


def detect_layout(root: Root, wanted: str | None = None) -> Layout | None:
    if wanted == "swanctl":
        return "swanctl"
    if wanted == "ipsec":
        return "ipsec"
    if root(paths.SWANCTL_CONF).is_file():
        return "swanctl"
    if root(paths.IPSEC_CONF).is_file():
        # The distribution's file has only commented examples and maybe "conn %default".
        text = root(paths.IPSEC_CONF).read_text(errors="replace")
        if re.search(r"^conn +(?!%default\b)\S", text, re.MULTILINE):
            return "ipsec"
    return None


def read_installed(root: Root, layout: str | None = None) -> Installed:
    read, expand = root_reader(root.path)
    found = detect_layout(root, layout)
    installed = Installed(found)
    installed.settings = _read_settings(read, expand, installed)
    if found == "swanctl":
        _read_swanctl(root, read, expand, installed)
    elif found == "ipsec":
        _read_ipsec(read, expand, installed)
    return installed


def _read_settings(read: Reader, expand: Globber, installed: Installed) -> Section | None:
    if read(paths.STRONGSWAN_CONF) is not None:
        tree, _ = parse_settings(paths.STRONGSWAN_CONF, read, expand)
        return tree
    # A staged root often has only Swan Wizard's own file: what it says is what matters.
    tree = Section("", Loc(str(paths.STRONGSWAN_D), 0))
    for conf in expand(paths.STRONGSWAN_D / "*.conf"):
        parse_settings(conf, read, expand, _into=tree)
    return tree


def _swanctl_main(root: Root) -> PurePosixPath:
    main = paths.SWANCTL_DIR / "swanctl.conf"
    return main if root(main).is_file() else paths.SWANCTL_CONF


def _read_swanctl(root: Root, read: Reader, expand: Globber, installed: Installed) -> None:
    main = _swanctl_main(root)
    files: list[PurePosixPath] = []

    def tracking_read(path: PurePosixPath) -> str | None:
        text = read(path)
        if text is not None:
            files.append(path)
        return text

    tree, problems = parse_settings(main, tracking_read, expand)
    installed.tree = tree
    installed.files = files
    installed.problems += problems
    for name, conn in _subsections(tree, "connections"):
        installed.conns.append(_swanctl_conn(name, conn))
    for name, pool in _subsections(tree, "pools"):
        addrs = pool.values.get("addrs")
        if addrs:
            installed.pools.append(Pool(name, tuple(split_list(addrs.value)), addrs.loc))
    for name, secret in _subsections(tree, "secrets"):
        for key, setting in secret.values.items():
            if key == "secret" or key.startswith("secret"):
                installed.secrets.append(SecretValue(setting.loc, name, setting.value))


def _subsections(tree: Section, name: str) -> list[tuple[str, Section]]:
    """The sections inside ``tree``'s section ``name``; none when it is missing."""
    section = tree.section(name)
    return list(section.sections.items()) if section else []


def _rounds(conn: Section, prefix: str) -> list[Section]:
    return [s for n, s in sorted(conn.sections.items()) if n == prefix or n.startswith(prefix + "-")]


def _swanctl_file(name: str, directory: PurePosixPath) -> PurePosixPath:
    return PurePosixPath(name) if name.startswith("/") else directory / name


def _swanctl_conn(name: str, conn: Section) -> Conn:
    locals_ = _rounds(conn, "local")
    remotes = _rounds(conn, "remote")
    first_local = locals_[0] if locals_ else Section("local", conn.loc)
    first_remote = remotes[0] if remotes else Section("remote", conn.loc)
    certs = first_local.values.get("certs")
    cacerts = first_remote.values.get("cacerts")
    proposals = conn.values.get("proposals")
    children = []
    for child_name, child in _subsections(conn, "children"):
        esp = child.values.get("esp_proposals")
        children.append(Child(child_name, tuple(split_list(esp.value)) if esp else None, esp.loc if esp else None,
                              tuple(split_list(child.get("local_ts"))), child.get("mode") or "tunnel"))
    version = (conn.get("version") or "0").strip()
    return Conn(
        name=name, loc=conn.loc, version=int(version) if version in ("1", "2") else 0,
        local_addrs=tuple(split_list(conn.get("local_addrs"))),
        remote_addrs=tuple(split_list(conn.get("remote_addrs"))),
        local_id=first_local.values.get("id"),
        local_auth=first_local.get("auth") or "pubkey",
        local_certs=tuple(_swanctl_file(c, paths.SWANCTL_X509) for c in split_list(certs.value if certs else None)),
        certs_loc=certs.loc if certs else None,
        remote_auth=first_remote.get("auth") or "pubkey",
        remote_cacerts=tuple(_swanctl_file(c, paths.SWANCTL_X509CA)
                             for c in split_list(cacerts.value if cacerts else None)),
        remote_ca_dn=None,
        ike_proposals=tuple(split_list(proposals.value)) if proposals else None,
        ike_loc=proposals.loc if proposals else None,
        pools=tuple(split_list(conn.get("pools"))),
        children=tuple(children),
    )


def _ipsec_proposals(setting: Setting | None) -> tuple[str, ...] | None:
    if setting is None:
        return None
    text = setting.value.strip()
    strict = text.endswith("!")
    items = tuple(split_list(text.rstrip("!")))
    # Without "!" charon appends its defaults (reference §1.6).
    return items if strict else (*items, "default")


def _read_ipsec(read: Reader, expand: Globber, installed: Installed) -> None:
    conns, _setup, problems = parse_ipsec_conf(paths.IPSEC_CONF, read, expand)
    installed.files.append(paths.IPSEC_CONF)
    installed.problems += problems
    for name, conn in conns.items():
        if (conn.get("auto") or "ignore") == "ignore":
            continue
        leftid = conn.options.get("leftid")
        if leftid is not None:
            leftid = Setting(leftid.value.removeprefix("@"), leftid.loc)
        leftcert = conn.options.get("leftcert")
        sourceip = conn.get("rightsourceip")
        pools = tuple(split_list(sourceip))
        for i, pool in enumerate(p for p in pools if not p.startswith("%")):
            installed.pools.append(Pool(f"{name}-{i}", (pool,), conn.options["rightsourceip"].loc))
        version = {"ikev1": 1, "ikev2": 2}.get((conn.get("keyexchange") or "ike").lower(), 0)
        esp = conn.options.get("esp")
        installed.conns.append(Conn(
            name=name, loc=conn.loc, version=version,
            local_addrs=tuple(split_list(conn.get("left"))), remote_addrs=tuple(split_list(conn.get("right"))),
            local_id=leftid, local_auth=conn.get("leftauth") or "pubkey",
            local_certs=tuple(_swanctl_file(c, paths.IPSEC_CERTS) for c in split_list(leftcert.value))
            if leftcert else (),
            certs_loc=leftcert.loc if leftcert else None,
            remote_auth=conn.get("rightauth") or "pubkey", remote_cacerts=(),
            remote_ca_dn=conn.get("rightca"),
            ike_proposals=_ipsec_proposals(conn.options.get("ike")),
            ike_loc=conn.options["ike"].loc if "ike" in conn.options else None,
            pools=pools,
            children=(Child(name, _ipsec_proposals(esp), esp.loc if esp else None,
                            tuple(split_list(conn.get("leftsubnet"))), conn.get("type") or "tunnel"),),
        ))
    if read(paths.IPSEC_SECRETS) is not None:
        entries, bad = parse_ipsec_secrets(paths.IPSEC_SECRETS, read, expand)
        installed.files.append(paths.IPSEC_SECRETS)
        installed.secret_entries = entries
        installed.problems += bad
        installed.secrets += [SecretValue(e.loc, e.kind, e.value) for e in entries if e.kind not in KEY_KINDS]
        # A passphrase after a key file name is a secret too.
        for e in entries:
            if e.kind in KEY_KINDS and len(e.value.split(None, 1)) == 2:
                installed.secrets.append(SecretValue(e.loc, e.kind, e.value.split(None, 1)[1].strip('"')))
