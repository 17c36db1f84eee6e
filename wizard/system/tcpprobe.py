"""Prove a path carries TCP: random bytes both ways over one connection, checked on both ends.

The listener and the connector are small Python programs run under command prefixes (``ip netns exec
NS``, ``nsenter ...``), so each end can sit in another network namespace. The listener reports the
source address it saw: through a tunnel that must be the client's virtual IP, which is the proof that
the tunnel (not the plain link) carried the data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence

# Both ends read length-prefixed messages with this.
_RECV_EXACT = r"""
import socket, sys
def recv_exact(conn, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(min(65536, n - len(buf)))
        if not chunk:
            raise SystemExit(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)
"""

# Reads its reply from stdin, says "READY <port>" once listening (port 0: the kernel picks one), accepts
# one connection, receives a length-prefixed payload, answers with its own, and prints what it received
# (the peer's address to stderr).
_LISTENER = _RECV_EXACT + r"""
addr, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
reply = sys.stdin.buffer.read()
srv = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port))
srv.listen(1)
srv.settimeout(timeout)
sys.stdout.buffer.write(f"READY {srv.getsockname()[1]}\n".encode())
sys.stdout.flush()
conn, peer = srv.accept()
conn.settimeout(timeout)
print(f"peer={peer[0]}", file=sys.stderr, flush=True)
data = recv_exact(conn, int.from_bytes(recv_exact(conn, 4), "big"))
conn.sendall(len(reply).to_bytes(4, "big") + reply)
conn.shutdown(socket.SHUT_WR)
conn.recv(1)
sys.stdout.buffer.write(data)
"""

_CONNECTOR = _RECV_EXACT + r"""
addr, port, source, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
payload = sys.stdin.buffer.read()
conn = socket.create_connection((addr, port), timeout=timeout, source_address=(source, 0) if source else None)
conn.sendall(len(payload).to_bytes(4, "big") + payload)
data = recv_exact(conn, int.from_bytes(recv_exact(conn, 4), "big"))
conn.close()
sys.stdout.buffer.write(data)
"""


class TcpProbeError(RuntimeError):
    """The exchange failed or arrived incomplete; the message says which end and how."""


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace").strip()


def exchange(listener: Sequence[str], listen_addr: str, connector: Sequence[str], *, source_addr: str | None = None,
             size: int = 65536, port: int = 0, timeout: float = 15.0) -> str:
    """Send ``size`` random bytes each way between a listener on ``listen_addr`` (run under the command
    prefix ``listener``) and a connector (under ``connector``, from ``source_addr`` when given).

    Returns the connector's address as the listener saw it. Raises TcpProbeError.
    """
    to_listener, to_connector = os.urandom(size), os.urandom(size)
    # The reply comes from a file: a pipe would need feeding while we wait for READY.
    with tempfile.TemporaryFile() as reply:
        reply.write(to_connector)
        reply.seek(0)
        server = subprocess.Popen([*listener, sys.executable, "-c", _LISTENER, listen_addr, str(port), str(timeout)],
                                  stdin=reply, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = server.stdout
        assert out is not None
        # readline() would block for ever if the listener died before READY; a thread keeps the timeout honest.
        ready: list[bytes] = []
        reader = threading.Thread(target=lambda: ready.append(out.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        words = ready[0].split() if ready else []
        if len(words) != 2 or words[0] != b"READY":
            server.kill()
            _, err = server.communicate(timeout=5)
            raise TcpProbeError(f"TCP listener on {listen_addr}:{port or 'any'} did not start: {_text(err)}")
        port = int(words[1])
        client = subprocess.run([*connector, sys.executable, "-c", _CONNECTOR, listen_addr, str(port),
                                 source_addr or "", str(timeout)],
                                input=to_listener, capture_output=True, timeout=timeout + 10, check=False)
        if client.returncode != 0:
            server.kill()  # it would otherwise sit in accept() until its own timeout
        try:
            received, err = server.communicate(timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            server.kill()
            received, err = server.communicate(timeout=5)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(5)
    where = f"to {listen_addr}:{port}"
    if client.returncode != 0 or server.returncode != 0:
        raise TcpProbeError(f"TCP exchange {where} failed: connector rc={client.returncode} "
                            f"{_text(client.stderr)[-300:]!r}, listener rc={server.returncode} {_text(err)[-300:]!r}")
    if received != to_listener:
        raise TcpProbeError(f"TCP exchange {where}: the listener got {len(received)} bytes, not the {size} sent")
    if client.stdout != to_connector:
        raise TcpProbeError(f"TCP exchange {where}: the connector got {len(client.stdout)} bytes, not the {size} sent")
    for line in _text(err).splitlines():
        if line.startswith("peer="):
            return line.removeprefix("peer=")
    raise TcpProbeError(f"TCP exchange {where}: the listener did not report the peer address: {_text(err)!r}")
