"""System checks of the live machine: the daemon over vici, ports, forwarding, firewall, kernel, pools.

The facts come from ``wizard.system.netfacts`` and most judgements from ``wizard.checks.netchecks`` (the same code
``swan-wizard check`` runs before an apply); what only a running system can tell (is charon up, did it
load the connections and the current certificate, are the firewall rules in the kernel) is asked here.
Under ``--root`` none of this describes the staged tree, so every check is reported as skipped.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.checks import netchecks
from wizard.checks.doctor.certs import load_certs
from wizard.checks.doctor.context import Context
from wizard.checks.doctor.findings import AutoFix, DoctorFinding, skipped
from wizard.findings import Evidence, Finding, by_code
from wizard.fs import paths
from wizard.model.answers import Answers, is_ip
from wizard.render.firewall import NFT_TABLE
from wizard.system import netfacts
from wizard.system.vici import CharonUnreachable
from wizard.system.vici import session as vici_session

LIVE_CHECKS = ("charon", "ports", "forwarding", "firewall", "kernel", "pool overlap with local networks")


@dataclass
class ViciState:
    version: str = ""
    plugins: list[str] = field(default_factory=list)
    half_open: int = 0
    conns: list[str] = field(default_factory=list)
    certs: list[bytes] = field(default_factory=list)  # DER of loaded end-entity certificates
    sas: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def ask_vici(path: Path, timeout: float = 5.0) -> ViciState:
    """What the running charon says about itself; ``error`` says why it could not be asked."""
    state = ViciState()
    try:
        with vici_session(path, timeout) as session:
            version = session.version()
            state.version = f"{_text(version.get('daemon', 'charon'))} {_text(version.get('version', ''))}".strip()
            stats = session.stats()
            state.plugins = [_text(p) for p in stats.get("plugins", [])]
            state.half_open = int(_text(stats.get("ikesas", {}).get("half-open", 0)) or 0)
            # Streamed commands are generators: they must be exhausted (reference §5.1).
            state.conns = [_text(name) for entry in session.list_conns() for name in entry]
            state.certs = [bytes(c["data"]) for c in session.list_certs({"type": "X509", "flag": "NONE"})
                           if "data" in c]
            state.sas = [dict(entry) for entry in session.list_sas()]
    except CharonUnreachable as exc:
        state.error = str(exc)  # what was read before charon stopped answering is kept
    return state


def _systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def _from_net(finding: Finding) -> DoctorFinding:
    """A network check's finding in the doctor's system area (``system.`` and the check's name)."""
    return DoctorFinding(f"system.{finding.check}", finding.severity, finding.field, finding.message, finding.fix,
                         finding.evidence)


def effective_answers(ctx: Context) -> Answers:
    """The answers when given; otherwise what the installed files say, for the shared network checks."""
    if ctx.answers is not None:
        return ctx.answers
    address = next((i for i in ctx.installed.local_ids if "=" not in i and "@" not in i), "localhost")
    state = _firewall_state(ctx) or {}
    pool = next((str(n) for p in ctx.installed.pools for n in p.networks() if n.version == 4), None)
    data: dict[str, Any] = {
        "version": 1,
        "server": {"address": address},
        "networking": {"forwarding": ctx.root(paths.SYSCTL_CONF).is_file(),
                       "firewall": state.get("backend", "none") or "none",
                       "wan_interface": state.get("wan") or "auto",
                       "esp": "userspace" if ctx.installed.plugin_loaded("kernel-libipsec") else "kernel"},
    }
    if pool:
        data["pool"] = {"addresses": pool, "dns": []}
    try:
        return Answers.model_validate(data)
    except ValueError:
        data["server"] = {"address": "localhost"}
        data.pop("pool", None)
        return Answers.model_validate(data)


def check(ctx: Context) -> list[DoctorFinding]:
    owed = pending_commands(ctx)
    if not ctx.live:
        return owed + [skipped(f"system.{name.split()[0]}", f"{name} (a live-system check)",
                        f"--root {ctx.root.path} is not the running system") for name in LIVE_CHECKS]
    answers = effective_answers(ctx)
    names = [n for n in (answers.server.address, *answers.server.alt_names) if not is_ip(n) and n != "localhost"]
    facts = netfacts.gather(names)
    state = ask_vici(ctx.vici_socket or Path(paths.VICI_SOCKET))
    findings = owed + _daemon(ctx, state)
    findings += duplicate_daemons(daemons_here(), ctx.installed.layout)
    running = not state.error
    findings += _ports(facts, running)
    findings += _forwarding(ctx, facts, answers)
    findings += _firewall(ctx, facts, answers)
    findings += _kernel(ctx, facts, answers, state)
    findings += _pools(ctx, facts, answers)
    if names or is_ip(answers.server.address):
        findings += [_from_net(f) for f in netchecks.check_server_address(answers, facts)]
    return findings


def pending_commands(ctx: Context) -> list[DoctorFinding]:
    """An apply wrote its files but its service commands did not all succeed (apply's owed-commands file)."""
    real = ctx.root(paths.PENDING_COMMANDS)
    if not real.is_file():
        return []
    try:
        data = json.loads(real.read_text())
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    failed = str(data.get("failed") or "")
    commands = [str(c) for c in data.get("commands", []) if isinstance(c, str)]
    summary = ("the service commands of the last apply did not all run" +
               (f": `{failed}` failed" if failed else ": that apply was interrupted while running them"))
    return [DoctorFinding(
        "system.commands-pending", "error", message=summary,
        evidence=(Evidence(str(paths.PENDING_COMMANDS), "; ".join(commands) or "(unreadable)"),),
        fix="Apply the answers again: the next apply runs these commands even when no file changes"
            + (" (first make the failed one work, e.g. install what it needs)" if failed else "") + ".",
        command="swan-wizard apply ANSWERS", data={"commands": commands, "failed": failed})]


# ---------------------------------------------------------------------------------------------- charon


def _start_command(ctx: Context) -> str:
    if _systemd():
        return "systemctl start " + ("strongswan-starter" if ctx.installed.layout == "ipsec" else "strongswan")
    return ctx.apply_command()


def _daemon(ctx: Context, state: ViciState) -> list[DoctorFinding]:
    if state.error:
        import psutil

        names = {p.info.get("name") for p in psutil.process_iter(["name"])}
        if names & {"charon", "charon-systemd"} and "no vici socket" not in state.error:
            summary = f"a charon process runs but does not answer on vici: {state.error}"
        else:
            summary = state.error if "not running" in state.error else f"charon is not running ({state.error})"
        return [DoctorFinding("system.charon", "error", message=summary, evidence=(Evidence("vici", state.error),),
                              fix="Start strongSwan (apply starts it when there is no systemd).",
                              command=_start_command(ctx))]
    findings = [DoctorFinding("system.charon", "ok", message=f"charon runs ({state.version}), {len(state.sas)} "
                              f"IKE_SA(s) up", data={"version": state.version, "ike_sas": len(state.sas)})]
    expected = [c.name for c in ctx.installed.conns]
    missing = [name for name in expected if name not in state.conns]
    if missing:
        argv = ("swanctl", "--load-all", "--noprompt") if ctx.installed.layout == "swanctl" else ("ipsec", "reload")
        findings.append(DoctorFinding(
            "system.connections-not-loaded", "error",
            message=f"charon has not loaded {', '.join(missing)} from the files: clients of those connections fail "
            "('no matching peer config found' / 'no IKE config found')",
            evidence=(Evidence("vici list-conns", ", ".join(state.conns) or "(none)"),),
            fix="Load the files into the running charon (if that fails, the configuration findings say why).",
            command=" ".join(argv), autofix=AutoFix("load the connections into charon", argv=argv),
            data={"missing": missing, "loaded": state.conns}))
    findings += _loaded_certificate(ctx, state)
    if state.half_open:
        findings.append(DoctorFinding(
            "system.half-open", "warning",
            message=f"{state.half_open} half-open IKE_SA(s) now: clients' first packets arrive but their IKE_AUTH does "
            "not (UDP 4500 blocked on the way, or IP fragments dropped)",
            evidence=(Evidence("vici stats", f"ikesas half-open: {state.half_open}"),),
            fix="Open UDP 4500 as well as 500 in every firewall on the path (cloud security groups too)."))
    return findings


@dataclass(frozen=True)
class Daemon:
    pid: int
    name: str  # charon, charon-systemd or starter


def daemons_here() -> list[Daemon]:
    """strongSwan daemons in this network namespace (a lab's charons in namespaces of their own are not ours)."""
    from wizard.system.service import processes_here

    return [Daemon(p.info["pid"], p.info["name"]) for p in processes_here({"charon", "charon-systemd", "starter"})]


def duplicate_daemons(daemons: list[Daemon], layout: str | None) -> list[DoctorFinding]:
    """Two charons (both strongSwan flavours started: strongswan.service and strongswan-starter) fight over the
    IKE ports and the vici socket; the second logs "unable to bind socket: Address already in use"."""
    charons = [d for d in daemons if d.name in ("charon", "charon-systemd")]
    starter = [d for d in daemons if d.name == "starter"]
    if len(charons) < 2 and not (layout == "swanctl" and starter):
        return []
    other = "strongswan-starter" if layout != "ipsec" else "strongswan"
    listed = ", ".join(f"{d.name} (pid {d.pid})" for d in daemons)
    summary = (f"{len(charons)} charon daemons run: only one can own UDP 500/4500 and the vici socket"
               if len(charons) >= 2 else "the legacy starter runs next to the swanctl layout's charon")
    return [DoctorFinding(
        "system.two-charons", "error", message=summary, evidence=(Evidence("processes", listed),),
        fix=f"Stop and disable the flavour this layout does not use ({other}), then restart strongSwan.",
        command=f"systemctl disable --now {other}.service" if _systemd() else "",
        data={"daemons": [[d.pid, d.name] for d in daemons]})]


def _loaded_certificate(ctx: Context, state: ViciState) -> list[DoctorFinding]:
    """A renewed certificate on disk that charon has not loaded: clients still see the old one."""
    from cryptography.hazmat.primitives.serialization import Encoding

    out = []
    for conn_cert in dict.fromkeys(p for c in ctx.installed.conns for p in c.local_certs):
        real = ctx.root(conn_cert)
        if not real.is_file():
            continue
        certs = load_certs(real.read_bytes())
        if certs and state.certs and certs[0].public_bytes(Encoding.DER) not in state.certs:
            argv = (("swanctl", "--load-creds", "--noprompt") if ctx.installed.layout == "swanctl"
                    else ("ipsec", "rereadall"))
            out.append(DoctorFinding(
                "system.certificate-not-loaded", "warning",
                message=f"charon still uses an older certificate than {conn_cert}: clients see the old one",
                evidence=(Evidence("vici list-certs",
                                   f"{len(state.certs)} end-entity certificate(s), none is {conn_cert}"),),
                fix="Reload the credentials.", command=" ".join(argv),
                autofix=AutoFix("reload charon's credentials", argv=argv)))
    return out


# ---------------------------------------------------------------------------------------------- ports


def _ports(facts: netfacts.NetFacts, running: bool) -> list[DoctorFinding]:
    shared = netchecks.judge_ports(facts)
    if isinstance(facts.port_users, netfacts.Unknown):
        return [_from_net(f) for f in shared]  # "could not check": never "free"
    findings = []
    for port in netfacts.IKE_PORTS:
        users = [u for u in facts.port_users if u.port == port]
        ours = [u for u in users if (u.process or "") in netchecks.IKE_DAEMONS]
        evidence = tuple(Evidence(f"udp {u.address}:{u.port}", f"{u.process or '?'} (pid {u.pid})") for u in users)
        taken = by_code(shared, netchecks.port_code(port, "taken"))
        if taken:
            findings += [DoctorFinding("system.ports", "error", message=f.message, evidence=evidence, fix=f.fix)
                         for f in taken]
        elif running and not ours:
            findings.append(DoctorFinding("system.ports", "error",
                                          message=f"charon runs but nothing listens on UDP {port}: clients get no "
                                          "answer", evidence=evidence,
                                          fix="Check charon.port / port_nat_t in strongswan.conf and restart "
                                          "charon; another process may have held the port when it started."))
        elif ours:
            findings.append(DoctorFinding("system.ports", "ok", message=f"UDP {port} is served by {ours[0].process}",
                                          evidence=evidence))
        else:
            findings.append(DoctorFinding("system.ports", "info",
                                          message=f"UDP {port} is free (charon is not running)"))
    return findings


# ---------------------------------------------------------------------------------------------- forwarding


def _forwarding(ctx: Context, facts: netfacts.NetFacts, answers: Answers) -> list[DoctorFinding]:
    findings = []
    forward = facts.sysctls.get("net.ipv4.ip_forward")
    evidence = (Evidence("/proc/sys/net/ipv4/ip_forward", forward or "unreadable"),)
    conf = ctx.root(paths.SYSCTL_CONF)
    argv = ("sysctl", "-p", str(paths.SYSCTL_CONF)) if conf.is_file() else ("sysctl", "-w", "net.ipv4.ip_forward=1")
    if forward is None:  # unreadable is not "off": nothing to fix blindly
        findings.append(DoctorFinding("system.forwarding", "warning", message="could not check IP forwarding: "
                                      "/proc/sys/net/ipv4/ip_forward could not be read", evidence=evidence))
    elif forward != "1":
        if answers.networking.forwarding:
            findings.append(DoctorFinding(
                "system.forwarding", "error",
                message="IP forwarding is off: clients connect but reach nothing beyond this server", evidence=evidence,
                fix="Turn it on now (and at boot: the sysctl file Swan Wizard writes).", command=" ".join(argv),
                autofix=AutoFix("turn IP forwarding on", argv=argv)))
        else:
            findings.append(DoctorFinding(
                "system.forwarding", "info",
                message="IP forwarding is off and networking.forwarding is false: clients reach this "
                "host only", evidence=evidence))
    else:
        findings.append(DoctorFinding("system.forwarding", "ok", message="IP forwarding is on", evidence=evidence))
    for key, want in netchecks.PLANNED_SYSCTLS.items():
        now = facts.sysctls.get(key)
        if key != "net.ipv4.ip_forward" and answers.networking.forwarding and now is not None and now != want:
            findings.append(DoctorFinding(
                "system.redirects", "warning",
                message=f"{key} is {now}; the article's setting is {want} (ICMP redirects could "
                "steer clients' traffic around the tunnel)",
                evidence=(Evidence("/proc/sys/" + key.replace(".", "/"), now),),
                command=" ".join(argv), autofix=AutoFix(f"set {key} = {want}", argv=argv)))
    return findings


# ---------------------------------------------------------------------------------------------- firewall


def _firewall_state(ctx: Context) -> dict[str, Any] | None:
    try:
        data = json.loads(ctx.root(paths.FIREWALL_STATE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _run(argv: list[str]) -> tuple[int, str]:
    if shutil.which(argv[0]) is None:
        return 127, f"{argv[0]} not installed"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _firewall(ctx: Context, facts: netfacts.NetFacts, answers: Answers) -> list[DoctorFinding]:
    findings = [_from_net(f) for f in netchecks.check_firewall(answers, facts) if f.severity in ("warning", "error")]
    state = _firewall_state(ctx)
    if state is None:
        if answers.networking.firewall == "none":
            return [*findings, DoctorFinding("system.firewall", "info", message="networking.firewall is none: Swan "
                                             "Wizard manages no rules; allow ESP, UDP 500 and UDP 4500 yourself")]
        return [*findings, DoctorFinding(
            "system.firewall", "warning",
            message=f"no record of Swan Wizard's firewall rules ({paths.FIREWALL_STATE}): they were never added",
            fix="Re-run apply: it adds the rules for the firewall in use.", command=ctx.apply_command())]
    backend = str(state.get("backend", "none"))
    if backend == "nftables":
        findings += _nftables(ctx)
    elif backend == "iptables":
        findings += _iptables(ctx, state)
    elif backend == "firewalld":
        rc, out = _run(["firewall-cmd", "--query-service=swan-wizard"])
        findings.append(DoctorFinding("system.firewall", "ok" if rc == 0 else "error",
                                      message="firewalld allows the swan-wizard service" if rc == 0 else
                                      "firewalld does not allow the swan-wizard service (IKE and ESP blocked)",
                                      evidence=(Evidence("firewall-cmd --query-service=swan-wizard", out),),
                                      command="" if rc == 0 else "firewall-cmd --reload"))
    elif backend == "ufw":
        rc, out = _run(["ufw", "status"])
        active = rc == 0 and "Status: active" in out
        findings.append(DoctorFinding("system.firewall", "ok" if active and "500,4500/udp" in out else "error",
                                      message="ufw allows IKE" if active and "500,4500/udp" in out else
                                      "ufw is not active or does not allow 500,4500/udp",
                                      evidence=(Evidence("ufw status", out.splitlines()[0] if out else ""),),
                                      command="" if active else "ufw allow 500,4500/udp && ufw reload"))
    else:
        findings.append(DoctorFinding("system.firewall", "info", message="Swan Wizard added no firewall rules "
                                      "(networking.firewall: none)"))
    return findings


def _nftables(ctx: Context) -> list[DoctorFinding]:
    rc, live = _run(["nft", "list", "table", "inet", NFT_TABLE])
    rules_file = ctx.root(paths.NFT_RULES)
    argv = ("nft", "-f", str(paths.NFT_RULES))
    try:
        intended = rules_file.read_text()
    except OSError:
        intended = ""
    comments = [c for c in _comments(intended)]
    if rc != 0:
        return [DoctorFinding(
            "system.firewall", "error",
            message=f"the nftables table inet {NFT_TABLE} with Swan Wizard's rules is not loaded: IKE/ESP may be "
            "dropped and the pool is not masqueraded",
            evidence=(Evidence(f"nft list table inet {NFT_TABLE}", live.splitlines()[0] if live else f"exit {rc}"),),
            fix="Load the rules Swan Wizard wrote.", command=" ".join(argv),
            autofix=AutoFix(f"load table inet {NFT_TABLE}", argv=argv) if rules_file.is_file() else None)]
    missing = [c for c in comments if f'comment "{c}"' not in live]
    evidence = tuple(Evidence(f"nft list table inet {NFT_TABLE}", line.strip()) for line in live.splitlines()
                     if "comment" in line)
    if missing:
        return [DoctorFinding(
            "system.firewall", "error",
            message=f"the loaded table inet {NFT_TABLE} lacks rules Swan Wizard wrote: {', '.join(missing)}",
            evidence=evidence, fix="Reload the rules Swan Wizard wrote.", command=" ".join(argv),
            autofix=AutoFix(f"reload table inet {NFT_TABLE}", argv=argv))]
    return [DoctorFinding("system.firewall", "ok", message=f"nftables table inet {NFT_TABLE} is loaded with all "
                          f"{len(comments)} rules", evidence=evidence)]


def _comments(ruleset: str) -> list[str]:
    import re

    return list(dict.fromkeys(re.findall(r'comment "([^"]+)"', ruleset)))


def _iptables(ctx: Context, state: dict[str, Any]) -> list[DoctorFinding]:
    missing = []
    for table, chain, args in state.get("rules", []):
        rc, _ = _run(["iptables", "-t", table, "-C", chain, *args])
        if rc != 0:
            missing.append(f"-t {table} -A {chain} {' '.join(args)}")
    listed = []
    for table in ("filter", "mangle", "nat"):
        rc, out = _run(["iptables", "-t", table, "-S"])
        listed += [f"-t {table} {line}" for line in out.splitlines() if "swan-wizard" in line] if rc == 0 else []
    evidence = tuple(Evidence("iptables -S", line) for line in listed) or (Evidence("iptables -S", "no rule with "
                                                                                   "the swan-wizard comment"),)
    if missing:
        argv = ("sh", str(paths.IPTABLES_SCRIPT))
        return [DoctorFinding(
            "system.firewall", "error",
            message=f"{len(missing)} of Swan Wizard's iptables rules are missing: {'; '.join(missing)}",
            evidence=evidence, fix="Insert the missing rules (the script adds only what is missing).",
            command=" ".join(argv),
            autofix=AutoFix("insert the missing iptables rules", argv=argv)
            if ctx.root(paths.IPTABLES_SCRIPT).is_file() else None)]
    return [DoctorFinding("system.firewall", "ok", message=f"all {len(state.get('rules', []))} iptables rules tagged "
                          "swan-wizard are in place", evidence=evidence)]


# ---------------------------------------------------------------------------------------------- kernel, pools


def _kernel(ctx: Context, facts: netfacts.NetFacts, answers: Answers, state: ViciState) -> list[DoctorFinding]:
    if not state.error and not facts.esp:
        if "kernel-libipsec" in state.plugins:
            return [DoctorFinding(
                "system.kernel", "ok", message="the kernel has no ESP; charon carries ESP itself "
                "(kernel-libipsec is loaded)", evidence=(Evidence("vici stats", "plugins: ... kernel-libipsec"),))]
        restart = "systemctl restart strongswan" if _systemd() else ctx.apply_command()
        return [DoctorFinding(
            "system.kernel", "error",
            message="the kernel has no ESP and the running charon has no kernel-libipsec plugin: tunnels "
            "authenticate but no SA can be installed (charon logs 'unable to install ... SA')",
            evidence=(Evidence("vici stats", "plugins: " + " ".join(state.plugins)),
             Evidence("/sys/module/esp4", "absent")),
            fix="Set networking.esp: auto (or userspace) and re-run apply, then restart charon: "
                "plugins load at start.", command=restart)]
    return [_from_net(f) for f in netchecks.check_kernel(answers, facts)]


def _pools(ctx: Context, facts: netfacts.NetFacts, answers: Answers) -> list[DoctorFinding]:
    findings: list[DoctorFinding] = []
    seen: set[str] = set()
    for pool in ctx.installed.pools:
        for net in pool.networks():
            if str(net) in seen or not isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network):
                continue
            seen.add(str(net))
            evidence = (Evidence(str(pool.loc), f"addrs = {', '.join(pool.addrs)}"),)
            for f in netchecks.pool_overlaps(str(net), [str(net)], "", facts):
                overlap = f.code == "pool.overlap"
                findings.append(DoctorFinding("config.pool-overlap" if overlap else "config.pool", f.severity,
                                              message=f.message, evidence=evidence, fix=f.fix,
                                              command=ctx.apply_command() if overlap else ""))
    return findings
