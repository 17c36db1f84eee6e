"""Libreswan's pluto, an IKE implementation that shares no code with strongSwan, against the generated server.

The client is configured only from what a user receives: the client's .p12 (imported into pluto's own NSS
database with pk12util) and the cipher suites written into the Windows (.ps1) and Apple (.mobileconfig)
profiles. IKE_AUTH must complete on both sides, with Libreswan's default proposals and with each profile's
single suite, for both server layouts. This kernel has no ESP, so pluto fails only when it hands the CHILD_SA
to the kernel ("netlink response for Add SA"): an established IKE SA on both sides is the proof.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from independent import (
    CLIENT,
    CLIENT_ADDR,
    LIBRESWAN_BIN,
    Pluto,
    Product,
    Suite,
    answers_text,
    apple_suite,
    libreswan_conn,
    path,
    require,
    start_server,
    tool,
    windows_suite,
)
from lab import SERVER_ADDR, open_lab

pytestmark = pytest.mark.lab


def _established(server_log: str) -> list[str]:
    return [ln for ln in server_log.splitlines() if re.search(r"IKE_SA IPSec-IKEv2\[\d+\] established between", ln)]


def _server_sa_lines(server_log: str, suite: Suite | None, after: int) -> list[str]:
    """The server's log lines of the first IKE_SA numbered above ``after`` that selected the suite's IKE
    proposal (any proposal for Libreswan's defaults), so a client's retry or revival is not mistaken for it."""
    lines = server_log.splitlines()
    for line in lines:
        m = re.search(r"\[CFG\] <(\d+)> selected proposal: IKE:(\S+)", line)
        if m and int(m.group(1)) > after and (suite is None or all(p in m.group(2).split("/")
                                                                    for p in suite.charon_ike)):
            sa_lines = [ln for ln in lines if re.search(rf"<(IPSec-IKEv2\|)?{m.group(1)}> ", ln)]
            # An IKE_SA_INIT answered with INVALID_KE_PAYLOAD selected a proposal too, then ended.
            if any("established between" in ln for ln in sa_lines):
                return sa_lines
    return []


@pytest.mark.parametrize("layout", ["swanctl", "ipsec"])
def test_libreswan_completes_ike_auth_with_default_windows_and_apple_suites(tmp_path: Path, layout: str) -> None:
    require(path(LIBRESWAN_BIN / "pluto"), tool("certutil"), tool("pk12util"))
    product = Product.apply(tmp_path / "product", answers_text(layout))
    folder = product.client_dir(CLIENT)
    suites: list[tuple[str, Suite | None]] = [
        ("default", None),
        ("windows", windows_suite((folder / f"{CLIENT}.ps1").read_text(encoding="utf-8-sig"))),
        ("apple", apple_suite((folder / f"{CLIENT}.mobileconfig").read_bytes())),
    ]
    with open_lab(tmp_path / "lab") as lab:
        start_server(lab, product, layout)
        server = lab.peer("server")
        pluto = Pluto(lab, lab.node("client"), tmp_path / "pluto")
        pluto.make_nss_db(folder / f"{CLIENT}.p12", product.p12_password(CLIENT), product.ca_common_name())
        try:
            pluto.start()
            seen = 0  # the server's IKE_SA numbers so far: each suite must bring a new one
            for name, suite in suites:
                pluto.add(name, libreswan_conn(SERVER_ADDR, suite))
                pluto.whack("--name", name, "--initiate")

                def client_up(name: str = name) -> list[str]:
                    return [ln for ln in pluto.log().splitlines() if f'"{name}" #' in ln and "established IKE SA" in ln]

                def server_up(suite: Suite | None = suite, after: int = seen) -> list[str]:
                    return [ln for ln in _server_sa_lines(server.log(), suite, after)
                            if "established between" in ln or f"authentication of '{CLIENT}' with" in ln]

                try:
                    lab.wait_for(lambda: bool(client_up()) and len(server_up()) == 2, 30,
                                 f"{name}: IKE SA established on both sides")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\n--- pluto:\n{pluto.log()[-4000:]}") from None
                client_line, (auth, established) = client_up()[0], server_up()
                # Libreswan checked the server's certificate against the CA from the .p12 ...
                assert "authenticated peer" in client_line and f"peer certificate '{SERVER_ADDR}'" in client_line
                # ... and charon the client's.
                assert auth.endswith("successful"), auth
                assert f"{SERVER_ADDR}[{SERVER_ADDR}]...{CLIENT_ADDR}[{CLIENT}]" in established, established
                seen = int(re.search(r"IPSec-IKEv2\[(\d+)\]", established).group(1))  # type: ignore[union-attr]
                print(f"{layout}/{name}:\n  client: {client_line}\n  server: {auth}\n  server: {established}")
                pluto.whack("--delete", "--name", name)
        finally:
            pluto.stop()
