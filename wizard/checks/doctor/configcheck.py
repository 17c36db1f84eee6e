"""Configuration checks: does charon accept the files, are secrets private, can clients negotiate."""

from __future__ import annotations

import os
import re
import stat
from pathlib import PurePosixPath

from wizard.checks.doctor import daemoncheck, proposalcheck
from wizard.checks.doctor.confparse import Loc
from wizard.checks.doctor.context import Context
from wizard.checks.doctor.findings import AutoFix, DoctorFinding
from wizard.checks.doctor.installed import Conn
from wizard.findings import Evidence
from wizard.fs import paths
from wizard.model.proposals import check_proposal

# Directories that hold only secrets: group and others must not even list them.
PRIVATE_DIRS = (paths.CA_DIR, paths.CLIENTS_DIR, paths.PEERS_DIR, paths.SECRETS_DIR, paths.TYPED_SECRETS_DIR,
                paths.RADIUS_DIR, paths.WIZARD_STATE, paths.BACKUPS_DIR, paths.SWANCTL_PRIVATE, paths.IPSEC_PRIVATE)
# Files that are secrets wherever they are, and directories whose every file is one (client folders hold
# the key, the PKCS#12 and profiles with its password).
SECRET_DIRS = (paths.SWANCTL_PRIVATE, paths.SWANCTL_DIR / "rsa", paths.SWANCTL_DIR / "ecdsa",
               paths.SWANCTL_DIR / "pkcs8", paths.SWANCTL_DIR / "pkcs12", paths.IPSEC_PRIVATE, paths.SECRETS_DIR,
               paths.TYPED_SECRETS_DIR, paths.RADIUS_DIR)
# The eap-radius settings hold the RADIUS shared secrets.
SECRET_FILES = (paths.IPSEC_SECRETS, paths.PPP_CHAP_SECRETS, paths.CA_KEY, paths.RADIUS_SETTINGS)


def check(ctx: Context) -> list[DoctorFinding]:
    if ctx.installed.layout is None:
        return [DoctorFinding("config.missing", "error",
                              message=f"no Swan Wizard configuration under {ctx.root.path}: neither "
                              f"{paths.SWANCTL_CONF} nor {paths.IPSEC_CONF} with a conn",
                              fix="Run apply to write it.", command=ctx.apply_command())]
    findings = _parse(ctx)
    findings += permissions(ctx)
    findings += _proposals(ctx)
    return findings


# ---------------------------------------------------------------------------------------------- parsing


def _syntax_evidence(ctx: Context) -> list[Evidence]:
    return [Evidence(str(p.loc), p.message) for p in ctx.installed.problems]


def _parse(ctx: Context) -> list[DoctorFinding]:
    findings: list[DoctorFinding] = []
    installed = ctx.installed
    files = ", ".join(ctx.shown(f) for f in installed.files) or "the configuration"
    if ctx.daemon_check:
        result = daemoncheck.parse_check(ctx.root, installed)
    else:
        result = daemoncheck.ParseCheck("skipped", reason="--offline")
    if result.status == "ok":
        findings.append(DoctorFinding(
            "config.accepted", "ok",
            message=f"charon accepts {files}: {result.tool} loaded {', '.join(result.loaded) or 'nothing'}"
            " in a throwaway daemon", data={"loaded": result.loaded}))
        if installed.problems:
            # charon took it: our stricter reader's complaints are only style.
            findings.append(DoctorFinding(
                "config.style", "info",
                message="charon accepts the files, but they contain lines this reader finds odd",
                evidence=tuple(_syntax_evidence(ctx))))
        return findings
    if result.status == "rejected":
        findings += _rejected(ctx, result)
        return findings
    findings.append(DoctorFinding(
        "config.daemon-check", "skipped",
        message=f"loading the configuration into a throwaway charon: skipped ({result.reason}); "
        "only Swan Wizard's own reading of the files was done"))
    if installed.problems:
        findings.append(DoctorFinding(
            "config.syntax", "error",
            message=f"{files}: {len(installed.problems)} syntax problem(s); charon would refuse the file",
            evidence=tuple(_syntax_evidence(ctx)),
            fix="Correct the lines named, or re-run apply to rewrite Swan Wizard's files.",
            command=ctx.apply_command()))
    findings += _offline_proposals(ctx)
    return findings


