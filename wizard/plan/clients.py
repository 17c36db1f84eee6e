"""The client lifecycle: ``swan-wizard client add|list|export|renew|revoke|remove`` and ``server address``.

Each command is a change to the answers file followed by the same plan and apply as ``swan-wizard apply``
(dry run, backups, idempotency, the service reload); nothing here writes a file of the root directly.
Commands that must take effect at once on a running charon (revoke, remove) then talk to it over vici:
the CRL is loaded and the client's IKE_SAs are terminated.

The CA is only ever used to sign: a new certificate, a CRL. Revoked serials are kept in the answers
(``revoked:``), so every later apply still publishes them in the CRL.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from pydantic import ValidationError

from wizard.certs import revocation
from wizard.certs.materials import client_files
from wizard.fs import answersmemo, paths
from wizard.fs.answersmemo import AnswersMemo
from wizard.fs.changes import file_changes
from wizard.fs.paths import Root
from wizard.model import answers_file, yamlsource
from wizard.model.answers import GENERATE, Answers, Client, Revoked, SecretRef, User, updated
from wizard.model.secrets import SecretSource
from wizard.pki import encode
from wizard.pki.keytypes import KeyType
from wizard.plan import shortlist
from wizard.plan.apply import Held, apply, lock, make_dirs, wait_seconds, write_atomic
from wizard.plan.planner import all_names, build_plan, keep_existing_ca_name, needed_bytes
from wizard.plan.preview import describe
from wizard.plan.session import save_answers
from wizard.problems import Exit, InvalidAnswers, Problem, WizardError, io_failures, note, warn
from wizard.render.profiles import README_NAME
from wizard.system.vici import CharonUnreachable
from wizard.system.vici import session as vici_session

Report = Callable[[str], None]
# (root, answers) -> (service facts, network facts): the CLI's view of the live system, or a staged root's.
FactsFor = Callable[[Root, Answers], tuple[Any, Any]]


class UnknownClient(WizardError):
    exit_code = Exit.USAGE


# ---------------------------------------------------------------------------------------------------
# the answers file


def clients_lock(root: Root, wait: float = 0.0) -> contextlib.AbstractContextManager[Held]:
    """The root's one lock (apply's): a client command reads, changes and saves the answers file, plans
    and applies under it, so no apply, rollback or other client command runs in between."""
    return lock(root, "is changing the clients of", wait=wait, report=note)


# ---------------------------------------------------------------------------------------------------
# one change: new answers, plan, apply, then the running charon


@dataclass
class Target:
    """Where a command works: the answers file, the root, the live system's facts and charon's socket."""

    answers_path: Path
    root: Root
    facts_for: FactsFor | None = None
    vici_socket: str | None = None  # None: do not talk to charon
    run_commands: bool = True
    dry_run: bool = False
    report: Report = print
    environ: dict[str, str] | None = None
    wait: float = 0.0  # seconds to wait for another run's lock
    # The data of the answers last applied or saved under the root: read at load, written after an apply.
    memo: AnswersMemo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.memo = AnswersMemo(self.root)

    @property
    def source(self) -> SecretSource:
        base = self.answers_path.resolve().parent
        if self.environ is None:
            return SecretSource(base_dir=base, root=self.root)
        return SecretSource(base, self.environ, root=self.root)

    def load(self) -> Answers:
        return answers_file.load(self.answers_path, self.memo)


@dataclass
class Change:
    answers: Answers
    renew: frozenset[str] = frozenset()
    new_passwords: frozenset[str] = frozenset()
    # Identities whose IKE_SAs end now (revoked or removed clients), and whether charon needs the CRL.
    terminate: set[str] = field(default_factory=set)
    load_crl: bool = False
    # The clients and users whose files change; the others' stay as they are (None: plan every client).
    scope: frozenset[str] | None = None


@dataclass
class Outcome:
    changed_files: int = 0
    backup_id: str | None = None
    answers_saved: bool = False
    terminated: list[revocation.Terminated] = field(default_factory=list)


def execute(target: Target, current: Answers, change: Change, held: Held | None = None) -> Outcome:
    """Plan the changed answers; in a dry run print the plan, else save the answers, apply, tell charon."""
    say = target.report
    facts, net = target.facts_for(target.root, change.answers) if target.facts_for else (None, None)
    plan = build_plan(change.answers, target.root, target.source, facts=facts, net=net,
                      renew=change.renew, new_passwords=change.new_passwords, scope=change.scope)
    # At most one YAML rendering per command (with thousands of clients each costs a second): none when the
    # answers stay as they are, the old text only for a diff.
    changed = change.answers is not current and change.answers != current
    new_text = answers_file.dumps(change.answers) if changed else ""
    if target.dry_run:
        if changed and (old_text := answers_file.dumps(current)) != new_text:
            diff = difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                        f"a/{target.answers_path.name}", f"b/{target.answers_path.name}")
            say(f"Answers ({target.answers_path}):\n" + "".join("    " + line for line in diff).rstrip("\n"))
        say(describe(plan, file_changes(plan, target.root), target.root.is_live).rstrip("\n"))
        if change.terminate and target.vici_socket:
            say(f"Would terminate the IKE_SAs of {', '.join(sorted(change.terminate))} over {target.vici_socket}")
        return Outcome()
    for field_name, message in plan.warnings:
        warn(f"{field_name}: {message}")
    outcome = Outcome()
    # The answers first: should the apply fail, a re-run (or `swan-wizard apply`) finishes the job, and a
    # revocation is never lost.
    if changed:
        save_answers(change.answers, target.answers_path, new_text)
        outcome.answers_saved = True
        say(f"updated {target.answers_path}")
        # The next command reads this text: its data is what was just written (yamlemit reads back the same).
        if len(new_text) >= yamlsource.FAST_FROM:
            target.memo.keep(answersmemo.digest(new_text), answers_file.to_data(change.answers), json_ready=True)
    with io_failures(needed_bytes(plan), f"writing under {target.root.path}"):
        lines = shortlist.FileLines(say)  # (a new host certificate: every client's profiles are written again)
        try:
            result = apply(plan, target.root, run_commands=target.run_commands, report=lines, held=held)
        finally:
            lines.close()
    target.memo.save()
    outcome.changed_files, outcome.backup_id = len(result.changed), result.backup_id
    if result.nothing_changed:
        say("Nothing to change under " + str(target.root.path))
    else:
        say(f"Applied {len(result.changed)} changes under {target.root.path}; backup {result.backup_id}")
    for line in shortlist.handouts(plan.handouts):
        say(line)
    if target.vici_socket and (change.terminate or change.load_crl):
        outcome.terminated = _tell_charon(target, change)
    return outcome


def _tell_charon(target: Target, change: Change) -> list[revocation.Terminated]:
    say = target.report
    assert target.vici_socket is not None
    live = revocation.crl_path(change.answers.layout)
    crl = target.root(live)
    try:
        with vici_session(target.vici_socket, timeout=10.0) as session:
            if change.load_crl and crl.is_file():
                how = revocation.load_crl(session, crl.read_bytes(), target.root(paths.CA_CERT).read_bytes(), live)
                count = f"{len(change.answers.revoked)} revoked certificate(s)"
                say(f"loaded the CRL into charon ({count})" if how == "loaded" else
                    f"the CRL ({count}) is larger than charon takes over vici: charon now fetches it from "
                    f"{revocation.crl_uri(live)} at the next authentication")
            done = revocation.terminate(session, change.terminate) if change.terminate else []
    except CharonUnreachable as exc:
        say(f"{exc}: nothing to terminate (the CRL is in place for when charon starts)")
        return []
    for sa in done:
        say(f"terminated IKE_SA {sa.conn}[{sa.ike_id}] of {sa.remote_id} ({sa.remote_host})")
    if change.terminate and not done:
        say(f"no active IKE_SA of {', '.join(sorted(change.terminate))}")
    return done


# ---------------------------------------------------------------------------------------------------
# looking clients up


def find_client(answers: Answers, name: str) -> Client | None:
    return next((c for c in answers.clients if c.name.lower() == name.lower()), None)


def eap_users(answers: Answers) -> list[User]:
    return list(answers.variants.ikev2_eap.users) if answers.variants.ikev2_eap else []


def current_cert(root: Root, name: str) -> x509.Certificate | None:
    real = root(client_files(name)["cert"])
    if not real.is_file():
        return None
    try:
        return encode.load_cert_pem(real.read_bytes())
    except ValueError:
        return None


def _require_client(answers: Answers, name: str) -> Client:
    client = find_client(answers, name)
    if client is None:
        known = ", ".join(c.name for c in answers.clients) or "none"
        raise UnknownClient(f"no client certificate named '{name}' in the answers (clients: {known})")
    return client


def _serial(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def is_revoked(answers: Answers, cert: x509.Certificate | None) -> bool:
    return cert is not None and any(r.serial == _serial(cert) for r in answers.revoked)


# ---------------------------------------------------------------------------------------------------
# the commands


@contextlib.contextmanager
def _checked(what: str) -> Iterator[None]:
    """A command-line value the answers model refuses is a problem report, not a traceback."""
    try:
        yield
    except ValidationError as exc:
        raise InvalidAnswers([Problem(p.message, f"{what}.{p.field}" if p.field != "(top level)" else what)
                              for p in answers_file.problems_from(exc, None, "")]) from None


def add(target: Target, names: list[str], key: KeyType | None = None, lifetime_days: int | None = None,
        p12_encryption: str | None = None, on_demand: bool = False, eap: bool = False) -> Outcome:
    """New clients: a certificate each (keys made together, on every core), or EAP users with ``eap``."""
    with _locked(target) as held, _checked("clients[new]"):
        answers = target.load()
        problems = []
        seen: set[str] = set()
        for i, name in enumerate(names):
            taken = (any(u.name.lower() == name.lower() for u in eap_users(answers)) if eap
                     else find_client(answers, name) is not None)
            if taken or name.lower() in seen:
                problems.append(Problem(f"'{name}' exists already", f"names[{i}]"))
            seen.add(name.lower())
        if problems:
            raise InvalidAnswers(problems)
        if eap:
            if answers.variants.ikev2_eap is None:
                raise InvalidAnswers([Problem("EAP users need the ikev2-eap variant: add 'ikev2-eap: {}' under "
                                              "variants", "variants.ikev2-eap")])
            users = [*answers.variants.ikev2_eap.users, *(User(name=n, password=GENERATE) for n in names)]
            variants = updated(answers.variants, **{"ikev2-eap": updated(answers.variants.ikev2_eap, users=users)})
            new = updated(answers, variants=variants)
        else:
            settings: dict[str, Any] = {"on_demand": on_demand}
            if key is not None:
                settings["key"] = key
            if lifetime_days is not None:
                settings["lifetime_days"] = lifetime_days
            if p12_encryption is not None:
                settings["p12_encryption"] = p12_encryption
            clients = [*answers.clients, *(Client(name=n, **settings) for n in names)]
            new = updated(answers, clients=clients)
        outcome = execute(target, answers, Change(new, scope=frozenset(names)), held)
    if not target.dry_run:
        for name in names:
            target.report(f"{name}: profiles and README.txt in {paths.client_dir(name)}")
    return outcome


@contextlib.contextmanager
def _locked(target: Target) -> Iterator[Held | None]:
    if target.dry_run:
        yield None
        return
    with clients_lock(target.root, target.wait) as held:
        yield held


@dataclass(frozen=True)
class ClientInfo:
    name: str
    kinds: list[str]  # cert, eap, xauth, l2tp
    status: str  # active, revoked, expired, not issued (no apply yet), n/a (no certificate)
    serial: str | None
    not_after: str | None
    key: str | None
    directory: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_clients(target: Target, now: datetime | None = None) -> list[ClientInfo]:
    answers = target.load()
    now = now or datetime.now(UTC)
    v = answers.variants
    kinds: dict[str, list[str]] = {}
    for name in (c.name for c in answers.clients):
        kinds.setdefault(name, []).append("cert")
    for kind, users in (("eap", eap_users(answers)), ("xauth", v.ikev1_xauth.users if v.ikev1_xauth else []),
                        ("l2tp", v.l2tp.users if v.l2tp else [])):
        for user in users:
            kinds.setdefault(user.name, []).append(kind)
    out = []
    for name, name_kinds in kinds.items():
        client = find_client(answers, name)
        cert = current_cert(target.root, name) if client else None
        if client is None:
            status = "n/a"
        elif cert is None:
            status = "not issued"
        elif is_revoked(answers, cert):
            status = "revoked"
        elif cert.not_valid_after_utc < now:
            status = "expired"
        else:
            status = "active"
        out.append(ClientInfo(
            name, name_kinds, status, _serial(cert) if cert else None,
            cert.not_valid_after_utc.isoformat() if cert else None,
            client.key.value if client else None, str(paths.client_dir(name))))
    return out


def export(target: Target, name: str, new_password: bool = False, out_dir: Path | None = None) -> Outcome:
    """Regenerate a client's profiles (a new PKCS#12 password on request); copy them to ``out_dir``."""
    if out_dir is not None:
        _check_out_dir(out_dir)
    with _locked(target) as held:
        answers = target.load()
        if name not in all_names(answers):
            raise UnknownClient(f"no client or user named '{name}' in the answers")
        client = find_client(answers, name)
        if is_revoked(answers, current_cert(target.root, name)):
            raise WizardError(f"the certificate of {name} is revoked: `swan-wizard client renew {name}` first")
        renew_password: frozenset[str] = frozenset()
        if new_password:
            if client is None:
                raise UnknownClient(f"'{name}' has no certificate, so no PKCS#12 password")
            if not (isinstance(client.p12_password, SecretRef) and client.p12_password.generate):
                raise InvalidAnswers([Problem("the PKCS#12 password is not generated by swan-wizard; change it "
                                              "where the answers take it from", "p12_password")])
            renew_password = frozenset({client.name})
        outcome = execute(target, answers, Change(answers, new_passwords=renew_password, scope=frozenset({name})),
                          held)
    if out_dir is not None and not target.dry_run:
        copied = copy_out(target.root, name, out_dir)
        target.report(f"copied {len(copied)} files to {out_dir}")
    elif not target.dry_run:
        target.report(f"{name}: profiles and {README_NAME} in {paths.client_dir(name)}")
    return outcome


