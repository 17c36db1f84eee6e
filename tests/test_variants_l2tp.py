"""L2TP's own daemons on the generated files: xl2tpd serves a real L2TP client, pppd reads its options.

The IPsec half of L2TP/IPsec is in test_variants_all.py / test_variants_psk.py (negotiated up to the SA
install). Here the L2TP half runs over plain UDP 1701 between the lab's namespaces: the server's xl2tpd
reads exactly the xl2tpd.conf the CLI wrote, an xl2tpd LAC on the client opens a tunnel and a call, and
the server's xl2tpd starts pppd with the generated /etc/ppp/options.xl2tpd, which pppd parses; it stops
only at the missing /dev/ppp (this kernel has no PPP), before CHAP could read chap-secrets.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import pytest
from lab import SERVER_ADDR, LabError, open_lab, require_lab
from variants_helpers import apply_cli

pytestmark = pytest.mark.lab

ANSWERS = f"""\
version: 1
server: {{address: {SERVER_ADDR}}}
ca: {{key: ecdsa-p256}}
host: {{key: ecdsa-p256}}
variants:
  l2tp: {{users: [{{name: dave}}]}}
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return apply_cli(tmp_path_factory.mktemp("l2tp"), ANSWERS)


def wait_output(path: Path, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise LabError(f"{needle!r} not in {path.name} after {timeout:.0f}s:\n{text}")
        time.sleep(0.05)


def test_xl2tpd_answers_an_l2tp_client_and_starts_pppd_with_the_generated_options(root: Path,
                                                                                 tmp_path: Path) -> None:
    lac_conf = tmp_path / "lac.conf"
    lac_conf.write_text(f"[lac vpn]\nlns = {SERVER_ADDR}\nname = dave\nrequire chap = yes\nrefuse pap = yes\n"
                        f"require authentication = no\npppoptfile = {tmp_path}/lac.options\nlength bit = yes\n")
    (tmp_path / "lac.options").write_text("noauth\nname dave\n")
    lns_log, lac_log = tmp_path / "lns.log", tmp_path / "lac.log"
    # The server's xl2tpd and the pppd it starts see the applied root's /etc/xl2tpd and /etc/ppp, and
    # only they do: the bind mounts live in a mount namespace of their own.
    lns_script = " && ".join([
        f"mount --bind {shlex.quote(str(root / 'etc/xl2tpd'))} /etc/xl2tpd",
        f"mount --bind {shlex.quote(str(root / 'etc/ppp'))} /etc/ppp",
        f"exec xl2tpd -D -c /etc/xl2tpd/xl2tpd.conf -p {tmp_path}/lns.pid -C {tmp_path}/lns.ctl",
    ])
    with open_lab(tmp_path / "lab") as lab, lns_log.open("wb") as lns_out, lac_log.open("wb") as lac_out:
        lns = lab.node("server").popen("unshare", "--mount", "--propagation", "private", "sh", "-c", lns_script,
                                       stdout=lns_out, stderr=subprocess.STDOUT)
        wait_output(lns_log, "Listening on IP address 0.0.0.0, port 1701")
        # The client's own pppd would die at once on the missing /dev/ppp, and its xl2tpd would then close
        # the call and kill the server's pppd before that one had read its options: a race. The client's
        # side is not under test, so its pppd is a stand-in that waits.
        fake_pppd = tmp_path / "fake-pppd"
        fake_pppd.write_text("#!/bin/sh\nexec sleep 60\n")
        fake_pppd.chmod(0o755)
        lac_script = " && ".join([
            f"mount --bind {shlex.quote(str(fake_pppd))} /usr/sbin/pppd",
            f"exec xl2tpd -D -c {shlex.quote(str(lac_conf))} -p {tmp_path}/lac.pid -C {tmp_path}/lac.ctl",
        ])
        lac = lab.node("client").popen("unshare", "--mount", "--propagation", "private", "sh", "-c", lac_script,
                                       stdout=lac_out, stderr=subprocess.STDOUT)
        wait_output(lac_log, "Listening on IP address")
        control = tmp_path / "lac.ctl"
        lab.wait_for(control.exists, 5, "the LAC's control pipe")
        control.write_text("c vpn\n")
        text = wait_output(lns_log, "/dev/ppp")
        for proc in (lns, lac):
            proc.kill()
            proc.wait(5)
    assert "parse_config" not in text and "Unable to load config file" not in text, text
    assert f"Connection established to {lab.topology.ip('client')}" in text, text
    assert "LNS session is 'default'" in text, text
    assert "Call established with" in text, text
    # pppd got the address range and the options file of the answers, and read that file without complaint
    assert '"192.168.42.1:192.168.42.10"' in text and '"/etc/ppp/options.xl2tpd"' in text, text
    assert '"require-chap"' in text and '"refuse-pap"' in text, text
    assert "In file /etc/ppp/options.xl2tpd" not in text and "unrecognized option" not in text, text
    assert "You need to create the /dev/ppp device node" in text, text


def test_pppd_accepts_the_generated_options_and_refuses_a_broken_file(root: Path, tmp_path: Path) -> None:
    require_lab()  # pppd wants root, like the rest of the lab
    options = root / "etc/ppp/options.xl2tpd"
    good = subprocess.run(["pppd", "file", str(options), "dryrun"], capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)
    assert "unrecognized option" not in good.stderr + good.stdout and "In file" not in good.stderr, good
    broken = tmp_path / "broken.options"
    broken.write_text(options.read_text() + "+mschap-v3\n")
    bad = subprocess.run(["pppd", "file", str(broken), "dryrun"], capture_output=True, text=True, timeout=10,
                         stdin=subprocess.DEVNULL)
    assert bad.returncode != 0 and "unrecognized option '+mschap-v3'" in bad.stderr, bad
