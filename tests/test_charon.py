"""The one throwaway charon (self-test client, doctor's parse check, test lab): its mounts, and that a start
either gives a daemon answering on vici or leaves nothing running."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from wizard.system.charon import Bind, CharonError, ThrowawayCharon, binds_under, charon_binary, start_script
from wizard.system.netns import BINDS
from wizard.system.vici import session


def test_script_mounts_run_binds_and_execs_the_daemon() -> None:
    script = start_script([Bind("/stage/my conf", "/etc/strongswan.conf", read_only=True)], ["/usr/lib/ipsec/charon"],
                          tmpfs=("/run", "/var/log"), mkdirs=("/run/x",), own_netns=True).splitlines()
    assert script[0] == "set -e"
    assert "mount -t tmpfs -o mode=0755 swan-throwaway /run" in script
    assert "mount -t tmpfs -o mode=0755 swan-throwaway /var/log" in script
    assert script.index("mkdir -p /run/x") > script.index("mount -t tmpfs -o mode=0755 swan-throwaway /run")
    # Quoted, and read-only: the examined files must not change.
    bind = script.index("mount --bind '/stage/my conf' /etc/strongswan.conf")
    assert script[bind + 1] == "mount -o remount,bind,ro /etc/strongswan.conf"
    assert "ip link set lo up 2>/dev/null || true" in script
    assert script[-1] == "exec /usr/lib/ipsec/charon"


def test_binds_under_a_directory_skip_what_the_host_lacks(tmp_path: Path) -> None:
    binds = binds_under(tmp_path, BINDS)
    assert [b.target for b in binds] == list(BINDS)
    assert binds[0] == Bind(str(tmp_path / "etc/strongswan.conf"), "/etc/strongswan.conf", if_present=True)
    script = start_script(binds, ["charon"])
    assert f"if [ -e /etc/swanctl ]; then mount --bind {tmp_path}/etc/swanctl /etc/swanctl; fi" in script
    assert "ip link set lo up" not in script  # a named namespace is the caller's to set up


def _can_run() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if charon_binary() is None or not all(shutil.which(t) for t in ("unshare", "nsenter", "swanctl")):
        return "needs charon, unshare, nsenter and swanctl"
    return None


@pytest.fixture
def runnable() -> None:
    reason = _can_run()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: refusing to skip)")
        pytest.skip(reason)


def test_a_daemon_that_exits_says_why_and_leaves_nothing(runnable: None, tmp_path: Path) -> None:
    charon = ThrowawayCharon(tmp_path, [], daemon=["/bin/sh", "-c", "echo no config here; exit 3"])
    with pytest.raises(CharonError, match="exited with 3: no config here"):
        charon.start(timeout=10)
    assert not charon.running


def test_a_strict_bind_that_cannot_be_made_stops_the_start(runnable: None, tmp_path: Path) -> None:
    charon = ThrowawayCharon(tmp_path, [Bind(str(tmp_path / "absent"), "/etc/strongswan.conf")])
    with pytest.raises(CharonError, match="exited with"):
        charon.start(timeout=10)
    assert not charon.running


def test_own_namespaces_answer_on_vici_and_go_away(runnable: None, tmp_path: Path) -> None:
    """A charon with a network namespace of its own: its vici answers, swanctl reaches it, stop ends it."""
    with ThrowawayCharon(tmp_path, [], tmpfs=("/run", "/var/log")) as charon:
        charon.start(timeout=20)
        pid = charon.pid
        with session(charon.vici_path) as s:
            assert s.version()["daemon"] in (b"charon", b"charon-systemd")
        assert charon.swanctl("--stats").returncode == 0
        # Its own /run: the host's vici socket is not the one it answers on.
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert not charon.running and not Path(f"/proc/{pid}").exists()
