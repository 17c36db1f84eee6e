"""Firewall rules for the VPN, for each backend, living beside the admin's own rules.

Swan Wizard owns only what it creates and can name it: its own nftables table, iptables rules
tagged with a comment, a firewalld service and rich rule, a ufw before.rules block. Nothing here
flushes, replaces or masks anyone else's rules. What an apply added is recorded, so
``swan-wizard uninstall --firewall`` takes out exactly that.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from wizard.fs import paths
from wizard.fs.changes import Command, FileAction
from wizard.model import formats
from wizard.model.answers import Answers
from wizard.render import managed_block
from wizard.render.strongswan_d import HEADER
from wizard.system.netfacts import NetFacts

NFT_TABLE = "swan_wizard"
COMMENT = "swan-wizard"
MSS = 1360  # fits TCP inside ESP-in-UDP over a 1500-byte path (IPv4 20 + UDP 8 + ESP ~73 + TCP 20 + IP 20)
BACKENDS = ("nftables", "iptables", "firewalld", "ufw")


@dataclass(frozen=True)
class FirewallPlan:
    backend: str  # one of BACKENDS, or "none"
    files: tuple[FileAction, ...] = ()
    commands: tuple[Command, ...] = ()
    notes: tuple[str, ...] = ()
    state: dict[str, object] = field(default_factory=dict)  # what uninstall needs to take it out again


def client_ranges(answers: Answers) -> list[tuple[str, list[str]]]:
    """Each place VPN clients get addresses from, as the admin wrote it (the pool, the L2TP range),
    with the CIDR blocks that cover it (a range such as .10-.250 takes several)."""
    ranges: list[tuple[str, list[str]]] = []
    if answers.pool.addresses != "dhcp":
        ranges.append((answers.pool.addresses, [answers.pool.addresses]))
    l2tp = answers.variants.l2tp
    if l2tp is not None:
        first, last = (ipaddress.IPv4Address(p) for p in l2tp.ip_range.split("-"))
        ranges.append((f"{first}-{last}", [str(n) for n in ipaddress.summarize_address_range(first, last)]))
    return ranges


def client_networks(answers: Answers) -> list[str]:
    """Every network VPN clients get addresses from: the pool and the L2TP range."""
    return [net for _, nets in client_ranges(answers) for net in nets]


def resolve_backend(answers: Answers, facts: NetFacts | None) -> str:
    """``auto`` picks the firewall that is active, preferring the front ends (firewalld, ufw) that own it."""
    chosen = answers.networking.firewall
    if chosen != "auto":
        return chosen
    if facts is None:
        return "nftables"  # a staged root: the default of current Debian and Arch
    for name in ("firewalld", "ufw", "nftables", "iptables"):
        backend = facts.backend(name)
        if backend and backend.active is True:  # an Unknown state is no choice
            return name
    nftables = facts.backend("nftables")
    return "nftables" if nftables and nftables.present else "iptables"


def resolve_wan(answers: Answers, facts: NetFacts | None) -> str | None:
    """The WAN interface, in the one spelling nftables, iptables and ufw rules all take unquoted; the
    default route's comes from the host, so it passes the same rule as the answers' own."""
    if answers.networking.wan_interface != "auto":
        return formats.interface_name(answers.networking.wan_interface, "networking.wan_interface")
    # A staged root has no network facts of its own, but the networking step judged this host's default
    # route: the plan takes the same one, so the step and the rules never name different interfaces.
    default = facts.default_interface if facts is not None else host_default_interface()
    if default is None:
        return None
    return formats.interface_name(default, "WAN interface (auto: the default route's)")


def host_default_interface() -> str | None:
    """This host's IPv4 default route interface, read as ``netfacts.gather`` reads it."""
    from wizard.system.netfacts import default_route

    return default_route()[0]


# ---------------------------------------------------------------------------------------------- nftables

