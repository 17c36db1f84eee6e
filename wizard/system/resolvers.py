"""The DNS resolvers this host uses (the root's /etc/resolv.conf): what the wizard can offer clients.

A resolver on the loopback (systemd-resolved's 127.0.0.53 stub, a local dnsmasq) answers only this host,
so it is skipped with the reason; behind systemd-resolved's stub its upstream servers are read instead.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath

from wizard.fs.boundedread import UnreadableFile, read_regular
from wizard.fs.paths import Root

RESOLV_CONF = PurePosixPath("/etc/resolv.conf")
RESOLVED_UPSTREAMS = PurePosixPath("/run/systemd/resolve/resolv.conf")  # systemd-resolved's real servers
_LIMIT = 64 * 1024
_MAX_LINKS = 8  # /etc/resolv.conf is often a link (systemd-resolved, resolvconf); a loop stops here


@dataclass(frozen=True)
class HostResolvers:
    usable: tuple[str, ...]  # addresses clients can be given, in the file's order
    skipped: tuple[tuple[str, str], ...] = ()  # (address or file, why it is not offered: "is ...")


def nameservers(text: str) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf, in order."""
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(words[1])
    return out


def why_not(address: str) -> str | None:
    """Why a resolver of this host cannot serve VPN clients, or None when it can."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "is not an IP address (a scope id or a typo)"
    if ip.is_loopback:
        return "is on this host's loopback (a local stub clients cannot reach)"
    if ip.is_unspecified or ip.is_link_local or ip.is_multicast:
        return "is not an address clients can reach"
    return None


def judge(addresses: list[str]) -> HostResolvers:
    usable = tuple(dict.fromkeys(a for a in addresses if why_not(a) is None))
    skipped = tuple((a, reason) for a in addresses if (reason := why_not(a)) is not None)
    return HostResolvers(usable, skipped)


def read_in_root(root: Root, logical: PurePosixPath) -> str:
    """A small text file under ``root``, following symbolic links as the system would but inside the root
    (an absolute link target is taken below it): under --root the host's own files are never read."""
    parts = list(logical.parts[1:])
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        real = os.path.join(str(root.path), *done, name)
        if stat.S_ISLNK(os.lstat(real).st_mode):
            hops += 1
            if hops > _MAX_LINKS:
                raise OSError(f"too many links at /{'/'.join([*done, name])}")
            target = os.readlink(real)
            base = "/" if target.startswith("/") else "/" + "/".join(done)
            # normpath stops ".." at "/": a link cannot lead out of the root
            joined = posixpath.normpath(posixpath.join(base, target, *parts))
            parts, done = [p for p in joined.split("/") if p], []
            continue
        done.append(name)
    return read_regular(root.path.joinpath(*done), _LIMIT).decode("utf-8", "replace")


def host_resolvers(root: Root) -> HostResolvers:
    """The resolvers of the root's /etc/resolv.conf that clients can use, and those skipped with why."""
    try:
        found = judge(nameservers(read_in_root(root, RESOLV_CONF)))
    except FileNotFoundError:
        return HostResolvers((), ((str(RESOLV_CONF), "is missing"),))
    except (OSError, UnreadableFile) as exc:
        return HostResolvers((), ((str(RESOLV_CONF), f"could not be read ({exc.strerror or exc})"
                                   if isinstance(exc, OSError) else f"could not be read ({exc})"),))
    if found.usable or not found.skipped:
        return found
    try:  # only stubs: the servers systemd-resolved forwards to, when it is the stub
        upstream = judge(nameservers(read_in_root(root, RESOLVED_UPSTREAMS)))
    except (OSError, UnreadableFile):
        return found
    return HostResolvers(upstream.usable, found.skipped + upstream.skipped)