def _check_out_dir(out_dir: Path) -> None:
    """Before anything is planned: ``--out`` must be a directory or not exist yet (never a file to write over)."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise InvalidAnswers([Problem(f"{out_dir} exists and is not a directory; name a directory to copy the "
                                      "files into", "--out")])


def copy_out(root: Root, name: str, out_dir: Path) -> list[Path]:
    """Copy a client's directory (profiles, PKCS#12, CA, README) to ``out_dir``, files 0600."""
    source = root(paths.client_dir(name))
    make_dirs(out_dir, 0o700)
    copied = []
    for entry in sorted(source.iterdir()):
        if entry.is_file() and not entry.is_symlink() and not entry.name.startswith("."):
            dest = out_dir / entry.name
            write_atomic(dest, entry.read_bytes(), 0o600)
            copied.append(dest)
    return copied


def renew(target: Target, name: str) -> Outcome:
    """A new certificate for the client's existing key and identity; profiles follow. The old one stays
    valid until it expires (revoke it first if it must stop working at once)."""
    with _locked(target) as held:
        answers = target.load()
        client = _require_client(answers, name)
        outcome = execute(target, answers, Change(answers, renew=frozenset({client.name}),
                                                  scope=frozenset({client.name})), held)
    cert = current_cert(target.root, client.name)
    if cert is not None and not target.dry_run:
        target.report(f"{client.name}: new certificate, serial {_serial(cert)}, valid until "
                      f"{cert.not_valid_after_utc:%Y-%m-%d}; hand out the new profiles")
    return outcome


