"""Log diagnosis: charon's log through the rule table, as findings with the lines that prove them."""

from __future__ import annotations

import re

from wizard.checks.doctor import certs
from wizard.checks.doctor.context import Context
from wizard.checks.doctor.findings import DoctorFinding
from wizard.checks.doctor.logrules import RuleStats, ScanResult, scan
from wizard.findings import Evidence, Severity
from wizard.pki.names import san_names

_ASKED = re.compile(r"^(?P<me_host>\S+?)\[(?P<me>[^\]]*)\]\.\.\.(?P<other_host>\S+?)\[(?P<other>[^\]]*)\]")
_WEAK_ONLY = re.compile(r"MODP_(?:768|1024|1536)\b")
_STRONG = re.compile(r"MODP_(?:2048|3072|4096|6144|8192)|ECP_|CURVE_")


def _details(stats: RuleStats, prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: v for k, v in stats.details.items() if k.startswith(prefix)}


def ip_version(requested: str) -> int:
    """The IP version of a virtual IP a client asked for, as charon prints it (%any, %any6, an address)."""
    return 6 if requested == "%any6" or ":" in requested else 4


def vip_family_matters(stats: RuleStats, ctx: Context) -> bool:
    """Whether a missing address of a family is a problem: a pool of that family exists, or the pools are unknown.

    A family no pool serves is what the server is set up for (an IPv4-only pool, a client asking for IPv6
    too); an IKE_SA that got no address at all is vip-failure's business.
    """
    served = ctx.installed.pool_families()
    asked = {ip_version(r) for r in _details(stats, "requested=")}
    return served is None or not asked or bool(asked & served)


def _vip_family_hints(stats: RuleStats, ctx: Context) -> list[str]:
    served = ctx.installed.pool_families()
    out = []
    for requested, n in _details(stats, "requested=").items():
        version = ip_version(requested)
        if served is None:
            out.append(f"clients asked for an IPv{version} address ({requested}, {n}x) and got none; whether a pool "
                       f"hands out IPv{version} addresses could not be read from the configuration")
        elif version in served:
            out.append(f"clients asked for an IPv{version} address ({requested}, {n}x) and got none although a pool "
                       f"hands them out: it is exhausted or not loaded (swanctl --list-pools --leases)")
        else:
            out.append(f"clients asked for an IPv{version} address too ({requested}, {n}x); no pool hands out "
                       f"IPv{version} addresses here, so there is nothing to fix as long as they got one of the "
                       "other family (a client that got none shows as vip-failure)")
    return out


def _identity_type_hints(stats: RuleStats, ctx: Context) -> list[str]:
    """Where the identity a client sent sits in its certificate: the type it must be sent as."""
    sent = list(_details(stats, "cert="))
    clients = certs.client_certs(ctx)
    # The client certificates the log says were sent; without that, every client certificate of this server.
    candidates = [c for c in clients if any(certs.has_subject(c[2], dn) for dn in sent)] if sent else clients
    out = []
    for identity in _details(stats, "identity="):
        found = False
        for name, logical, cert in candidates:
            where = f"the certificate of client {name} ({ctx.shown(logical)})"
            forms = certs.identity_forms(cert, identity)
            if forms:
                found = True
                out.append(f"{where} carries '{identity}' as {' and as '.join(forms)}: the client sent "
                           f"'{identity}' as another type; it must send it as {forms[0].split(' (')[0]}")
            elif sent:
                found = True
                out.append(f"{where} was sent but does not carry '{identity}' at all: the client must send one of "
                           f"its names ({', '.join(san_names(cert)) or 'its subject DN'}) as its identity")
        if not found:
            subjects = ", ".join(f'"{dn}"' for dn in sent) or "its certificate"
            out.append(f"the client sent {subjects} but an identity '{identity}' that certificate does not carry "
                       "as the type it was sent (charon matches a name only against a subjectAltName of the "
                       "same type, or the whole subject DN)")
    return out


