"""The running view against a real charon: the UI configures a server, a real client connects, and the
log pane shows the server's filelog lines (level 2 included: they come from the file, not from vici)
while the SA table lists the connected client (over vici ``list-sas``).

The server runs in the test lab (tests/lab.py): charon in its own network and mount namespaces, on the
files the wizard wrote into a temp root; its /var/log is the peer directory's, so the engine's filelog
lands in <peer dir>/var/log/swan-wizard/charon.log, where the pane is pointed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from applied import p12_client_files
from lab import SERVER_ADDR, SERVER_LAN_ADDR, open_lab
from test_tui_flow import add_client, start, to_review_and_apply
from test_tui_support import (
    choose,
    click_id,
    fake_netfacts,
    fill,
    probe_with,
    run_async,
    screen_text,
    wait_screen,
    wait_until,
)
from textual.pilot import Pilot

from screens.app import create_app
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.plan import session
from wizard.system.logtail import LogFilter

pytestmark = pytest.mark.lab
CLIENT = "alice@example.com"
POOL = "198.19.128.0/24"


async def lab_flow(pilot: Pilot[Any]) -> None:
    await choose(pilot, "#ca-key", "ecdsa-p256")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "HostScreen")
    await fill(pilot, "#server-address", SERVER_ADDR)
    await choose(pilot, "#host-key", "ecdsa-p256")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "ClientsScreen")
    await add_client(pilot, CLIENT)
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "VariantsScreen")
    await pilot.press("ctrl+n")
    await wait_screen(pilot, "AddressesScreen")
    await fill(pilot, "#pool-addresses", POOL)
    await choose(pilot, "#dns-choice", "custom")
    await fill(pilot, "#pool-dns", SERVER_LAN_ADDR)
    await click_id(pilot, "proposals-modern")


def configure(root: Path) -> None:
    async def go() -> None:
        app = create_app(root, net_probe=fake_netfacts, probe=probe_with())
        async with app.run_test(size=(80, 24)) as pilot:
            await start(pilot)
            await lab_flow(pilot)
            await to_review_and_apply(pilot)

    run_async(go())


def test_running_view_shows_a_real_charons_log_and_sas(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with open_lab(tmp_path / "lab") as lab:
        configure(root)
        server = lab.add_peer("server", root=root)
        server.start()
        loaded = server.swanctl("--load-all", "--noprompt")
        assert "loaded connection 'IPSec-IKEv2'" in loaded.stdout, loaded.stdout + loaded.stderr
        client = lab.add_peer("client", extra_files=p12_client_files(root, CLIENT, SERVER_ADDR))
        client.start()
        client.swanctl("--load-all", "--noprompt")
        client.swanctl("--initiate", "--child", "home", "--timeout", "20")
        client.wait_child_installed("home")
        log_path = server.dir / "var/log/swan-wizard/charon.log"
        assert log_path.is_file(), lab.describe()

        answers = answers_file.load(Root.of(root)(session.SAVED_ANSWERS))

        async def watch() -> None:
            app = create_app(root, net_probe=fake_netfacts, start="running",
                             session=session.Session(answers=answers, step="running"),
                             log_path=log_path, vici_path=server.vici_path, poll_interval=0.5)
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_screen(pilot, "RunningScreen")
                screen: Any = app.screen
                pane = screen.query_one("#log")

                def established() -> bool:
                    return any("IKE_SA IPSec-IKEv2[" in x.raw and "established" in x.raw for x in pane.buffer.lines)

                await wait_until(pilot, established, "the server's 'IKE_SA ... established' line", timeout=30)
                # Level-2 lines: only the filelog has them (vici's log event stops at level 1).
                assert any(x.level == 2 for x in pane.buffer.lines)
                assert any(x.ike.startswith("IPSec-IKEv2|") for x in pane.buffer.lines)
                await wait_until(pilot, lambda: any(sa.remote_id == CLIENT for sa in screen.sas),
                                 "the client in list-sas", timeout=30)
                (sa,) = [sa for sa in screen.sas if sa.remote_id == CLIENT]
                assert sa.conn == "IPSec-IKEv2" and sa.state == "ESTABLISHED"
                assert sa.virtual_ips and sa.virtual_ips[0].startswith("198.19.128.")
                await pilot.pause()
                text = screen_text(app)
                assert CLIENT in text and "1 clients connected" in text

                # Filtered to IKE at level <= 1: what is left is the IKE story, from the same real log.
                pane.view.refilter(LogFilter(groups=frozenset({"IKE"}), max_level=1))
                assert pane.buffer.view and all(x.group == "IKE" and x.level <= 1 for x in pane.buffer.view)

                # The log keeps flowing while we watch: a rekey-free DPD-free tunnel still logs new lines
                # when the client disconnects.
                before = pane.buffer.received
                client.swanctl("--terminate", "--ike", "home")
                await wait_until(pilot, lambda: pane.buffer.received > before, "new lines after the disconnect")
                await wait_until(pilot, lambda: not any(sa.remote_id == CLIENT for sa in screen.sas),
                                 "the client gone from list-sas", timeout=30)

        run_async(watch())