def revoke(target: Target, name: str, now: datetime | None = None) -> Outcome:
    """Put the client's current certificate on the CRL and end its IKE_SAs now."""
    with _locked(target) as held:
        answers = target.load()
        client = _require_client(answers, name)
        cert = current_cert(target.root, client.name)
        if cert is None:
            raise WizardError(f"{client.name} has no certificate under {target.root.path} yet: nothing to revoke")
        identities = revocation.identities_of(client.name, cert)
        new = answers
        if is_revoked(answers, cert):
            target.report(f"{client.name}: certificate {_serial(cert)} is already revoked")
        else:
            entry = Revoked(name=client.name, serial=_serial(cert), revoked_at=_now(now))
            new = updated(answers, revoked=[*answers.revoked, entry])
        outcome = execute(target, answers, Change(new, terminate=identities, load_crl=True,
                                                  scope=frozenset({client.name})), held)
    if not target.dry_run:
        target.report(f"{client.name}: certificate {_serial(cert)} revoked; "
                      f"`swan-wizard client renew {client.name}` issues a new one")
    return outcome


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def remove(target: Target, name: str, now: datetime | None = None) -> Outcome:
    """Take a client (and users of that name) out of the answers; its files go, its certificate is
    revoked (a copy of the key elsewhere must not keep working) and its IKE_SAs end."""
    with _locked(target) as held:
        answers = target.load()
        if name.lower() not in {n.lower() for n in all_names(answers)}:
            raise UnknownClient(f"no client or user named '{name}' in the answers")
        client = find_client(answers, name)
        cert = current_cert(target.root, client.name) if client else None
        revoked = list(answers.revoked)
        if client is not None and cert is not None and not is_revoked(answers, cert):
            revoked.append(Revoked(name=client.name, serial=_serial(cert), revoked_at=_now(now)))
        v = answers.variants

        def without(users: list[User]) -> list[User]:
            return [u for u in users if u.name.lower() != name.lower()]

        # updated() merges by the YAML spelling of each key: variants are named by their aliases.
        changes: dict[str, Any] = {}
        if v.ikev2_eap is not None:
            changes["ikev2-eap"] = updated(v.ikev2_eap, users=without(v.ikev2_eap.users))
        if v.ikev1_xauth is not None:
            changes["ikev1-xauth"] = updated(v.ikev1_xauth, users=without(v.ikev1_xauth.users))
        if v.l2tp is not None:
            changes["l2tp"] = updated(v.l2tp, users=without(v.l2tp.users))
        variants = updated(v, **changes)
        new = updated(answers, clients=[c for c in answers.clients if c is not client], variants=variants,
                      revoked=revoked)
        identities = revocation.identities_of(name, cert)
        gone = frozenset({name, *(n for n in all_names(answers) if n.lower() == name.lower())})
        outcome = execute(target, answers, Change(new, terminate=identities, load_crl=bool(revoked), scope=gone),
                          held)
    if not target.dry_run:
        target.report(f"{name}: removed" + (" and its certificate revoked" if cert is not None else ""))
    return outcome