def _loc_of_key(ctx: Context, conn_name: str, key: str) -> Loc | None:
    tree = ctx.installed.tree
    section = tree.section("connections", conn_name) if tree else None
    found = section.find_key(key) if section else None
    return found.loc if found else None


def _ipsec_line(ctx: Context, pattern: str) -> Loc | None:
    """The first line of ipsec.conf (or an include) matching ``pattern``."""
    for logical in ctx.installed.files:
        try:
            lines = ctx.root(logical).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            if re.search(pattern, line):
                return Loc(str(logical), number)
    return None


def _locate(ctx: Context, message: str, conn: Conn | None) -> Loc | None:
    """Where in the files a daemon complaint points."""
    key = re.search(r"(?:invalid value for|unknown option): ([\w.-]+)", message)
    if key and conn:
        return _loc_of_key(ctx, conn.name, key[1])
    cert = re.search(r"loading \w+ certificate '([^']+)' failed", message)
    if cert:
        for c in ctx.installed.conns:
            if PurePosixPath(cert[1]) in c.local_certs or PurePosixPath(cert[1]) in c.remote_cacerts:
                return c.certs_loc
    keyword = re.search(r"unknown keyword '([^']+)'", message)
    if keyword:
        return _ipsec_line(ctx, rf"^\s+{re.escape(keyword[1])}\s*=")
    proposal = re.search(r"skipped invalid proposal string: (\S+)", message)
    if proposal:
        return _ipsec_line(ctx, re.escape(proposal[1]))
    line = re.match(r"line (\d+): ", message)
    if line and ctx.installed.layout == "ipsec":
        return Loc(str(paths.IPSEC_SECRETS), int(line[1]))
    if ("syntax error" in message or "invalid config file" in message) and ctx.installed.problems:
        return ctx.installed.problems[0].loc
    return None


def _belongs(line: str, conn: Conn | None, why: str) -> bool:
    """Whether a daemon complaint without a connection name explains this connection's failure."""
    if conn is None:
        return False
    if any(str(p) in line for p in (*conn.local_certs, *conn.remote_cacerts)):
        return True  # swanctl names a missing certificate in a line of its own
    proposals = [*(conn.ike_proposals or ()), *(p for c in conn.children for p in c.esp_proposals or ())]
    unknown = re.search(r"algorithm '([^']+)' not recognized", line) if "proposal" in why else None
    if unknown:
        algorithm = unknown[1]
        return any(algorithm in p.split("-") for p in proposals)
    return line in why


def _rejected(ctx: Context, result: daemoncheck.ParseCheck) -> list[DoctorFinding]:
    findings: list[DoctorFinding] = []
    handled: set[str] = set()
    unparsable = [line for line in result.problems if "syntax error" in line or "invalid config file" in line]
    if unparsable:
        # Nothing of the file was loaded: the connections failing are a consequence, not separate findings.
        files = ", ".join(ctx.shown(f) for f in ctx.installed.files)
        return [DoctorFinding(
            "config.rejected", "error",
            message=f"charon cannot parse {files}: {unparsable[0]}; no connection is loaded",
            evidence=(*_syntax_evidence(ctx), *(Evidence(result.tool, line) for line in unparsable)),
            fix="Correct the braces around the lines named (or re-run apply to rewrite Swan Wizard's files).",
            command=ctx.apply_command(), data={"problems": unparsable})]
    for name, why in result.failed.items():
        conn = ctx.installed.conn(name)
        related = [line for line in result.problems if _belongs(line, conn, why) or name in line]
        handled.update(related)
        if why == "charon did not load it" and related:
            why = related[0]
        loc = _locate(ctx, why, conn)
        for line in related:
            loc = loc or _locate(ctx, line, conn)
        evidence = [Evidence(str(loc), "this line")] if loc else []
        evidence += [Evidence(result.tool, r) for r in dict.fromkeys([why, *related])]
        findings.append(DoctorFinding(
            "config.rejected", "error",
            message=f"charon refuses connection {name}: {why}", evidence=tuple(evidence),
            fix="Correct the setting named (the evidence gives file and line), or re-run apply to rewrite Swan "
                "Wizard's files from the answers.", command=ctx.apply_command(),
            data={"connection": name, "reason": why}))
    rest = [line for line in result.problems if line not in handled and not line.startswith("loaded ")
            and not line.startswith("###")]
    if rest:
        evidence = []
        for line in rest:
            loc = _locate(ctx, line, None)
            evidence.append(Evidence(f"{result.tool}" + (f" ({loc})" if loc else ""), line))
        evidence += _syntax_evidence(ctx)
        findings.append(DoctorFinding(
            "config.rejected", "error",
            message=f"charon reports {len(rest)} problem(s) loading the configuration", evidence=tuple(evidence),
            fix="Correct the lines named, or re-run apply to rewrite Swan Wizard's files.",
            command=ctx.apply_command(), data={"problems": rest}))
    return findings


