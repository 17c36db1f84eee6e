"""The ``swan-wizard`` command: the TUI without arguments, headless replay and tools with them."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from wizard import __version__
from wizard.fs.answersmemo import AnswersMemo
from wizard.fs.changes import Plan, file_changes, pending
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers, is_ip
from wizard.model.secrets import SecretSource
from wizard.plan import shortlist
from wizard.plan.apply import Held, apply, lock, wait_seconds
from wizard.plan.planner import build_plan, needed_bytes, system_facts
from wizard.plan.preview import describe
from wizard.problems import Exit, Problem, WizardError, io_failure, io_failures, note, report, warn

# The self-test's RADIUS test user's password: from the environment, never a command-line argument.
RADIUS_PASSWORD_ENV = "SWAN_WIZARD_RADIUS_PASSWORD"

if TYPE_CHECKING:
    from wizard.plan.rollback import Backup


def _progress(stage: str, done: int, total: int) -> None:
    if stage == "keys" and total:
        end = "\n" if done == total else "\r"
        print(f"generating keys: {done}/{total}", end=end, file=sys.stderr, flush=True)


def _plan(args: argparse.Namespace, root: Root | None = None, before: tuple[bytes, Answers] | None = None,
          memo: AnswersMemo | None = None) -> tuple[Answers, Root, Plan]:
    # Read again under the lock (another run may have saved the answers), parsed again only if they changed.
    root = root or Root.of(args.root)
    if memo is None and not getattr(args, "verify", False):
        memo = AnswersMemo(root)  # read only: a plan writes nothing
    answers = answers_file.reload(args.answers, before, memo) if before else answers_file.load(args.answers, memo)
    facts, net = system_facts(root, answers)
    source = SecretSource(base_dir=Path(args.answers).resolve().parent, root=root)
    plan = build_plan(answers, root, source, facts=facts, progress=_progress, net=net,
                      verify=getattr(args, "verify", False))
    return answers, root, plan


def _summary(changed: bool, plan_text: str, backup: str | None = None, handouts: tuple[str, ...] = ()) -> None:
    """``--json``: one object on stdout for tools (the Ansible module) that ask "did anything change?"."""
    print(json.dumps({"changed": changed, "plan": plan_text, "backup": backup, "handouts": list(handouts)}))


def cmd_plan(args: argparse.Namespace) -> Exit:
    _, root, plan = _plan(args)
    changes = file_changes(plan, root)
    text = describe(plan, changes, root.is_live)
    if getattr(args, "json", False):
        _summary(bool(pending(changes)), text)
    else:
        sys.stdout.write(text)
    return Exit.OK


def _say_if_interrupted(root: Root) -> None:
    from wizard.plan.rollback import interrupted

    broken = interrupted(root)
    if broken is not None:
        warn(f"an earlier apply (backup {broken.backup or '?'}, pid {broken.pid}) was interrupted before it "
             f"finished; this run completes it. To go back instead: swan-wizard rollback --root {root.path} "
             f"--before {broken.backup}")


def _lock(args: argparse.Namespace, root: Root, doing: str) -> contextlib.AbstractContextManager[Held]:
    """The root's one lock, taken before anything is planned and held to the last write."""
    return lock(root, doing, wait=getattr(args, "wait", 0.0) or 0.0, report=note)


def _refuse_failed_checks(answers: Answers) -> None:
    """The networking step's gate, headless: a FAIL of this host's checks stops the apply unless accepted."""
    from wizard.checks import netchecks
    from wizard.system import netfacts

    names = [n for n in (answers.server.address, *answers.server.alt_names) if not is_ip(n)]
    problems = netchecks.refusal(answers, netchecks.run_all(answers, netfacts.gather(names)))
    if problems:
        raise WizardError([Problem(p) for p in problems], Exit.INVALID)