def server_address(target: Target, address: str) -> Outcome:
    """Change the address clients dial: a new host certificate (same key) and every profile regenerated."""
    with _locked(target) as held:
        answers = target.load()
        with _checked("server"):
            server = updated(answers.server, address=address)
        if server.address == answers.server.address:
            target.report(f"the server address is {server.address} already")
        # A CA name derived from the old address would follow it: the CA keeps the name it has.
        new = updated(keep_existing_ca_name(answers, target.root), server=server)
        outcome = execute(target, answers, Change(new), held)
    if not target.dry_run and server.address != answers.server.address:
        count = len(all_names(new))
        target.report(f"server address {answers.server.address} -> {server.address}: host certificate re-issued; "
                      f"{count} client(s) must import their new profile from {paths.CLIENTS_DIR}")
    return outcome


# ---------------------------------------------------------------------------------------------------
# command line


def _common(sp: argparse.ArgumentParser, dry_run: bool = True) -> None:
    sp.add_argument("--answers", "-a", required=True, metavar="FILE", help="the answers file (updated in place)")
    sp.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS,
                    help="work under DIR instead of / and start no service")
    if dry_run:
        sp.add_argument("--dry-run", action="store_true", help="print the changed answers and the plan only")
        sp.add_argument("--no-start", action="store_true", help="write files but run no command")
        sp.add_argument("--wait", metavar="SECONDS", type=wait_seconds, default=0.0,
                        help="when another run holds the lock, wait up to SECONDS for it (default: exit 4 at once)")
        sp.add_argument("--vici", metavar="SOCKET",
                        help=f"charon's vici socket for revocations (default on the live system: {paths.VICI_SOCKET})")


