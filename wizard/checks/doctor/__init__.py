"""``swan-wizard doctor``: find out why the VPN does not work, and say (or do) what fixes it.

Four areas, each a module returning findings (``findings.Finding``): certificates (``certs``), the
configuration (``configcheck``: charon's own verdict from a throwaway daemon, secret file modes,
proposals common clients can negotiate), the live system (``system``: daemon over vici, ports,
forwarding, firewall, kernel, pools) and charon's log (``logcheck`` with the rule table in
``logrules``). :func:`run` gathers them; :func:`main` is the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from wizard.checks.doctor.context import Context, make_context
from wizard.checks.doctor.findings import AREAS, DoctorFinding, counts, sort_key
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.problems import Exit

REPORT_VERSION = 1


@dataclass
class Report:
    ctx: Context
    findings: list[DoctorFinding]
    fixes_applied: list[str] = field(default_factory=list)
    strict: bool = False

    @property
    def failed(self) -> bool:
        bad = ("error", "warning") if self.strict else ("error",)
        return any(f.severity in bad for f in self.findings)

    @property
    def exit_code(self) -> Exit:
        return Exit.FAILED if self.failed else Exit.OK

    def by_code(self, code: str) -> list[DoctorFinding]:
        return [f for f in self.findings if f.code == code]

    def to_json(self) -> dict[str, Any]:
        return {
            "swan_wizard_doctor": REPORT_VERSION,
            "root": str(self.ctx.root.path),
            "live": self.ctx.live,
            "layout": self.ctx.installed.layout,
            "answers": self.ctx.answers_path,
            "log": self.ctx.log_shown,
            "generated": self.ctx.now.isoformat(),
            "status": "problems" if self.failed else "ok",
            "counts": counts(self.findings),
            "findings": [f.to_json() for f in self.findings],
            "fixes_applied": self.fixes_applied,
        }


def run(root: Root | str | Path = "/", answers_path: str | None = None, *, log: str | None = None,
        now: datetime | None = None, daemon_check: bool = True, strict: bool = False) -> Report:
    """Every check against ``root``; ``answers_path`` names what clients dial (server.address)."""
    # Imported here: `swan-wizard --help` builds the doctor's parser and should not pay for the checks.
    from wizard.checks.doctor import certs, configcheck, logcheck, system

    root = root if isinstance(root, Root) else Root.of(root)
    answers = answers_file.load(answers_path) if answers_path else None
    ctx = make_context(root, answers, answers_path, now=now, log=log, daemon_check=daemon_check)
    findings: list[DoctorFinding] = []
    findings += certs.check(ctx)
    findings += configcheck.check(ctx)
    findings += system.check(ctx)
    log_findings, _ = logcheck.check(ctx)
    findings += log_findings
    findings.sort(key=sort_key)
    return Report(ctx, findings, strict=strict)


def apply_fixes(report: Report) -> list[str]:
    """Carry out every fix the doctor may apply by itself (chmod of secrets; commands on the live system)."""
    done = []
    for finding in report.findings:
        fix = finding.autofix
        if fix is None or (fix.argv and not report.ctx.live):
            continue
        done.append(f"{finding.code}: {fix.apply()}")
    return done


_MARK = {"error": "ERROR", "warning": "WARN", "info": "info", "ok": "ok", "skipped": "skip"}


def render_text(report: Report, verbose: bool = False) -> str:
    ctx = report.ctx
    where = "the live system" if ctx.live else f"the staged root {ctx.root.path}"
    lines = [f"swan-wizard doctor: {where}, {ctx.installed.layout or 'no'} layout"
             + (f", answers {ctx.answers_path}" if ctx.answers_path else "")]
    for area in AREAS:
        chosen = [f for f in report.findings if f.area == area]
        if not chosen:
            continue
        lines.append("")
        lines.append(area.capitalize())
        for f in chosen:
            lines.append(f"  [{_MARK[f.severity]}] {f.code}: {f.message}")
            if f.severity in ("error", "warning") or verbose:
                for e in f.evidence[:8]:
                    lines.append(f"      evidence: {e}")
                if len(f.evidence) > 8:
                    lines.append(f"      ... {len(f.evidence) - 8} more (see --json)")
                for i, part in enumerate(f.fix.splitlines()):
                    lines.append(f"      {'fix:' if i == 0 else '    '} {part}")
                if f.command:
                    lines.append(f"      run: {f.command}")
                if f.autofix:
                    lines.append(f"      (--fix does it: {f.autofix.description})")
    if report.fixes_applied:
        lines += ["", "Fixes applied:", *(f"  {line}" for line in report.fixes_applied)]
    c = counts(report.findings)
    fixable = sum(1 for f in report.findings if f.autofix and f.is_problem)
    lines += ["", f"Summary: {c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s), {c['ok']} ok, "
              f"{c['skipped']} skipped." + (f" `swan-wizard doctor --fix` can fix {fixable}." if fixable
                                            and not report.fixes_applied else "")]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> Exit:
    """The `doctor` subcommand (wired up in wizard.cli)."""
    root = Root.of(getattr(args, "root", None))
    options = {"log": args.log, "daemon_check": not args.offline, "strict": args.strict}
    report = run(root, args.answers, **options)
    if args.fix:
        applied = apply_fixes(report)
        if applied:
            # The fixes changed the system: report what is true now, and what was done.
            report = run(root, args.answers, **options)
        report.fixes_applied = applied or ["nothing that --fix can fix"]
    text = render_text(report, verbose=args.verbose)
    if args.bundle:
        from wizard.checks.doctor.bundle import write_bundle

        members = write_bundle(report.ctx, Path(args.bundle), report.to_json(), text, args.log_lines)
        print(f"swan-wizard: support bundle {args.bundle}: {len(members)} files, secrets removed", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        sys.stdout.write(text)
    return report.exit_code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--answers", metavar="FILE", help="the saved answers: what clients dial (server.address)")
    parser.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS,
                        help="examine a tree written by `apply --root DIR` (live checks are skipped)")
    parser.add_argument("--json", action="store_true", help="findings as JSON, for automation")
    parser.add_argument("--fix", action="store_true",
                        help="apply the fixes the doctor can make itself (secret file modes; on the live system: "
                             "load connections, forwarding, firewall rules), then check again")
    parser.add_argument("--bundle", metavar="FILE", help="also write a support bundle (tar.gz) without secrets")
    parser.add_argument("--log", metavar="FILE", help="charon log to read (default: the filelog Swan Wizard sets up)")
    parser.add_argument("--log-lines", type=int, default=2000, metavar="N", help="log lines in the bundle")
    parser.add_argument("--offline", action="store_true",
                        help="do not start a throwaway charon to check that it accepts the configuration")
    parser.add_argument("--strict", action="store_true", help="warnings also make the exit status 1")
    parser.add_argument("--verbose", "-v", action="store_true", help="evidence and fixes for every finding")