def nft_ruleset(nets: list[str], wan: str | None, nat: bool, mss_clamp: bool) -> str:
    v4 = [n for n in nets if ":" not in n]
    addr_set = "{ " + ", ".join(v4) + " }" if v4 else ""
    lines = [
        "#!/usr/sbin/nft -f",
        HEADER.rstrip("\n"),
        "# Swan Wizard's own table: the next three statements replace it, and only it, atomically.",
        f"table inet {NFT_TABLE}",
        f"delete table inet {NFT_TABLE}",
        "",
        f"table inet {NFT_TABLE} {{",
        "\tchain input {",
        "\t\ttype filter hook input priority filter - 5; policy accept;",
        '\t\tmeta l4proto esp accept comment "IPsec ESP"',
        '\t\tudp dport { 500, 4500 } accept comment "IKE and NAT traversal"',
        "\t}",
    ]
    if addr_set:
        lines += [
            "\tchain forward {",
            "\t\ttype filter hook forward priority filter - 5; policy accept;",
            f'\t\tip saddr {addr_set} accept comment "from VPN clients"',
            f'\t\tip daddr {addr_set} ct state established,related accept comment "replies to VPN clients"',
            "\t}",
        ]
        if mss_clamp:
            clamp = (f"tcp flags & (syn | rst) == syn tcp option maxseg size {MSS + 1}-65535 "
                     f"tcp option maxseg size set {MSS}")
            lines += [
                "\tchain mangle_forward {",
                "\t\ttype filter hook forward priority mangle; policy accept;",
                f'\t\tip saddr {addr_set} {clamp} comment "MSS clamping: tunnelled TCP"',
                f'\t\tip daddr {addr_set} {clamp} comment "MSS clamping: tunnelled TCP"',
                "\t}",
            ]
        if nat and wan:
            lines += [
                "\tchain postrouting {",
                "\t\ttype nat hook postrouting priority srcnat; policy accept;",
                f'\t\toifname "{wan}" ip saddr {addr_set} masquerade comment "VPN clients out to the internet"',
                "\t}",
            ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def nft_include_block() -> str:
    return managed_block.block([f'include "{paths.NFT_RULES}"'])


# ---------------------------------------------------------------------------------------------- iptables

Rule = tuple[str, str, tuple[str, ...]]  # table, chain, match and target


def iptables_rules(nets: list[str], wan: str | None, nat: bool, mss_clamp: bool) -> list[Rule]:
    tag = ("-m", "comment", "--comment", COMMENT)
    rules: list[Rule] = [
        ("filter", "INPUT", ("-p", "esp", *tag, "-j", "ACCEPT")),
        ("filter", "INPUT", ("-p", "udp", "-m", "multiport", "--dports", "500,4500", *tag, "-j", "ACCEPT")),
    ]
    for net in (n for n in nets if ":" not in n):
        rules += [
            ("filter", "FORWARD", ("-s", net, *tag, "-j", "ACCEPT")),
            ("filter", "FORWARD", ("-d", net, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", *tag,
                                   "-j", "ACCEPT")),
        ]
        if mss_clamp:
            for direction in ("-s", "-d"):
                rules.append(("mangle", "FORWARD", (direction, net, "-p", "tcp", "-m", "tcp", "--tcp-flags",
                                                    "SYN,RST", "SYN", "-m", "tcpmss", "--mss", f"{MSS + 1}:65535",
                                                    *tag, "-j", "TCPMSS", "--set-mss", str(MSS))))
        if nat and wan:
            rules.append(("nat", "POSTROUTING", ("-s", net, "-o", wan, *tag, "-j", "MASQUERADE")))
    return rules


def _shell_words(args: tuple[str, ...]) -> str:
    return " ".join(a if a.replace(",", "").replace(":", "").replace("/", "").replace(".", "").replace("-", "")
                    .replace("_", "").isalnum() else f"'{a}'" for a in args)


def iptables_restore_text(rules: list[Rule]) -> str:
    """The rules in iptables-restore format (for `iptables-restore --test` and --noflush loading)."""
    out = [HEADER.rstrip("\n")]
    for table in ("filter", "mangle", "nat"):
        chosen = [r for r in rules if r[0] == table]
        if chosen:
            out.append(f"*{table}")
            out += [f"-I {chain} {_shell_words(args)}" for _, chain, args in chosen]
            out.append("COMMIT")
    return "\n".join(out) + "\n"


def iptables_script(rules: list[Rule]) -> str:
    """Insert each rule unless it is there already (-C), at the top so it precedes a final DROP."""
    lines = ["#!/bin/sh", HEADER.rstrip("\n"), "# Idempotent: run it again and nothing is added twice.",
             "set -e", 'cmd="${IPTABLES:-iptables}"',
             'if [ "$1" = "--remove" ]; then']
    lines += [f'  while $cmd -t {t} -C {c} {_shell_words(a)} 2>/dev/null; do $cmd -t {t} -D {c} {_shell_words(a)}; done'
              for t, c, a in rules]
    lines += ["  exit 0", "fi"]
    lines += [f"$cmd -t {t} -C {c} {_shell_words(a)} 2>/dev/null || $cmd -t {t} -I {c} 1 {_shell_words(a)}"
              for t, c, a in reversed(rules)]
    return "\n".join(lines) + "\n"


def firewall_unit() -> str:
    return (HEADER + "[Unit]\nDescription=Swan Wizard firewall rules for the IPsec VPN\n"
            "After=network-pre.target\nBefore=network.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            f"ExecStart=/bin/sh {paths.IPTABLES_SCRIPT}\nExecStop=/bin/sh {paths.IPTABLES_SCRIPT} --remove\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


# ---------------------------------------------------------------------------------------------- firewalld

def firewalld_service() -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            "<!-- Written by Swan Wizard; changes here are replaced on the next apply. -->\n"
            "<service>\n  <short>Swan Wizard IPsec VPN</short>\n"
            "  <description>IKE (UDP 500), NAT traversal (UDP 4500) and ESP for strongSwan.</description>\n"
            '  <port protocol="udp" port="500"/>\n  <port protocol="udp" port="4500"/>\n'
            '  <protocol value="esp"/>\n</service>\n')


def firewalld_rich_rules(nets: list[str], nat: bool) -> list[str]:
    return [f'rule family="ipv4" source address="{n}" masquerade' for n in nets if ":" not in n] if nat else []


# ---------------------------------------------------------------------------------------------- ufw

UFW_NAT_BEGIN = "# BEGIN swan-wizard nat (managed block)"
UFW_NAT_END = "# END swan-wizard nat"
UFW_FILTER_BEGIN = "# BEGIN swan-wizard filter (managed block)"
UFW_FILTER_END = "# END swan-wizard filter"


def ufw_blocks(nets: list[str], wan: str | None, nat: bool, mss_clamp: bool) -> tuple[str, str]:
    """(a block for the top of before.rules with *nat and *mangle, a block inside its *filter)."""
    v4 = [n for n in nets if ":" not in n]
    top: list[str] = []
    if nat and wan and v4:
        top += ["*nat", ":POSTROUTING ACCEPT [0:0]"]
        top += [f"-A POSTROUTING -s {n} -o {wan} -m comment --comment {COMMENT} -j MASQUERADE" for n in v4]
        top.append("COMMIT")
    if mss_clamp and v4:
        top += ["*mangle", ":FORWARD ACCEPT [0:0]"]
        top += [f"-A FORWARD {d} {n} -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss {MSS + 1}:65535 "
                f"-m comment --comment {COMMENT} -j TCPMSS --set-mss {MSS}" for n in v4 for d in ("-s", "-d")]
        top.append("COMMIT")
    filt = [f"-A ufw-before-input -p esp -m comment --comment {COMMENT} -j ACCEPT"]
    for n in v4:
        filt += [f"-A ufw-before-forward -s {n} -m comment --comment {COMMENT} -j ACCEPT",
                 f"-A ufw-before-forward -d {n} -m conntrack --ctstate ESTABLISHED,RELATED "
                 f"-m comment --comment {COMMENT} -j ACCEPT"]
    return (managed_block.block(top, UFW_NAT_BEGIN, UFW_NAT_END) if top else "",
            managed_block.block(filt, UFW_FILTER_BEGIN, UFW_FILTER_END))


# ---------------------------------------------------------------------------------------------- the plan

# The files ``plan`` reads through ``existing``: the shared files it edits, and the state an earlier apply left
# (what Swan Wizard had added already: a rollback takes back only what this run adds).
READS = (paths.NFTABLES_CONF, paths.UFW_BEFORE_RULES, paths.FIREWALL_STATE)
CHECK_ONLY = "only checks the rules"


def _previous(existing: dict[PurePosixPath, str | None], backend: str) -> dict[str, object]:
    """What an earlier apply with the same backend had added (empty: nothing, or another backend)."""
    try:
        state = json.loads(existing.get(paths.FIREWALL_STATE) or "{}")
    except ValueError:
        return {}
    return state if isinstance(state, dict) and state.get("backend") == backend else {}


def _nft_load(previous: dict[str, object]) -> Command:
    load = ("nft", "-f", str(paths.NFT_RULES))
    if previous:
        return Command(load, f"load (or replace) table inet {NFT_TABLE} only", undo=(load,),
                       undo_why="load the earlier run's rules from the restored file")
    return Command(load, f"load (or replace) table inet {NFT_TABLE} only",
                   undo=(("nft", "delete", "table", "inet", NFT_TABLE),), undo_why="the table was not there before")


def _iptables_insert(rules: list[Rule], previous: dict[str, object]) -> Command:
    """The script inserts what is missing; its undo deletes the rules no earlier run had added."""
    recorded = previous.get("rules")
    had = {(r[0], r[1], tuple(r[2])) for r in recorded if isinstance(r, list) and len(r) == 3} \
        if isinstance(recorded, list) else set()
    new = [r for r in rules if r not in had]
    return Command(("sh", str(paths.IPTABLES_SCRIPT)), "insert the rules that are missing",
                   undo=tuple(("iptables", "-t", t, "-D", c, *args) for t, c, args in new) or None,
                   undo_why="delete the rules this run adds" if new else "an earlier run had added every rule")


def _firewalld(rich: list[str], previous: dict[str, object]) -> list[Command]:
    reload = ("firewall-cmd", "--reload")
    recorded = previous.get("rich_rules")
    had_rich = recorded if isinstance(recorded, list) else []
    cmds = [Command(reload, "make firewalld see the new service definition", undo=(reload,),
                    undo_why="runs last: apply what was taken back, and forget the restored service file"),
            Command(("firewall-cmd", "--permanent", "--add-service=swan-wizard"), "allow IKE and ESP",
                    undo=None if previous else (("firewall-cmd", "--permanent", "--remove-service=swan-wizard"),),
                    undo_why="an earlier run had added it" if previous else "not there before")]
    cmds += [Command(("firewall-cmd", "--permanent", f"--add-rich-rule={r}"), "masquerade the pool",
                     undo=None if r in had_rich else (("firewall-cmd", "--permanent", f"--remove-rich-rule={r}"),),
                     undo_why="an earlier run had added it" if r in had_rich else "not there before")
             for r in rich]
    cmds.append(Command(reload, "apply the permanent settings to the running firewall",
                        undo_why="the first reload's undo applies them"))
    return cmds

def plan(answers: Answers, facts: NetFacts | None, existing: dict[PurePosixPath, str | None],
         systemd: bool) -> FirewallPlan:
    """Files and commands for the chosen backend. ``existing`` holds the current text of the shared
    files this may edit (nftables.conf, ufw's before.rules), None where absent."""
    backend = resolve_backend(answers, facts)
    if backend == "none":
        return FirewallPlan("none", notes=("firewall: none: Swan Wizard adds no rules; allow ESP, UDP 500 and "
                                           "UDP 4500 in, and NAT the pool yourself",))
    nets = client_networks(answers)
    wan = resolve_wan(answers, facts)
    nat, mss = answers.networking.nat, answers.networking.mss_clamp
    notes: list[str] = []
    if nat and not wan and nets:
        notes.append("firewall: NAT is on but the WAN interface is unknown (no default route): type the WAN "
                     "interface so the clients are masqueraded")
    state: dict[str, object] = {"backend": backend, "nets": nets, "wan": wan}
    previous = _previous(existing, backend)
    files: list[FileAction] = []
    cmds: list[Command] = []
    if backend == "nftables":
        files.append(FileAction(paths.NFT_RULES, nft_ruleset(nets, wan, nat, mss).encode(), 0o644,
                                why=f"nftables: table inet {NFT_TABLE}, Swan Wizard's own"))
        conf = existing.get(paths.NFTABLES_CONF)
        files.append(FileAction(paths.NFTABLES_CONF, managed_block.put(conf, nft_include_block()).encode(), 0o755,
                                why="include Swan Wizard's table, so it is loaded at boot (nothing else changes)"))
        cmds += [Command(("nft", "-c", "-f", str(paths.NFT_RULES)), "check the rules with nft before loading",
                         undo_why=CHECK_ONLY),
                 _nft_load(previous)]
        if systemd:
            cmds.append(Command(("systemctl", "enable", "nftables.service"), "load nftables.conf at boot"))
    elif backend == "iptables":
        rules = iptables_rules(nets, wan, nat, mss)
        state["rules"] = [[t, c, list(a)] for t, c, a in rules]
        files += [FileAction(paths.IPTABLES_SCRIPT, iptables_script(rules).encode(), 0o755,
                             why="iptables rules tagged 'swan-wizard', inserted only when missing"),
                  FileAction(paths.IPTABLES_RESTORE, iptables_restore_text(rules).encode(), 0o644,
                             why="the same rules in iptables-restore format")]
        cmds += [Command(("iptables-restore", "--test", "--noflush", str(paths.IPTABLES_RESTORE)),
                         "check the rules with iptables-restore", undo_why=CHECK_ONLY),
                 _iptables_insert(rules, previous)]
        if systemd:
            files.append(FileAction(paths.FIREWALL_UNIT, firewall_unit().encode(), 0o644,
                                    why="re-insert the rules at boot"))
            cmds += [Command(("systemctl", "daemon-reload"), "read the new unit"),
                     Command(("systemctl", "enable", "swan-wizard-firewall.service"), "rules at boot")]
    elif backend == "firewalld":
        rich = firewalld_rich_rules(nets, nat)
        state["rich_rules"] = rich
        files.append(FileAction(paths.FIREWALLD_SERVICE, firewalld_service().encode(), 0o644,
                                why="firewalld service: UDP 500, UDP 4500, ESP"))
        cmds += _firewalld(rich, previous)
    elif backend == "ufw":
        top, filt = ufw_blocks(nets, wan, nat, mss)
        before = existing.get(paths.UFW_BEFORE_RULES)
        if before is None:
            notes.append(f"ufw: {paths.UFW_BEFORE_RULES} is missing; is ufw installed?")
        else:
            text = managed_block.put(before, top or None, at_start=True, begin=UFW_NAT_BEGIN, end=UFW_NAT_END)
            text = managed_block.put(text, filt, before="COMMIT", begin=UFW_FILTER_BEGIN, end=UFW_FILTER_END)
            files.append(FileAction(paths.UFW_BEFORE_RULES, text.encode(), 0o640,
                                    why="ufw: Swan Wizard's managed blocks (NAT, MSS clamping, ESP, forwarding)"))
        cmds += [Command(("ufw", "allow", "500,4500/udp"), "allow IKE and NAT traversal",
                         undo=None if previous else (("ufw", "delete", "allow", "500,4500/udp"),),
                         undo_why="an earlier run had added it" if previous else "Swan Wizard had not added it"),
                 Command(("ufw", "reload"), "load before.rules", undo=(("ufw", "reload"),),
                         undo_why="load the restored before.rules")]
    files.append(FileAction(paths.FIREWALL_STATE, (json.dumps(state, indent=2) + "\n").encode(), 0o600,
                            why="what Swan Wizard added to the firewall, for uninstall"))
    return FirewallPlan(backend, tuple(files), tuple(cmds), tuple(notes), state)


def removal(state: dict[str, object], existing: dict[PurePosixPath, str | None]) -> FirewallPlan:
    """Take out exactly what a previous apply added (read from its state file)."""
    backend = str(state.get("backend", "none"))
    files: list[FileAction] = [FileAction(paths.FIREWALL_STATE, None, why="firewall rules removed")]
    cmds: list[Command] = []
    if backend == "nftables":
        conf = existing.get(paths.NFTABLES_CONF)
        if managed_block.contains(conf):
            rest = managed_block.put(conf, None)
            # A file Swan Wizard created holds nothing else: remove it rather than leave it empty.
            files.append(FileAction(paths.NFTABLES_CONF, rest.encode() if rest.strip() else None, 0o755,
                                    why="drop the include of Swan Wizard's table"))
        files.append(FileAction(paths.NFT_RULES, None, why="Swan Wizard's nftables table"))
        cmds.append(Command(("nft", "delete", "table", "inet", NFT_TABLE), f"remove table inet {NFT_TABLE}",
                            may_fail=True, undo=(("nft", "-f", str(paths.NFT_RULES)),),
                            undo_why="load the table from the restored file"))
    elif backend == "iptables":
        cmds.append(Command(("sh", str(paths.IPTABLES_SCRIPT), "--remove"), "delete the rules tagged swan-wizard",
                            may_fail=True, undo=(("sh", str(paths.IPTABLES_SCRIPT)),),
                            undo_why="insert the rules of the restored script"))
        cmds.append(Command(("systemctl", "disable", "swan-wizard-firewall.service"), "no rules at boot",
                            may_fail=True, undo=(("systemctl", "enable", "swan-wizard-firewall.service"),),
                            undo_why="an apply had enabled it"))
        files += [FileAction(paths.IPTABLES_SCRIPT, None), FileAction(paths.IPTABLES_RESTORE, None),
                  FileAction(paths.FIREWALL_UNIT, None)]
    elif backend == "firewalld":
        # The first command's undo runs last: it reloads after every rule is back.
        cmds.append(Command(("firewall-cmd", "--permanent", "--remove-service=swan-wizard"), "remove the service",
                            may_fail=True, undo=(("firewall-cmd", "--permanent", "--add-service=swan-wizard"),
                                                 ("firewall-cmd", "--reload")),
                            undo_why="add it back and apply every rule taken back"))
        rich_rules = state.get("rich_rules")  # the state file is JSON: take a list only
        cmds += [Command(("firewall-cmd", "--permanent", f"--remove-rich-rule={r}"), "remove masquerading",
                         may_fail=True, undo=(("firewall-cmd", "--permanent", f"--add-rich-rule={r}"),),
                         undo_why="add it back") for r in (rich_rules if isinstance(rich_rules, list) else [])]
        cmds.append(Command(("firewall-cmd", "--reload"), "apply", may_fail=True,
                            undo_why="the first command's undo reloads"))
        files.append(FileAction(paths.FIREWALLD_SERVICE, None))
    elif backend == "ufw":
        before = existing.get(paths.UFW_BEFORE_RULES)
        if before is not None:
            text = managed_block.put(before, None, begin=UFW_NAT_BEGIN, end=UFW_NAT_END)
            text = managed_block.put(text, None, begin=UFW_FILTER_BEGIN, end=UFW_FILTER_END)
            files.append(FileAction(paths.UFW_BEFORE_RULES, text.encode(), 0o640, why="remove the managed blocks"))
        cmds += [Command(("ufw", "delete", "allow", "500,4500/udp"), "close IKE ports", may_fail=True,
                         undo=(("ufw", "allow", "500,4500/udp"),), undo_why="open them again"),
                 Command(("ufw", "reload"), "apply", may_fail=True, undo=(("ufw", "reload"),),
                         undo_why="load the restored before.rules")]
    return FirewallPlan(backend, tuple(files), tuple(cmds))