def add_parsers(sub: Any, run: Callable[[argparse.Namespace], Exit]) -> None:
    """Register ``client`` and ``server`` on the CLI's subparsers; ``run`` dispatches to :func:`main`."""
    client = sub.add_parser("client", help="add, list, export, renew, revoke or remove VPN clients")
    csub = client.add_subparsers(dest="action", required=True)
    sp = csub.add_parser("add", help="new clients with a certificate (or EAP users) and their profiles")
    sp.add_argument("names", nargs="+", metavar="NAME", help="e-mail address or plain name (the IKE identity)")
    sp.add_argument("--key", choices=[k.value for k in KeyType], help="key type (default: rsa-2048)")
    sp.add_argument("--lifetime-days", type=int, help="certificate lifetime (default: 730)")
    sp.add_argument("--p12-encryption", choices=["legacy", "aes256"], help="PKCS#12 encryption (default: legacy)")
    sp.add_argument("--on-demand", action="store_true", help="Apple profiles connect on demand")
    sp.add_argument("--eap", action="store_true", help="user name and generated password (ikev2-eap) instead")
    _common(sp)
    sp = csub.add_parser("list", help="every client and user, with certificate status")
    sp.add_argument("--json", action="store_true")
    _common(sp, dry_run=False)
    sp = csub.add_parser("export", help="regenerate a client's profiles")
    sp.add_argument("name", metavar="NAME")
    sp.add_argument("--new-password", action="store_true", help="a new generated PKCS#12 password")
    sp.add_argument("--out", metavar="DIR", type=Path, help="also copy the client's files to DIR")
    _common(sp)
    for action, help_ in (("renew", "a new certificate for the same key and identity"),
                          ("revoke", "revoke the client's certificate and end its connections now"),
                          ("remove", "remove the client: its files go, its certificate is revoked")):
        sp = csub.add_parser(action, help=help_)
        sp.add_argument("name", metavar="NAME")
        _common(sp)
    server = sub.add_parser("server", help="change server settings that every client depends on")
    ssub = server.add_subparsers(dest="action", required=True)
    sp = ssub.add_parser("address", help="the address clients dial: new host certificate, new profiles")
    sp.add_argument("address", metavar="NEW")
    _common(sp)
    client.set_defaults(func=run)
    server.set_defaults(func=run)


