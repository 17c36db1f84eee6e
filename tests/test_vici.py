"""The one vici session: a timeout, a sentence for every way of not reaching charon, and always closed.
And the self-test's test logins, which must never stay in the running charon unreported."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from vici.protocol import FiniteStream, Message, Packet

from wizard.checks import selftest
from wizard.model import answers_file
from wizard.model.secrets import SecretSource
from wizard.system.netns import NetnsError
from wizard.system.vici import CharonUnreachable, session

# What the fake charon does with a command: answer with this dict, or "hang" (never answer), or "close".
Behaviour = Callable[[str, dict[str, Any]], "dict[str, Any] | str"]


class FakeCharon:
    """A vici server on a Unix socket that speaks just enough of the protocol for these tests."""

    def __init__(self, path: Path, behave: Behaviour) -> None:
        self.path, self.behave = path, behave
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.closed_by_client = 0
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(str(path))
        self._server.listen(4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _recv(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        while True:
            try:
                (length,) = struct.unpack("!I", self._recv(conn, 4))
                packet = self._recv(conn, length)
            except (EOFError, OSError):
                self.closed_by_client += 1
                return
            name = packet[2:2 + packet[1]].decode()
            body = packet[2 + packet[1]:]
            message = {k: v for k, v in Message.deserialize(FiniteStream(body)).items()} if body else {}
            self.commands.append((name, message))
            answer = self.behave(name, message)
            if answer == "close":
                return
            if answer == "hang":
                while not self._stop.is_set() and conn.recv(1):
                    pass
                self.closed_by_client += 1
                return
            assert isinstance(answer, dict)
            reply = struct.pack("!B", Packet.CMD_RESPONSE) + Message.serialize(answer)
            conn.sendall(struct.pack("!I", len(reply)) + reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()


@pytest.fixture
def fake_charon(tmp_path: Path) -> Iterator[Callable[[Behaviour], FakeCharon]]:
    started: list[FakeCharon] = []

    def start(behave: Behaviour) -> FakeCharon:
        started.append(FakeCharon(tmp_path / f"charon{len(started)}.vici", behave))
        return started[-1]

    yield start
    for fake in started:
        fake.close()


def ok(_name: str, _message: dict[str, Any]) -> dict[str, Any]:
    return {"success": "yes", "daemon": "charon", "version": "5.9.8"}


def test_no_socket_says_charon_is_not_running(tmp_path: Path) -> None:
    missing = r"charon is not running \(no vici socket at .*charon.vici\)"
    with pytest.raises(CharonUnreachable, match=missing), session(tmp_path / "charon.vici"):
        pass
    (tmp_path / "plain-file").write_text("")
    with pytest.raises(CharonUnreachable, match="cannot reach charon at"), session(tmp_path / "plain-file"):
        pass


def test_a_charon_that_never_answers_times_out(fake_charon: Callable[[Behaviour], FakeCharon]) -> None:
    fake = fake_charon(lambda _n, _m: "hang")
    began = time.monotonic()
    with pytest.raises(CharonUnreachable, match="stopped answering"), session(fake.path, timeout=0.5) as s:
        s.version()
    assert time.monotonic() - began < 5


def test_the_session_is_closed_whatever_happens(fake_charon: Callable[[Behaviour], FakeCharon]) -> None:
    fake = fake_charon(ok)
    with session(fake.path) as s:
        assert s.version()["version"] == b"5.9.8"
    with pytest.raises(ValueError), session(fake.path) as s:
        s.version()
        raise ValueError("the caller's own error passes through")
    deadline = time.monotonic() + 5
    while fake.closed_by_client < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.closed_by_client == 2


# ---------------------------------------------------------------------------------------------------
# the self-test's logins in the running charon

EAP_ANSWERS = """\
version: 1
server: {address: 198.18.0.1}
ca: {key: ecdsa-p256}
host: {key: rsa-2048}
variants:
  ikev2-eap: {users: [{name: alice}]}
  ikev1-xauth: {auth: cert, users: [{name: bob}]}