def cmd_apply(args: argparse.Namespace) -> Exit:
    if args.dry_run:
        return cmd_plan(args)
    # A bad answers file or secret is reported before taking the lock: nothing is written, not even the lock.
    data = answers_file.read(args.answers)
    root = Root.of(args.root)
    # Offered the data now, written only after the apply; --verify reads everything, the answers included.
    memo = None if getattr(args, "verify", False) else AnswersMemo(root)
    answers = answers_file.parse(data, str(args.answers), memo)
    SecretSource(base_dir=Path(args.answers).resolve().parent, root=root).check_all(answers)
    if root.is_live:
        _refuse_failed_checks(answers)
    with _lock(args, root, "is applying to") as held:
        _say_if_interrupted(root)
        _, root, plan = _plan(args, root, (data, answers), memo)
        for field_name, message in plan.warnings:
            warn(f"{field_name}: {message}")
        # --json keeps stdout for the summary: progress lines go to stderr.
        say = shortlist.FileLines((lambda line: print(line, file=sys.stderr)) if args.json else print)
        text = describe(plan, file_changes(plan, root), root.is_live) if args.json else ""
        with io_failures(needed_bytes(plan), f"writing under {root.path}"):
            try:
                result = apply(plan, root, run_commands=not args.no_start, report=say, held=held)
            finally:
                say.close()
        if memo is not None:
            memo.save()
    if args.json:
        _summary(bool(result.changed or result.commands_run), text, result.backup_id, plan.handouts)
        return Exit.OK
    if result.nothing_changed:
        print("Nothing to change: the system already matches the answers.")
    else:
        print(f"Applied {len(result.changed)} changes under {root.path}; backup {result.backup_id}")
    if not root.is_live:
        print("No service was started (--root is not the live system).")
    for line in shortlist.handouts(plan.handouts):
        print(line)
    return Exit.OK


def cmd_check(args: argparse.Namespace) -> Exit:
    """The network checks of the answers against this host; exit 1 when any finds an error."""
    from wizard.checks import netchecks
    from wizard.system import netfacts

    answers = answers_file.load(args.answers)
    names = [n for n in (answers.server.address, *answers.server.alt_names) if not is_ip(n)]
    findings = netchecks.run_all(answers, netfacts.gather(names))
    if args.json:
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        for finding in findings:
            print(finding)
    return Exit.FAILED if any(f.severity == "error" for f in findings) else Exit.OK


def cmd_uninstall(args: argparse.Namespace) -> Exit:
    """Take out what Swan Wizard added: the firewall rules (--firewall), or those and its configuration."""
    from wizard.plan import uninstall

    root = Root.of(args.root)
    with contextlib.nullcontext() if args.dry_run else _lock(args, root, "is uninstalling from") as held:
        plan = uninstall.plan(root, firewall_only=args.firewall)
        sys.stdout.write(describe(plan, file_changes(plan, root), root.is_live))
        if args.dry_run:
            return Exit.OK
        result = apply(plan, root, run_commands=True, report=print, held=held)
    print("Nothing to remove." if result.nothing_changed and not result.commands_run
          else f"Removed; backup {result.backup_id}")
    return Exit.OK


def cmd_selftest(args: argparse.Namespace) -> Exit:
    """Connect a throwaway client to the running server for each variant; exit 1 if any fails."""
    from wizard.checks import selftest
    from wizard.system import netfacts

    answers = answers_file.load(args.answers)
    root = Root.of(args.root)
    source = SecretSource(base_dir=Path(args.answers).resolve().parent, root=root)
    radius = None
    if args.radius_user:
        password = os.environ.get(RADIUS_PASSWORD_ENV)
        if not password:
            raise WizardError(f"--radius-user {args.radius_user}: give its password in {RADIUS_PASSWORD_ENV} "
                              "(never on the command line, where other users see it)", Exit.USAGE)
        radius = selftest.RadiusLogin(args.radius_user, password)
    results = selftest.run(answers, root, source, server_netns=args.server_netns, server_vici=args.vici,
                           server_log=Path(args.server_log) if args.server_log else None,
                           userspace_esp=not netfacts.kernel_has_esp(),
                           report=lambda m: print(m, file=sys.stderr), radius=radius)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        for r in results:
            print(f"{r.variant:12} {r.status.upper():7} {r.detail}")
            for line in r.evidence:
                print(f"             {line}")
    return Exit.FAILED if any(r.status == "fail" for r in results) else Exit.OK


