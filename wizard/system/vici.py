"""One way to talk to a charon over vici: a session on its socket, with a timeout, always closed.

vici's own ``Session`` takes a connected socket and never closes it, and a charon that stops answering
would block a caller for ever. :func:`session` connects with a timeout, turns every way of not reaching
charon (no socket, no permission, no vici package, a daemon that went away mid-answer) into
:class:`CharonUnreachable` with a sentence to show, and closes the socket whatever happens.
``CommandException`` (charon answered, and refused the command) passes through: charon is reachable.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class CharonUnreachable(Exception):
    """charon's vici socket cannot be reached (not running, no permission, closed mid-answer)."""


def _connect(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        if isinstance(exc, FileNotFoundError):
            raise CharonUnreachable(f"charon is not running (no vici socket at {path})") from None
        if isinstance(exc, PermissionError):
            raise CharonUnreachable(f"no permission to open {path} (run as root)") from None
        raise CharonUnreachable(f"cannot reach charon at {path}: {exc.strerror or exc}") from None
    return sock


@contextmanager
def session(socket_path: str | Path, timeout: float = 5.0) -> Iterator[Any]:
    """A ``vici.Session`` on ``socket_path``, closed on leaving the block.

    Streamed commands (``list_sas``, ``list_conns``...) are generators: read them to their end inside the
    block (strongswan.md §5.1), one command at a time.
    """
    try:
        import vici  # lazy: only the commands that talk to a running charon need it
        from vici.exception import SessionException
    except ImportError:
        raise CharonUnreachable("the Python package 'vici' is not installed") from None
    path = str(socket_path)
    sock = _connect(path, timeout)
    try:
        yield vici.Session(sock)
    except (OSError, SessionException) as exc:
        raise CharonUnreachable(f"charon stopped answering on {path}: {exc}") from None
    finally:
        sock.close()


def probe(socket_path: str | Path) -> bool:
    """Whether something accepts connections on ``socket_path`` now (a daemon's readiness test)."""
    try:
        _connect(str(socket_path), 1.0).close()
    except CharonUnreachable:
        return False
    return True