def main(args: argparse.Namespace, facts_for: FactsFor | None = None) -> Exit:
    root = Root.of(getattr(args, "root", None))
    vici_socket = getattr(args, "vici", None)
    if vici_socket is None and root.is_live and getattr(args, "dry_run", None) is not None:
        vici_socket = str(paths.VICI_SOCKET)
    target = Target(Path(args.answers), root, facts_for=facts_for, vici_socket=vici_socket,
                    run_commands=not getattr(args, "no_start", False), dry_run=getattr(args, "dry_run", False),
                    wait=getattr(args, "wait", 0.0))
    if args.command == "server":
        server_address(target, args.address)
        return Exit.OK
    action = args.action
    if action == "add":
        add(target, args.names, KeyType(args.key) if args.key else None, args.lifetime_days, args.p12_encryption,
            args.on_demand, args.eap)
    elif action == "list":
        infos = list_clients(target)
        if args.json:
            print(json.dumps([i.as_dict() for i in infos], indent=2))
        else:
            _print_table(infos)
    elif action == "export":
        export(target, args.name, args.new_password, args.out)
    elif action == "renew":
        renew(target, args.name)
    elif action == "revoke":
        revoke(target, args.name)
    elif action == "remove":
        remove(target, args.name)
    return Exit.OK


def _print_table(infos: list[ClientInfo]) -> None:
    rows = [("NAME", "LOGIN", "STATUS", "SERIAL", "VALID UNTIL", "KEY")]
    rows += [(i.name, ",".join(i.kinds), i.status, (i.serial or "-")[:16], (i.not_after or "-")[:10], i.key or "-")
             for i in infos]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        sys.stdout.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")


__all__ = ["Target", "add", "add_parsers", "export", "list_clients", "main", "remove", "renew", "revoke",
           "server_address"]