def cmd_rollback(args: argparse.Namespace) -> Exit:
    from wizard.plan import rollback

    root = Root.of(args.root)
    if args.list:
        for b in rollback.backups(root):
            ran = "commands not recorded" if b.commands is None else f"{len(b.commands)} commands"
            print(f"{b.id}  {b.kind:8}  {len(b.files)} files  {ran}  {b.created}")
        return Exit.OK
    with contextlib.nullcontext() if args.dry_run else _lock(args, root, "is rolling back") as held:
        plan, undone = _rollback_plan(args, root)
        sys.stdout.write(describe(plan, file_changes(plan, root), root.is_live))
        if args.dry_run:
            return Exit.OK
        # Restoring earlier keys is what a rollback is for: the only path besides "start over" that may.
        result = apply(plan, root, run_commands=True, report=print, kind="rollback", held=held, replace_keys=True)
    print(f"Rolled back {', '.join(b.id for b in undone)}; this rollback is backup {result.backup_id}")
    return Exit.OK


def _rollback_plan(args: argparse.Namespace, root: Root) -> tuple[Plan, list[Backup]]:
    from wizard.plan import rollback

    if args.before:
        # Undo run X itself too: the state right after the run before it (or before any run at all).
        ids = [b.id for b in rollback.backups(root)]
        if args.before not in ids:
            raise WizardError(f"no backup {args.before!r}; known: {', '.join(ids) or 'none'}")
        index = ids.index(args.before)
        target = ids[index - 1] if index else None
        return rollback.rollback_plan(root, target) if target else rollback.rollback_plan_to_start(root)
    return rollback.rollback_plan(root, args.id)


def cmd_lifecycle(args: argparse.Namespace) -> Exit:
    """`client ...` and `server ...`: a change to the answers file, then the same plan and apply."""
    from wizard.plan import clients

    return clients.main(args, system_facts)


def cmd_validate(args: argparse.Namespace) -> Exit:
    answers = answers_file.load(args.answers)
    from wizard.model.answers import answers_warnings

    for finding in answers_warnings(answers):
        warn(f"{finding.field}: {finding.message}")
    print(f"{args.answers}: valid ({', '.join(answers.variants.enabled())}; {answers.layout} layout)")
    return Exit.OK


def cmd_schema(args: argparse.Namespace) -> Exit:
    text = answers_file.json_schema_text()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return Exit.OK


def cmd_doctor(args: argparse.Namespace) -> Exit:
    """Find what keeps the VPN from working; the options live with the doctor (wizard.checks.doctor)."""
    from wizard.checks import doctor

    return doctor.main(args)