def hints(stats: RuleStats, ctx: Context, others: frozenset[str] = frozenset()) -> list[str]:
    """What this log, this configuration and this rule say together, beyond the rule's generic fix.

    ``others``: the codes of the other rules the log matched (an EAP failure explains a client's
    AUTHENTICATION_FAILED better than a certificate problem would).
    """
    code = stats.rule.code
    out: list[str] = []
    if code == "authentication-failed" and "peer" in stats.details and not others & {"eap-failed", "eap-method"}:
        out.append("clients rejected this server's authentication: they do not trust its CA (install ca.pem from "
                   "the client's folder as a trusted root) or its certificate lacks the name they dial (see the "
                   "certificate findings)")
    if code == "no-peer-config":
        ids = ctx.installed.local_ids
        for asked, n in _details(stats, "asked=").items():
            match = _ASKED.match(asked)
            if not match:
                continue
            me, host = match["me"], match["me_host"]
            if me not in ("%any", "") and ids and me not in ids:
                how = f"dial {host} and ask for it" if me == host else f"dial {host} and ask for '{me}'"
                out.append(f"clients {how} as the server identity ({n}x), but the connections identify as "
                           f"{', '.join(repr(i) for i in ids)}: add '{me}' to server.alt_names (the certificate "
                           "then carries it too) or configure the clients with the server's name")
    if code == "ike-proposal-mismatch":
        for offered, n in _details(stats, "offered=").items():
            if _WEAK_ONLY.search(offered) and not _STRONG.search(offered):
                out.append(f"the client offered only weak DH groups ({n}x): '{offered[:160]}' - this is Windows' "
                           "built-in default (or an old client); run the generated .ps1 on Windows")
            else:
                out.append(f"the client offered ({n}x): {offered[:300]}")
    if code == "install-failed":
        for kernel, n in _details(stats, "kernel=").items():
            if "not implemented" in kernel.lower() or "not supported" in kernel.lower():
                if ctx.installed.plugin_loaded("kernel-libipsec"):
                    # The netlink error proves the charon that logged it ran without kernel-libipsec.
                    out.append(f"the kernel answered '{kernel}' ({n}x): it has no ESP, and the configuration "
                               "loads kernel-libipsec but that charon ran without it: restart charon (plugins "
                               "load at start)")
                else:
                    out.append(f"the kernel answered '{kernel}' ({n}x): it has no ESP; use charon's kernel-libipsec "
                               "(networking.esp: auto or userspace) and re-run apply, or load esp4")
    if code == "peer-not-responding":
        mids = {k: v for k, v in _details(stats, "retransmitted-mid=").items()}
        if "0" in mids:
            out.append("the first message (IKE_SA_INIT, message ID 0) got no answer: the server is unreachable on "
                       "UDP 500 (not running, wrong address, or a firewall/security group drops it)")
        if "1" in mids:
            out.append("IKE_SA_INIT was answered but IKE_AUTH (message ID 1) was not: UDP 4500 is blocked (used "
                       "behind NAT) or the large message's IP fragments are dropped")
        if any(m not in ("0", "1", "?") for m in mids):
            out.append("a later exchange went unanswered (e.g. EAP: a server waits before answering a wrong "
                       "password)")
    if code == "eap-failed":
        users = _details(stats, "user=")
        for user, n in users.items():
            out.append(f"no password is configured for the EAP user '{user}' ({n}x): a typo, or a user not in "
                       "variants.ikev2-eap.users")
        if not users:
            out.append("the user exists, so the password is wrong (or the client sent another name's password)")
    if code == "constraint-identity":
        for identity, _ in _details(stats, "identity=").items():
            out.append(f"the peer's certificate does not contain '{identity}'")
    if code == "identity-type":
        out += _identity_type_hints(stats, ctx)
    if code == "vip-family":
        out += _vip_family_hints(stats, ctx)
    if code == "no-trusted-key":
        for identity, _ in _details(stats, "identity=").items():
            out.append(f"no certificate for '{identity}' chains to a CA trusted here")
    if code == "ts-unacceptable":
        for ts, _ in _details(stats, "ts=").items():
            out.append(f"the client asked for {ts}")
    return out