def _offline_proposals(ctx: Context) -> list[DoctorFinding]:
    """Without a daemon to ask: algorithm keywords strongSwan 5.9 does not know."""
    out = []
    for conn in ctx.installed.conns:
        lists = [("ike", conn.ike_proposals or (), conn.ike_loc)]
        lists += [("esp", c.esp_proposals or (), c.esp_loc) for c in conn.children]
        for kind, proposals, loc in lists:
            errors = [e for p in proposals if p.lower() != "default" for e in check_proposal(p, kind).errors]
            if errors:
                out.append(DoctorFinding(
                    "config.proposal-unknown", "error",
                    message=f"connection {conn.name}: {'; '.join(errors)}: charon refuses the connection",
                    evidence=(Evidence(str(loc), ", ".join(proposals)),) if loc else (),
                    fix="Use strongSwan's keywords (see `swan-wizard schema`), or proposals: modern; "
                        "then re-run apply.", command=ctx.apply_command()))
    return out


# ---------------------------------------------------------------------------------------------- permissions


def _holds_secrets(ctx: Context, logical: PurePosixPath) -> bool:
    """ipsec.secrets of the other layout is often the distribution's empty file: only its entries matter."""
    if logical != paths.IPSEC_SECRETS or ctx.installed.layout == "ipsec":
        return True
    try:
        text = ctx.root(logical).read_text(errors="replace")
    except OSError:
        return False
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


def _secret_paths(ctx: Context) -> list[PurePosixPath]:
    out: list[PurePosixPath] = [p for p in SECRET_FILES if _holds_secrets(ctx, p)]
    for directory in SECRET_DIRS:
        real = ctx.root(directory)
        if real.is_dir():
            out += [directory / p.name for p in sorted(real.iterdir()) if p.is_file() and not p.is_symlink()]
    for base in (paths.CLIENTS_DIR, paths.PEERS_DIR):
        real = ctx.root(base)
        if real.is_dir():
            out += [base / p.parent.name / p.name for p in sorted(real.glob("*/*")) if p.is_file()]
    # A swanctl file holding `secrets { ... secret = ... }` is as secret as ipsec.secrets.
    out += [PurePosixPath(s.loc.file) for s in ctx.installed.secrets]
    return list(dict.fromkeys(out))


def _owner(ctx: Context, logical: PurePosixPath, is_dir: bool, st: os.stat_result) -> list[DoctorFinding]:
    """A secret owned by another user than the one charon and the wizard run as (root) is readable by
    that user whatever its mode."""
    if os.geteuid() != 0 or st.st_uid == 0:
        return []  # only root can tell (and fix) who else owns what
    what = "directory of secrets" if is_dir else "secret file"
    real = ctx.root(logical)
    return [DoctorFinding(
        "config.permissions", "error",
        message=f"{ctx.shown(logical)} is a {what} owned by uid {st.st_uid}, not root: that user can read or "
        "replace it",
        evidence=(Evidence(ctx.shown(logical), f"mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"),),
        fix=f"chown 0:0 {real} (swan-wizard apply does it)",
        command=f"chown 0:0 {real}",
        data={"path": str(logical), "owner": st.st_uid, "wanted_owner": 0})]