def cmd_tui(args: argparse.Namespace) -> int:  # the terminal UI's own code, or a crash's
    try:
        from screens.app import run as run_tui
    except ImportError as exc:
        print(f"swan-wizard: the terminal UI is not available ({exc}); "
              "use `swan-wizard apply answers.yaml`", file=sys.stderr)
        return Exit.FAILED
    return run_tui(root=args.root)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swan-wizard",
                                description="Set up a strongSwan IPsec VPN server. Without a command, "
                                            "the terminal wizard opens.")
    p.add_argument("--version", action="version", version=f"swan-wizard {__version__}")
    p.add_argument("--root", metavar="DIR", help="write under DIR instead of / (nothing outside it is touched)")
    sub = p.add_subparsers(dest="command")

    def answers_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("answers", help="answers file (YAML)")
        sp.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS,
                        help="write under DIR instead of / and start no service")
        return sp

    def wait_option(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--wait", metavar="SECONDS", type=wait_seconds, default=0.0,
                        help="when another run holds the lock, wait up to SECONDS for it (default: exit 4 at once)")

    ap = answers_cmd("apply", "replay an answers file: write every file and start strongSwan")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    ap.add_argument("--no-start", action="store_true", help="write files but run no command")
    ap.add_argument("--json", action="store_true",
                    help='print one JSON object: {"changed", "plan" (the dry run\'s text), "backup", "handouts"}')
    wait_option(ap)
    ap.set_defaults(func=cmd_apply)
    pp = answers_cmd("plan", "print the plan: files with mode and diff, and commands")
    pp.set_defaults(func=cmd_plan)
    for sp in (ap, pp):
        sp.add_argument("--verify", action="store_true",
                        help="open and check every client's key, certificate and PKCS#12, even those the client "
                             "ledger vouches for (unchanged since the wizard wrote them)")
    answers_cmd("validate", "check an answers file").set_defaults(func=cmd_validate)
    cp = answers_cmd("check", "run the network checks: interfaces, ports, sysctls, kernel, pool, firewall, IPv6")
    cp.add_argument("--json", action="store_true", help="findings as JSON")
    cp.set_defaults(func=cmd_check)
    up = sub.add_parser("uninstall", help="remove what Swan Wizard added (keeps the CA, clients and backups)")
    up.add_argument("--firewall", action="store_true", help="only the firewall rules")
    up.add_argument("--dry-run", action="store_true", help="print what would be removed")
    up.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS)
    wait_option(up)
    up.set_defaults(func=cmd_uninstall)
    st = answers_cmd("selftest", "connect a throwaway client to the running server per variant and pass traffic")
    st.add_argument("--json", action="store_true")
    st.add_argument("--server-netns", metavar="NS", help="the server runs in this network namespace")
    st.add_argument("--vici", metavar="PATH", default="/run/charon.vici", help="the server charon's VICI socket")
    st.add_argument("--server-log", metavar="PATH", help="the server charon's log (default: the one apply configures)")
    st.add_argument("--radius-user", metavar="NAME",
                    help=f"a test user kept in RADIUS, for variants with backend: radius (password in "
                         f"{RADIUS_PASSWORD_ENV})")
    st.set_defaults(func=cmd_selftest)
    rp = sub.add_parser("rollback", help="restore the files as they were right after an earlier run")
    rp.add_argument("id", nargs="?", help="the run to return to (default: undo the newest run)")
    rp.add_argument("--before", metavar="ID", help="return to the state before run ID (e.g. an interrupted one)")
    rp.add_argument("--list", action="store_true", help="list the backups")
    rp.add_argument("--dry-run", action="store_true", help="print what would be restored")
    rp.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS)
    wait_option(rp)
    rp.set_defaults(func=cmd_rollback)
    from wizard.plan.clients import add_parsers as add_client_parsers

    add_client_parsers(sub, cmd_lifecycle)
    from wizard.checks.doctor import add_arguments as add_doctor_arguments

    dp = sub.add_parser("doctor", help="find why the VPN does not work: certificates, configuration, system, "
                                       "charon's log; --fix, --json, --bundle")
    add_doctor_arguments(dp)
    dp.set_defaults(func=cmd_doctor)
    sp = sub.add_parser("schema", help="print the JSON Schema of the answers file")
    sp.add_argument("--output", "-o", metavar="FILE")
    sp.set_defaults(func=cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if not hasattr(args, "func"):
        args.func = cmd_tui
    before = gc.get_threshold()
    if args.func is not cmd_tui:
        # A command on ten thousand clients holds a million long-lived objects that make no cycles: at the
        # default thresholds the collector walked them all again and again, a fifth of a `client add`.
        gc.set_threshold(200_000, 50, 50)
    try:
        return int(args.func(args))
    except WizardError as exc:
        return int(report(exc))
    except KeyboardInterrupt:
        print("swan-wizard: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # A read-only or full file system, a vanished directory: one line naming the file, exit 1.
        return int(report(io_failure(exc)))
    except Exception as exc:
        from wizard import crash

        return int(crash.handle(exc, argv, _crash_root(args)))
    finally:
        gc.set_threshold(*before)


def _crash_root(args: argparse.Namespace) -> Root | None:
    """Where a crash report goes: the --root's crash directory (None: the live system's, if root)."""
    try:
        return Root.of(args.root) if getattr(args, "root", None) else None
    except (OSError, RuntimeError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
