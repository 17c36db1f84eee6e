"""The security associations charon has up, over vici ``list-sas``, as plain data for a status view.

vici answers with OrderedDicts of bytes (strongswan.md §5.1); this module turns them into small
frozen records. Not reaching charon is :class:`CharonUnreachable` from :mod:`wizard.system.vici`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.system import vici
from wizard.system.vici import CharonUnreachable

__all__ = ["CharonUnreachable", "ChildSa", "IkeSa", "format_duration", "list_sas", "summarize"]


@dataclass(frozen=True)
class ChildSa:
    name: str
    state: str
    mode: str
    bytes_in: int
    bytes_out: int
    local_ts: tuple[str, ...]
    remote_ts: tuple[str, ...]


@dataclass(frozen=True)
class IkeSa:
    conn: str
    uniqueid: str
    state: str
    version: str
    remote_host: str
    remote_id: str  # the EAP or XAUTH identity when there is one: that is the user who logged in
    virtual_ips: tuple[str, ...]
    established: int | None  # seconds since the IKE_SA came up
    children: tuple[ChildSa, ...]

    @property
    def label(self) -> str:
        return f"{self.conn}[{self.uniqueid}]"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(_text(v) for v in value) if isinstance(value, list) else ()


def _int(value: Any) -> int:
    try:
        return int(_text(value))
    except ValueError:
        return 0


def summarize(entries: Iterable[Mapping[str, Any]]) -> list[IkeSa]:
    """``list-sas`` events (``{conn: {...}}`` each) as records, in charon's order."""
    out = []
    for entry in entries:
        for conn, ike in entry.items():
            children = tuple(
                ChildSa(name=_text(child.get("name")) or _text(key), state=_text(child.get("state")),
                        mode=_text(child.get("mode")), bytes_in=_int(child.get("bytes-in")),
                        bytes_out=_int(child.get("bytes-out")), local_ts=_texts(child.get("local-ts")),
                        remote_ts=_texts(child.get("remote-ts")))
                for key, child in (ike.get("child-sas") or {}).items())
            established = ike.get("established")
            out.append(IkeSa(
                conn=_text(conn), uniqueid=_text(ike.get("uniqueid")), state=_text(ike.get("state")),
                version=_text(ike.get("version")), remote_host=_text(ike.get("remote-host")),
                remote_id=_text(ike.get("remote-eap-id") or ike.get("remote-xauth-id") or ike.get("remote-id")),
                virtual_ips=_texts(ike.get("remote-vips")),
                established=_int(established) if established is not None else None,
                children=children))
    return out


def list_sas(socket_path: str | Path, timeout: float = 3.0) -> list[IkeSa]:
    """The IKE_SAs charon has now. Raises CharonUnreachable when it cannot be asked."""
    with vici.session(socket_path, timeout) as session:
        return summarize(list(session.list_sas()))


def format_duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
