"""Firewall rules per backend: checked by the real tools, idempotent, and removable exactly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from wizard.fs import paths
from wizard.fs.changes import Change, file_changes
from wizard.fs.paths import Root
from wizard.model.answers import updated
from wizard.plan.apply import apply
from wizard.render import firewall
from wizard.system.netfacts import FirewallBackend, NetFacts

REPO = Path(__file__).resolve().parents[1]
DEBIAN_NFTABLES_CONF = """#!/usr/sbin/nft -f

flush ruleset

table inet filter {
\tchain input {
\t\ttype filter hook input priority filter;
\t}
}
"""
UFW_BEFORE_RULES = """# rules.before
*filter
:ufw-before-input - [0:0]
:ufw-before-forward - [0:0]
# End required lines
-A ufw-before-input -i lo -j ACCEPT
# don't delete the 'COMMIT' line or these rules won't be processed
COMMIT
"""


def in_fresh_netns(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a real firewall tool in a throwaway network namespace, so the host's rules are never touched."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("checking rules with the real tools needs root and iproute2")
        pytest.skip("checking rules with the real tools needs root and iproute2")
    name = f"sw-fw-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        return subprocess.run(["ip", "netns", "exec", name, *argv], capture_output=True, text=True, timeout=30)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


NETS = ["10.10.10.0/24", "192.168.42.8/29"]


@pytest.mark.parametrize("nat,mss", [(True, True), (False, False), (True, False)])
def test_nft_rules_pass_nft_check(tmp_path: Path, nat: bool, mss: bool) -> None:
    rules = tmp_path / "r.nft"
    rules.write_text(firewall.nft_ruleset(NETS, "eth0", nat, mss))
    proc = in_fresh_netns("nft", "-c", "-f", str(rules))
    assert proc.returncode == 0, proc.stderr


def test_broken_nft_rules_fail_the_check(tmp_path: Path) -> None:
    rules = tmp_path / "r.nft"
    rules.write_text(firewall.nft_ruleset(NETS, "eth0", True, True).replace("masquerade", "masqerade"))
    assert in_fresh_netns("nft", "-c", "-f", str(rules)).returncode != 0


def test_iptables_rules_pass_iptables_restore_test(tmp_path: Path) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text(firewall.iptables_restore_text(firewall.iptables_rules(NETS, "eth0", True, True)))
    proc = in_fresh_netns("iptables-restore", "--test", "--noflush", str(rules))
    assert proc.returncode == 0, proc.stderr


def test_iptables_script_is_idempotent_and_removes_exactly_its_rules(tmp_path: Path) -> None:
    script = tmp_path / "fw.sh"
    script.write_text(firewall.iptables_script(firewall.iptables_rules(NETS, "eth0", True, True)))
    # someone else's rule must survive the removal
    body = ("iptables -A INPUT -p tcp --dport 22 -j ACCEPT && "
            f"sh {script} && sh {script} && iptables-save > {tmp_path}/after-two && "
            f"sh {script} --remove && iptables-save > {tmp_path}/after-remove")
    proc = in_fresh_netns("sh", "-c", body)
    assert proc.returncode == 0, proc.stderr
    two = (tmp_path / "after-two").read_text()
    assert two.count("swan-wizard") == len(firewall.iptables_rules(NETS, "eth0", True, True))
    removed = (tmp_path / "after-remove").read_text()
    assert "swan-wizard" not in removed and "--dport 22 -j ACCEPT" in removed


def test_firewalld_service_definition() -> None:
    xml = ET.fromstring(firewall.firewalld_service().split("\n", 1)[1])
    ports = {(p.get("protocol"), p.get("port")) for p in xml.iter("port")}
    assert ports == {("udp", "500"), ("udp", "4500")}
    assert [p.get("value") for p in xml.iter("protocol")] == ["esp"]
    expected = 'rule family="ipv4" source address="10.10.10.0/24" masquerade'
    assert firewall.firewalld_rich_rules(NETS, True)[0] == expected
    assert firewall.firewalld_rich_rules(NETS, True)[0] == expected


def test_ufw_blocks_go_before_filter_and_inside_it(make_answers) -> None:
    answers = updated(make_answers(), networking={"firewall": "ufw", "wan_interface": "eth0"})
    result = firewall.plan(answers, None, {paths.UFW_BEFORE_RULES: UFW_BEFORE_RULES}, systemd=True)
    text = next(f.content for f in result.files if f.path == paths.UFW_BEFORE_RULES).decode()
    assert text.index("*nat") < text.index("*filter")
    filter_block = text.index(firewall.UFW_FILTER_BEGIN)
    assert text.index("*filter") < filter_block < text.rindex("COMMIT")
    assert "-A ufw-before-forward -s 10.10.10.0/24" in text
    # removal gives back the original file byte for byte
    removed = firewall.removal(result.state, {paths.UFW_BEFORE_RULES: text})
    assert next(f.content for f in removed.files if f.path == paths.UFW_BEFORE_RULES).decode() == UFW_BEFORE_RULES


def test_auto_prefers_the_active_front_end() -> None:
    from wizard.model import answers_file

    answers = answers_file.parse("version: 1\nserver: {address: vpn.example.com}\n")

    def facts(*active: str) -> NetFacts:
        return NetFacts(firewalls=tuple(FirewallBackend(n, True, n in active) for n in firewall.BACKENDS))

    assert firewall.resolve_backend(answers, facts("ufw", "iptables")) == "ufw"
    assert firewall.resolve_backend(answers, facts("firewalld", "nftables")) == "firewalld"
    assert firewall.resolve_backend(answers, facts()) == "nftables"
    assert firewall.resolve_backend(answers, None) == "nftables"


def test_apply_includes_the_table_once_and_uninstall_restores_nftables_conf(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    conf = root(paths.NFTABLES_CONF)
    conf.parent.mkdir(parents=True)
    conf.write_text(DEBIAN_NFTABLES_CONF)
    os.chmod(conf, 0o755)
    answers = updated(make_answers(), networking={"firewall": "nftables", "wan_interface": "eth0"})
    apply(plan_for(answers, root), root)
    text = conf.read_text()
    assert text.startswith(DEBIAN_NFTABLES_CONF) and text.count(f'include "{paths.NFT_RULES}"') == 1
    assert (conf.stat().st_mode & 0o777) == 0o755
    assert apply(plan_for(answers, root), root).nothing_changed
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "uninstall", "--firewall", "--root", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert conf.read_text() == DEBIAN_NFTABLES_CONF
    assert not root(paths.NFT_RULES).exists() and not root(paths.FIREWALL_STATE).exists()
    # the VPN configuration itself stays
    assert root(paths.SWANCTL_CONF).exists()


def test_switching_backend_removes_the_old_rules(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    base = make_answers()
    apply(plan_for(updated(base, networking={"firewall": "nftables", "wan_interface": "eth0"}), root), root)
    plan = plan_for(updated(base, networking={"firewall": "iptables", "wan_interface": "eth0"}), root)
    changes = {c.action.path: c.change for c in file_changes(plan, root)}
    # nftables.conf held only Swan Wizard's include: it goes, like the table's file
    assert changes[paths.NFT_RULES] is Change.REMOVE and changes[paths.NFTABLES_CONF] is Change.REMOVE
    assert any(c.argv[:3] == ("nft", "delete", "table") for c in firewall.removal(
        {"backend": "nftables"}, {}).commands)
    apply(plan, root)
    assert root(paths.IPTABLES_SCRIPT).exists() and not root(paths.NFT_RULES).exists()
    assert not root(paths.NFTABLES_CONF).exists()


def test_firewall_none_writes_no_rules(tmp_path, make_answers, plan_for):
    root = Root.of(tmp_path)
    plan = plan_for(updated(make_answers(), networking={"firewall": "none"}), root)
    assert not [f for f in plan.files if str(f.path).startswith(str(paths.FIREWALL_DIR))]
    assert any("firewall: none" in n for n in plan.notes)