def permissions(ctx: Context) -> list[DoctorFinding]:
    findings: list[DoctorFinding] = []
    # The other layout's key directory matters only when something is in it.
    other = paths.IPSEC_PRIVATE if ctx.installed.layout != "ipsec" else paths.SWANCTL_PRIVATE
    dirs = [d for d in PRIVATE_DIRS if d != other or any(ctx.root(d).glob("*"))]
    real_clients = ctx.root(paths.CLIENTS_DIR)
    if real_clients.is_dir():
        dirs += [paths.CLIENTS_DIR / p.name for p in sorted(real_clients.iterdir()) if p.is_dir()]
    checked = 0
    for logical, is_dir in [(p, False) for p in _secret_paths(ctx)] + [(d, True) for d in dirs]:
        real = ctx.root(logical)
        try:
            st = real.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode) or (is_dir != stat.S_ISDIR(st.st_mode)):
            continue
        checked += 1
        mode = stat.S_IMODE(st.st_mode)
        findings += _owner(ctx, logical, is_dir, st)
        if not mode & 0o077:
            continue
        wanted = mode & 0o700
        what = "directory of secrets" if is_dir else "secret file"
        who = "everyone" if mode & 0o007 else "its group"
        findings.append(DoctorFinding(
            "config.permissions", "error",
            message=f"{ctx.shown(logical)} is a {what} readable by {who} (mode {mode:04o}); it must be {wanted:04o}",
            evidence=(Evidence(ctx.shown(logical), f"mode {mode:04o}, owner uid {st.st_uid}"),),
            fix=f"chmod {wanted:04o} {real} (swan-wizard doctor --fix does it)",
            command=f"chmod {wanted:04o} {real}",
            autofix=AutoFix(f"chmod {wanted:04o} {ctx.shown(logical)}", chmod_path=str(real), mode=wanted),
            data={"path": str(logical), "mode": f"{mode:04o}", "wanted": f"{wanted:04o}"}))
    if not findings:
        findings.append(DoctorFinding("config.permissions", "ok",
                                      message=f"{checked} secret files and directories are private (0600 / 0700)"))
    return findings


# ---------------------------------------------------------------------------------------------- proposals


def _proposals(ctx: Context) -> list[DoctorFinding]:
    findings: list[DoctorFinding] = []
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for conn in ctx.installed.conns:
        if not conn.road_warrior or conn.version == 1:
            continue
        ike = conn.ike_proposals or ("default",)
        for child in conn.children:
            esp = child.esp_proposals or ("default",)
            if proposalcheck.only_weak_groups(ike) and ("weak", conn.name, ike) not in seen:
                seen.add(("weak", conn.name, ike))
                findings.append(DoctorFinding(
                    "config.proposals-weak", "warning",
                    message=f"connection {conn.name} offers only weak DH groups (MODP-1024/1536): Android and current "
                    "iOS refuse them, and they are breakable", evidence=_prop_evidence(conn.ike_loc, ike),
                    fix="Set proposals: modern in the answers and re-run apply; configure Windows clients with "
                        "the generated .ps1 instead of weakening the server.", command=ctx.apply_command()))
            for client in (*proposalcheck.CLIENTS, proposalcheck.WINDOWS_DEFAULT):
                ike_ok, esp_ok = proposalcheck.accepts(client, ike, esp)
                default_windows = client is proposalcheck.WINDOWS_DEFAULT
                for kind, ok, proposals, loc in (("ike", ike_ok, ike, conn.ike_loc),
                                                 ("esp", esp_ok, esp, child.esp_loc)):
                    # Un-tuned Windows failing is expected (its .ps1 fixes it): one note is enough.
                    key = (client.name, "any" if default_windows else kind, () if default_windows else proposals)
                    if ok or key in seen:
                        continue
                    seen.add(key)
                    findings.append(DoctorFinding(
                        f"config.proposals-{kind}", "info" if default_windows else "warning",
                        message=f"{client.name} cannot negotiate {kind.upper()} with connection {conn.name}: it offers "
                        f"{client.offers_ike if kind == 'ike' else client.offers_esp}, and no configured "
                        f"{kind.upper()} proposal matches",
                        evidence=_prop_evidence(loc, proposals),
                        fix=("Expected: run the generated .ps1 on Windows (it selects a suite the server accepts)."
                             if default_windows else
                             "Set proposals: modern in the answers (it covers Android, Apple, Windows and "
                             "strongSwan clients) and re-run apply."),
                        command="" if default_windows else ctx.apply_command(),
                        data={"client": client.name, "kind": kind}))
    if not any(f.is_problem for f in findings):
        findings.append(DoctorFinding(
            "config.proposals", "ok",
            message="Android, Apple and Windows (with the generated profiles) can negotiate the "
            "configured proposals"))
    return findings


def _prop_evidence(loc: Loc | None, proposals: tuple[str, ...]) -> tuple[Evidence, ...]:
    text = ", ".join(proposals) if proposals != ("default",) else "(not set: charon's default)"
    return (Evidence(str(loc) if loc else "", text),)
