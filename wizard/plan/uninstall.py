"""Undo an apply: the firewall rules it added, or those and every configuration file it wrote.

The CA, the client bundles and the backups stay: they cannot be recreated, and a later apply reuses them.
"""

from __future__ import annotations

import json

from wizard.fs import paths
from wizard.fs.changes import Command, FileAction, Plan
from wizard.fs.paths import Root
from wizard.plan.planner import OWNED
from wizard.render import firewall, managed_block


def plan(root: Root, firewall_only: bool) -> Plan:
    state_file = root(paths.FIREWALL_STATE)
    files: list[FileAction] = []
    commands: list[Command] = []
    if state_file.is_file():
        existing = {p: (root(p).read_text() if root(p).is_file() else None)
                    for p in (paths.NFTABLES_CONF, paths.UFW_BEFORE_RULES)}
        removal = firewall.removal(json.loads(state_file.read_text()), existing)
        files += [f for f in removal.files if f.content is not None or root(f.path).is_file()]
        commands += removal.commands
    if not firewall_only:
        files += [FileAction(p, None, why="written by Swan Wizard") for p in OWNED if root(p).is_file()]
        for extra in (paths.STRONGSWAN_SETTINGS, paths.XL2TPD_CONF, paths.PPP_OPTIONS_XL2TPD):
            if root(extra).is_file():
                files.append(FileAction(extra, None, why="written by Swan Wizard"))
        chap = root(paths.PPP_CHAP_SECRETS)
        if chap.is_file() and managed_block.contains(chap.read_text()):
            files.append(FileAction(paths.PPP_CHAP_SECRETS, managed_block.strip(chap.read_text()).encode(),
                                    chap.stat().st_mode & 0o7777, secret=True, why="Swan Wizard's L2TP users"))
        commands.append(Command(("swanctl", "--load-all", "--noprompt"), "unload what is gone", may_fail=True))
    return Plan(tuple(files), commands=tuple(commands) if root.is_live else ())