def situation(stats: RuleStats, ctx: Context) -> tuple[str, str] | None:
    """The cause and fix this log and configuration prove, in place of the rule's generic ones (None: no more
    than the rule knows)."""
    if stats.rule.code != "install-failed":
        return None
    unrouted = sorted(set(_details(stats, "no-local-address=")) | set(_details(stats, "libipsec-route=")))
    if unrouted:
        nets = ", ".join(unrouted)
        # kernel-libipsec (5.9.8 kernel_libipsec_ipsec.c install_route) needs a local source address inside the
        # local traffic selector for the route into its TUN device; without one add_policy fails (fixed in 5.9.12).
        return (f"charon already carries ESP in userspace (kernel-libipsec, which logged 'error installing route') "
                f"and this host has no address inside {nets}: before strongSwan 5.9.12, kernel-libipsec routes a "
                "tunnel only from an address of the server inside its local traffic selector, so the policy "
                "install fails and every client is told TS_UNACCEPTABLE.",
                f"Give this host an unused address inside {nets} (e.g. `ip address add ADDRESS/32 dev lo`, and the "
                "same in its permanent network configuration; charon sees a new address at once), or carry ESP in "
                "the kernel (modprobe esp4, networking.esp: kernel), or install strongSwan 5.9.12 or later. "
                "`swan-wizard check answers.yaml` shows whether each split network has such an address.")
    if ctx.installed.plugin_loaded("kernel-libipsec") and not _details(stats, "kernel="):
        return ("charon carries ESP in userspace (kernel-libipsec is loaded) and could not install the SA or policy; "
                "the lines before 'unable to install' say why (logging: add 'knl 2' for more).",
                "kernel-libipsec does tunnel mode only and, before strongSwan 5.9.12, needs an address of this host "
                "inside every split-tunnel network; run `swan-wizard check answers.yaml`, or load esp4 and set "
                "networking.esp: kernel.")
    return None


def check(ctx: Context) -> tuple[list[DoctorFinding], ScanResult | None]:
    if ctx.log_path is None:
        return [], None
    result = scan(ctx.log_path)
    shown = ctx.log_shown
    if result.missing:
        severity: Severity = "warning" if ctx.live else "info"
        return [DoctorFinding("log.missing", severity,
                              message=f"no charon log to read at {shown} ({result.missing})",
                              fix="Swan Wizard's settings (/etc/strongswan.d/swan-wizard.conf) make charon write it; "
                                  "re-run apply and restart charon, or give another log with --log (e.g. "
                                  "journalctl -u strongswan > charon.txt).", command=ctx.apply_command())], result
    epoch = (f"the last charon start or configuration load ({shown}:{result.epoch.line_no})" if result.epoch
             else "the start of the log")
    findings = [DoctorFinding(
        "log.scanned", "info",
        message=f"read {result.lines} lines ({result.size / 1e6:.1f} MB) of {shown} in {result.seconds:.2f}s; "
        f"{result.established} IKE_SA(s) established" + (f", the last at line {result.last_established.line_no}"
                                                         if result.last_established else ""),
        evidence=(Evidence(f"{shown}:{result.epoch.line_no}", result.epoch.text),) if result.epoch else (),
        data={"lines": result.lines, "bytes": result.size, "seconds": round(result.seconds, 4),
              "established": result.established, "epoch_line": result.epoch.line_no if result.epoch else None})]
    found = result.found()
    codes = frozenset(s.rule.code for s in found)
    for stats in found:
        findings.append(_finding(stats, ctx, shown, epoch, codes - {stats.rule.code}))
    return findings, result


def _finding(stats: RuleStats, ctx: Context, shown: str, epoch: str, others: frozenset[str]) -> DoctorFinding:
    rule = stats.rule
    assert stats.first is not None and stats.last is not None
    current = stats.current > 0
    severity = rule.severity if current else "info"
    if rule.code == "authentication-failed" and others and set(stats.details) <= {"sent"} | {
            k for k in stats.details if k.startswith("asked=")}:
        # This host refused the peer: the rule that matched the reason before it is the finding to read.
        severity = "info"
    if rule.code == "vip-family" and not vip_family_matters(stats, ctx):
        severity = "info"
    when = (f"{stats.current} since {epoch}" if current
            else f"all before {epoch}: may be fixed already")
    evidence = []
    shown_hits = [stats.first_current or stats.first]
    if stats.last.line_no != shown_hits[0].line_no:
        shown_hits.append(stats.last)
    for hit in stats.context:
        if hit.line_no not in {h.line_no for h in shown_hits}:
            shown_hits.append(hit)
    for hit in sorted(shown_hits, key=lambda h: h.line_no):
        evidence.append(Evidence(f"{shown}:{hit.line_no}", hit.text))
    extra = hints(stats, ctx, others)
    cause, generic_fix = situation(stats, ctx) or (rule.cause, rule.fix)
    fix = generic_fix + ("\n" + "\n".join(f"Here: {h}." for h in extra) if extra else "")
    return DoctorFinding(
        f"log.{rule.code}", severity,
        message=f"{rule.title}: {stats.count}x in the log ({when}). Cause: {cause}",
        evidence=tuple(evidence), fix=fix,
        data={"rule": rule.code, "count": stats.count, "since_epoch": stats.current,
              "first_line": stats.first.line_no, "last_line": stats.last.line_no, "hints": extra,
              "reference": rule.ref})