"""


def _selftest_that_fails_after_loading_logins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              socket_path: Path) -> list[selftest.Result]:
    """selftest.run with the logins loaded into ``socket_path`` and the client's namespace failing."""

    def no_namespaces(*_args: object, **_kwargs: object) -> None:
        raise NetnsError("no namespaces in this test")

    def client_certificate(*_args: object) -> tuple[bytes, bytes]:
        return b"key", b"cert"

    monkeypatch.setattr(selftest, "unmet_needs", lambda _charon: "")
    monkeypatch.setattr(selftest, "_client_cert", client_certificate)
    monkeypatch.setattr(selftest.Link, "create", no_namespaces)
    answers = answers_file.parse(EAP_ANSWERS)
    from wizard.fs.paths import Root

    return selftest.run(answers, Root.of(tmp_path / "root"), SecretSource(base_dir=tmp_path),
                        server_vici=str(socket_path))


@pytest.mark.parametrize("unload", ["refused", "charon gone"])
def test_test_logins_left_in_charon_are_a_failure_the_user_sees(
        unload: str, fake_charon: Callable[[Behaviour], FakeCharon], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    def behave(name: str, _message: dict[str, Any]) -> dict[str, Any] | str:
        if name == "unload-shared":
            return {"success": "no", "errmsg": "unloading shared key failed"} if unload == "refused" else "close"
        return {"success": "yes"}

    fake = fake_charon(behave)
    results = _selftest_that_fails_after_loading_logins(monkeypatch, tmp_path, fake.path)
    loaded = [m["id"].decode() for n, m in fake.commands if n == "load-shared"]
    assert len(loaded) == 2 and [n for n, _ in fake.commands].count("unload-shared") >= 1
    cleanup = [r for r in results if r.variant == "cleanup"]
    assert len(cleanup) == 1 and cleanup[0].status == "fail", results
    assert loaded[0] in cleanup[0].detail and "swanctl --load-creds --clear" in cleanup[0].detail
    # The variants still say why they could not run.
    assert {r.variant: r.status for r in results if r.variant != "cleanup"} == {"ikev2-eap": "fail",
                                                                                "ikev1-xauth": "fail"}


def test_test_logins_removed_leave_no_cleanup_result(fake_charon: Callable[[Behaviour], FakeCharon],
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = fake_charon(lambda _n, _m: {"success": "yes"})
    results = _selftest_that_fails_after_loading_logins(monkeypatch, tmp_path, fake.path)
    loaded = sorted(m["id"] for n, m in fake.commands if n == "load-shared")
    assert sorted(m["id"] for n, m in fake.commands if n == "unload-shared") == loaded
    assert [r.variant for r in results] == ["ikev2-eap", "ikev1-xauth"]
    assert all("no namespaces in this test" in r.detail for r in results)


def test_a_login_charon_refuses_is_a_failure_not_a_traceback(fake_charon: Callable[[Behaviour], FakeCharon],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    fake = fake_charon(lambda n, _m: {"success": "no", "errmsg": "nope"} if n == "load-shared" else {"success": "yes"})
    results = _selftest_that_fails_after_loading_logins(monkeypatch, tmp_path, fake.path)
    assert [r.status for r in results] == ["fail", "fail"]
    assert "charon refused the test login" in results[0].detail


def test_a_charon_that_stops_answering_does_not_hang_the_selftest(
        fake_charon: Callable[[Behaviour], FakeCharon], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = fake_charon(lambda n, _m: "hang" if n == "load-shared" else {"success": "yes"})
    began = time.monotonic()
    results = _selftest_that_fails_after_loading_logins(monkeypatch, tmp_path, fake.path)
    assert time.monotonic() - began < 30
    assert [r.status for r in results] == ["fail", "fail"]
    assert "stopped answering" in results[0].detail
