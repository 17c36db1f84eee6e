"""NetworkManager with network-manager-strongswan (charon-nm) as the client of the generated server.

The .nmconnection and the certificate files are installed by running the client README's "Linux desktop"
commands as they are written, in a client namespace where NetworkManager runs with its own system D-Bus;
then `nmcli connection up` and 64 KiB of TCP each way through the tunnel, for the certificate and the EAP
profile.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from independent import (
    CLIENT,
    EAP_USER,
    NetworkManagerClient,
    Product,
    answers_text,
    path,
    readme_lines,
    require,
    start_server,
    tool,
)
from lab import SERVER_ADDR, SERVER_LAN_ADDR, open_lab, tcp_exchange

pytestmark = pytest.mark.lab


@pytest.mark.parametrize(("user", "stem", "auth_line"), [
    (CLIENT, CLIENT, f"authentication of '{CLIENT}' with RSA"),
    (EAP_USER, f"{EAP_USER}-eap", f"authentication of '{EAP_USER}' with EAP successful"),
], ids=["certificate", "eap"])
def test_networkmanager_brings_up_the_profile_as_the_readme_says(tmp_path: Path, user: str, stem: str,
                                                                   auth_line: str) -> None:
    require(tool("NetworkManager"), tool("nmcli"), tool("dbus-daemon"), path(Path("/usr/lib/ipsec/charon-nm")),
            path(Path("/usr/lib/NetworkManager/VPN/nm-strongswan-service.name")))
    product = Product.apply(tmp_path / "product", answers_text("swanctl", eap=True))
    # The user's copy of the folder the admin handed over.
    folder = shutil.copytree(product.client_dir(user), tmp_path / "handed-over")
    readme = (folder / "README.txt").read_text()
    commands = readme_lines(readme, "Linux desktop")
    assert any(f"{stem}.nmconnection" in c for c in commands), commands
    with open_lab(tmp_path / "lab") as lab:
        start_server(lab, product, "swanctl")
        server = lab.peer("server")
        nm = NetworkManagerClient(lab, lab.node("client"), tmp_path / "nm")
        try:
            nm.start()
            for command in commands:
                # In the handed-over folder, as the user would (nsenter starts in the namespace's root).
                nm.run("sh", "-c", f"cd {shlex.quote(str(folder))} && {command}")
            auth = server.wait_log(auth_line)
            established = server.wait_log("established between")
            sas = [ike for entry in server.list_sas() for ike in entry.values()]
            assert len(sas) == 1 and sas[0].get("remote-vips"), sas
            vip = sas[0]["remote-vips"][0]
            before = server.esp_bytes()
            assert tcp_exchange(server, SERVER_LAN_ADDR, lab.node("client"), source_addr=vip) == vip
            assert tcp_exchange(lab.node("client"), vip, server, source_addr=SERVER_LAN_ADDR) == SERVER_LAN_ADDR
            after = server.esp_bytes()
            assert min(after[0] - before[0], after[1] - before[1]) >= 2 * 65536, (before, after)
            state = nm.nmcli("-t", "-f", "NAME,TYPE,STATE", "connection", "show", "--active").stdout
            vpn_up = [ln for ln in state.splitlines() if ln.startswith(SERVER_ADDR) and ln.endswith(":vpn:activated")]
            assert vpn_up, state
            assert "CHILD_SA" in nm.charon_log() and " established with SPIs" in nm.charon_log()
            print(f"{stem}:\n  server: {auth}\n  server: {established}\n  nmcli: {state.strip()}\n"
                  f"  charon-nm: {[ln for ln in nm.charon_log().splitlines() if 'established' in ln]}")
        finally:
            nm.stop()
