"""From answers to a plan: key material, rendered files with their modes, and service commands."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import PurePosixPath

from cryptography import x509

from wizard.certs import ledger, revocation
from wizard.certs.materials import Materials, client_files, host_cert_locations, ledger_action, peer_files
from wizard.certs.materials import build as build_materials
from wizard.checks import netchecks
from wizard.fs import paths, stamps
from wizard.fs.changes import DirAction, FileAction, Plan
from wizard.fs.paths import Root
from wizard.fs.stamps import FolderStamps
from wizard.model import credentials
from wizard.model.answers import Answers, answers_warnings, default_ca_dn, updated
from wizard.model.credentials import Credential
from wizard.model.secrets import SecretSource, secret_refs, typed_key, typed_secret_path
from wizard.model.strength import weakness
from wizard.pki import names
from wizard.pki.keys import key_type_of
from wizard.plan import shortlist, standing
from wizard.render import connections, firewall, managed_block, profiles
from wizard.render import ipsec as render_ipsec
from wizard.render import l2tp as render_l2tp
from wizard.render import strongswan_d as render_strongswan
from wizard.render import swanctl as render_swanctl
from wizard.render.connections import ServerSpec
from wizard.render.profiles import cache as profile_cache
from wizard.render.profiles.cache import ProfileCache
from wizard.system.netfacts import NetFacts
from wizard.system.service import ServiceFacts, commands

Progress = Callable[[str, int, int], object]  # (stage, done, total); what it returns is ignored

PRIVATE_DIRS = (paths.CA_DIR, paths.CLIENTS_DIR, paths.PEERS_DIR, paths.SECRETS_DIR, paths.TYPED_SECRETS_DIR,
                paths.RADIUS_DIR, paths.WIZARD_STATE, paths.SWANCTL_PRIVATE, paths.IPSEC_PRIVATE)


def _layout_files(answers: Answers, m: Materials, server: ServerSpec) -> list[FileAction]:
    secrets = server.secrets
    if answers.layout == "swanctl":
        conf = render_swanctl.swanctl_conf(server).encode()
        return [
            FileAction(paths.SWANCTL_X509CA / paths.CA_CERT_NAME, m.ca.cert_pem, 0o644,
                       why="CA certificate: trust anchor for client certificates"),
            FileAction(paths.SWANCTL_X509 / paths.HOST_CERT_NAME, m.host.cert_pem, 0o644,
                       why="host certificate"),
            FileAction(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME, m.host.key_pem, 0o600, secret=True,
                       why="host private key"),
            FileAction(paths.SWANCTL_CONF, conf, 0o600 if secrets else 0o644, secret=bool(secrets),
                       why="connections, pools" + (" and user secrets" if secrets else "")),
        ]
    return [
        FileAction(paths.IPSEC_CACERTS / paths.CA_CERT_NAME, m.ca.cert_pem, 0o644, why="CA certificate"),
        FileAction(paths.IPSEC_CERTS / paths.HOST_CERT_NAME, m.host.cert_pem, 0o644, why="host certificate"),
        FileAction(paths.IPSEC_PRIVATE / paths.HOST_KEY_NAME, m.host.key_pem, 0o600, secret=True,
                   why="host private key"),
        FileAction(paths.IPSEC_CONF, render_ipsec.ipsec_conf(server, ca_dn=answers.ca.dn, uniqueids=answers.uniqueids,
                                                             charondebug=answers.logging).encode(), 0o644,
                   why="connections (legacy layout)"),
        FileAction(paths.IPSEC_SECRETS, render_ipsec.ipsec_secrets(key_type_of(m.host.key), secrets).encode(), 0o600,
                   secret=True, why="the host key, users and pre-shared keys"),
    ]


# Files that belong to the distribution or the admin, where Swan Wizard edits only its managed block.
SHARED_FILES = (paths.NFTABLES_CONF, paths.UFW_BEFORE_RULES, paths.PPP_CHAP_SECRETS)

# Files only Swan Wizard writes: removed when the answers no longer want them (e.g. a layout switch).
OWNED = (
    paths.SWANCTL_X509CA / paths.CA_CERT_NAME, paths.SWANCTL_X509 / paths.HOST_CERT_NAME,
    paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME, paths.SWANCTL_CONF,
    paths.IPSEC_CACERTS / paths.CA_CERT_NAME, paths.IPSEC_CERTS / paths.HOST_CERT_NAME,
    paths.IPSEC_PRIVATE / paths.HOST_KEY_NAME, paths.SYSCTL_CONF, ledger.LEDGER, profile_cache.CACHE,
    paths.RADIUS_SETTINGS,
)


def _client_files(m: Materials) -> list[FileAction]:
    out = []
    for bundle in m.clients:
        files = client_files(bundle.name)
        out += [
            FileAction(files["key"], bundle.pair.key_pem, 0o600, secret=True, why=f"{bundle.name}: private key"),
            FileAction(files["cert"], bundle.pair.cert_pem, 0o600, why=f"{bundle.name}: certificate"),
            FileAction(files["ca"], m.ca.cert_pem, 0o600, why=f"{bundle.name}: CA certificate"),
            FileAction(files["p12"], bundle.p12, 0o600, secret=True, why=f"{bundle.name}: PKCS#12 bundle"),
        ]
        if bundle.password_generated:
            out.append(FileAction(files["password"], bundle.p12_password + b"\n", 0o600, secret=True,
                                  why=f"{bundle.name}: generated PKCS#12 password"))
    return out


def _credential_files(creds: dict[str, Credential]) -> list[FileAction]:
    return [FileAction(credentials.secret_file(c.key), c.value + b"\n", 0o600, secret=True,
                       why=f"generated secret for {c.field}") for c in creds.values() if c.generated]


def _stale_secret_files(root: Root, creds: dict[str, Credential]) -> list[FileAction]:
    """Stored secrets no credential of the answers uses any more: a removed user's or peer's, a variant
    turned off, an old file name after an upgrade moved it. They go, so that a later user of the same name
    never gets the old password back (the backup of this apply keeps a copy). Symbolic links stay."""
    base = root(paths.SECRETS_DIR)
    if not base.is_dir():
        return []
    wanted = {c.key for c in creds.values() if c.generated}
    moved = {c.migrated_from: c.key for c in creds.values() if c.migrated_from}
    return [FileAction(paths.SECRETS_DIR / entry.name, None,
                       why=f"moved to {credentials.secret_file(moved[entry.name])}" if entry.name in moved
                       else "no longer part of the answers")
            for entry in sorted(base.iterdir())
            if entry.name not in wanted and entry.is_file() and not entry.is_symlink()]


def _typed_secret_files(answers: Answers, root: Root, source: SecretSource) -> list[FileAction]:
    """Each typed secret the answers reference, in its own 0600 file (what a replay of the saved answers
    reads), and the removal of every typed secret they no longer reference (a deleted user's password)."""
    out: dict[PurePosixPath, FileAction] = {}
    for where, ref in secret_refs(answers):
        key = typed_key(ref)
        if key is None or typed_secret_path(key) in out:
            continue  # one user's password referenced by several variants is one file
        value = source.resolve(ref, where) or b""
        out[typed_secret_path(key)] = FileAction(typed_secret_path(key), value + b"\n", 0o600, secret=True,
                                                 why=f"typed secret for {where}")
    base = root(paths.TYPED_SECRETS_DIR)
    stale = [FileAction(paths.TYPED_SECRETS_DIR / entry.name, None, why="no longer part of the answers")
             for entry in (sorted(base.iterdir()) if base.is_dir() else [])
             if paths.TYPED_SECRETS_DIR / entry.name not in out and entry.is_file() and not entry.is_symlink()]
    return [*out.values(), *stale]


# Rating costs a few milliseconds a password: thousands of given passwords would add seconds to every plan.
MAX_RATED_SECRETS = 64


def _weak_secrets(answers: Answers, m: Materials, creds: dict[str, Credential],
                  source: SecretSource, verify: bool = False) -> list[tuple[str, str]]:
    """One warning per password or key the admin gave (never a generated one) that zxcvbn rates weak:
    the field and why, never the value. The first MAX_RATED_SECRETS are rated (all with ``verify``)."""
    given = [(c.field, c.value) for c in creds.values() if not c.generated]
    index = {c.name: i for i, c in enumerate(answers.clients)}
    given += [(f"clients[{index.get(b.name, 0)}].p12_password", b.p12_password) for b in m.clients
              if not b.password_generated]
    passphrase = source.resolve(answers.ca.passphrase, "ca.passphrase")
    given += [("ca.passphrase", passphrase)] if passphrase else []
    out = []
    rated = given if verify else given[:MAX_RATED_SECRETS]
    for field, value in rated:
        why = weakness(value.decode("utf-8", errors="replace"))
        if why is not None:
            out.append((field, why))
    if len(rated) < len(given):
        out.append(("secrets", f"{len(given) - len(rated)} more passwords given in the answers were not rated "
                               "for strength (plan --verify rates them all)"))
    return out


def _stale_radius_files(root: Root, wanted: set[PurePosixPath]) -> list[FileAction]:
    """clients.conf entries of RADIUS servers no longer in the answers (or no longer asked for): each holds
    a shared secret, so it goes with its server. Symbolic links stay."""
    base = root(paths.RADIUS_DIR)
    if not base.is_dir():
        return []
    return [FileAction(paths.RADIUS_DIR / entry.name, None, why="no longer part of the answers")
            for entry in sorted(base.iterdir())
            if paths.RADIUS_DIR / entry.name not in wanted and entry.is_file() and not entry.is_symlink()
            and entry.name.startswith("clients.")]


def _peer_files(m: Materials) -> list[FileAction]:
    out = []
    for name, pair in m.peers:
        files = peer_files(name)
        out += [FileAction(files["key"], pair.key_pem, 0o600, secret=True, why=f"transport peer {name}: key"),
                FileAction(files["cert"], pair.cert_pem, 0o600, why=f"transport peer {name}: certificate"),
                FileAction(files["ca"], m.ca.cert_pem, 0o600, why=f"transport peer {name}: CA certificate")]
    return out


def _l2tp_files(answers: Answers, root: Root, creds: dict[str, Credential]) -> list[FileAction]:
    chap = root(paths.PPP_CHAP_SECRETS)
    existing = chap.read_text() if chap.is_file() else None
    if answers.variants.l2tp is None:
        if not managed_block.contains(existing):
            return []
        # Take out only our block: other PPP users in chap-secrets stay.
        return [FileAction(paths.PPP_CHAP_SECRETS, managed_block.put(existing, None).encode(), 0o600,
                           secret=True, why="L2TP users removed")]
    chap_text = managed_block.put(existing, render_l2tp.chap_block(answers, creds))
    return [
        FileAction(paths.XL2TPD_CONF, render_l2tp.xl2tpd_conf(answers).encode(), 0o644, why="L2TP server"),
        FileAction(paths.PPP_OPTIONS_XL2TPD, render_l2tp.ppp_options(answers).encode(), 0o644,
                   why="pppd options for L2TP links"),
        FileAction(paths.PPP_CHAP_SECRETS, chap_text.encode(), 0o600, secret=True,
                   why="L2TP users (in a managed block; other entries are kept)"),
    ]


def _read_text(root: Root, logical: PurePosixPath) -> str | None:
    real = root(logical)
    return real.read_text() if real.is_file() else None


def _firewall(answers: Answers, root: Root, net: NetFacts | None, systemd: bool) -> firewall.FirewallPlan:
    """This run's firewall plan, plus the removal of what an earlier run added with another backend."""
    existing = {p: _read_text(root, p) for p in firewall.READS}
    new = firewall.plan(answers, net, existing, systemd)
    state_text = _read_text(root, paths.FIREWALL_STATE)
    old_backend = json.loads(state_text).get("backend") if state_text else None
    if old_backend in (None, new.backend):
        return new
    old = firewall.removal(json.loads(state_text or "{}"), existing)
    wanted = {f.path for f in new.files}
    files = [f for f in old.files if f.path not in wanted] + list(new.files)
    return firewall.FirewallPlan(new.backend, tuple(files), old.commands + new.commands, new.notes, new.state)


def all_names(answers: Answers) -> set[str]:
    """Every client and user name of the answers: each has a folder under /etc/swan-wizard/clients."""
    v = answers.variants
    names = {c.name for c in answers.clients}
    for variant in (v.ikev2_eap, v.ikev1_xauth, v.l2tp):
        if variant is not None:
            names.update(u.name for u in variant.users)
    return names


def _parents(path: str) -> list[str]:
    """"/a/b/c" -> ["/a/b", "/a", "/"]."""
    out = []
    while path not in ("", "/"):
        path = path.rpartition("/")[0] or "/"
        out.append(path)
    return out


def _keep_existing_modes(files: list[FileAction], root: Root) -> list[FileAction]:
    """Files shared with the distribution or the admin keep the mode they have."""
    out = []
    for f in files:
        if f.path in SHARED_FILES and f.content is not None and (real := root(f.path)).is_file():
            f = replace(f, mode=real.stat().st_mode & 0o7777)
        out.append(f)
    return out


def system_facts(root: Root, answers: Answers) -> tuple[ServiceFacts, NetFacts | None]:
    """What a plan assumes about the service manager and the network.

    The live system is asked; a staged root gets a fresh system's service facts (what a first start would
    run) and no network facts (its network is not this machine's).
    """
    if not root.is_live:
        return ServiceFacts(systemd=True, charon_running=False, starter_running=False, charon_path=""), None
    from wizard.model.answers import is_ip
    from wizard.system import netfacts
    from wizard.system.service import gather_facts

    names = [n for n in (answers.server.address, *answers.server.alt_names) if not is_ip(n)]
    return gather_facts(), netfacts.gather(names)


# The answers every client's own files are made from: excluded from the context of the others.
_PER_CLIENT: dict[str, object] = {"clients": True, "revoked": True,
                                  "variants": {"ikev2_eap": {"users"}, "ikev1_xauth": {"users"}, "l2tp": {"users"}}}


def client_context(answers: Answers, salt: str, ca_cert_pem: bytes, host_cert_pem: bytes) -> str:
    """What each client's files depend on besides that client's own answers: the rest of the answers, the
    CA and host certificates, the wizard's code. While it stays the same, a client command need plan only
    the clients it names; a change (server address, proposals, a new host certificate, an upgrade) makes
    it plan every client. Salted like the cache that keeps it: the answers may hold secrets."""
    rest = json.dumps(answers.model_dump(mode="json", exclude=_PER_CLIENT), sort_keys=True)  # type: ignore[arg-type]
    h = hashlib.sha256(bytes.fromhex(salt))
    for part in (profile_cache.code_digest(), rest.encode(), ca_cert_pem, host_cert_pem):
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()


def _scope_holds(answers: Answers, root: Root, cache: ProfileCache) -> tuple[bytes, bytes] | None:
    """The CA and host certificates on disk when the last plan's context still holds for every client."""
    ca, host = root.read_bytes(paths.CA_CERT), root.read_bytes(host_cert_locations(answers.layout)[0])
    if ca is None or host is None or not cache.context:
        return None
    return (ca, host) if client_context(answers, cache.salt, ca, host) == cache.context else None


def keep_existing_ca_name(answers: Answers, root: Root) -> Answers:
    """The answers with the DN of the CA on disk where they only derive one from the server address.

    A CA is never renamed: a DN the admin gives must match it (else the plan is refused), but one the
    answers merely default to (``default_ca_dn``, which follows the server address, and differs from what
    older versions defaulted to) yields to the CA that exists."""
    if answers.ca.dn != default_ca_dn(answers.server.address):
        return answers
    pem = root.read_bytes(paths.CA_CERT)
    try:
        subject = x509.load_pem_x509_certificate(pem).subject if pem else None
    except ValueError:
        return answers  # the plan reports the damaged certificate
    if subject is None or subject == names.parse_dn(answers.ca.dn):
        return answers
    return updated(answers, ca=updated(answers.ca, dn=names.format_dn(subject)))


def build_plan(answers: Answers, root: Root, source: SecretSource, facts: ServiceFacts | None = None,
               progress: Progress | None = None, now: datetime | None = None, net: NetFacts | None = None,
               renew: Collection[str] = (), new_passwords: Collection[str] = (), verify: bool = False,
               scope: Collection[str] | None = None) -> Plan:
    """The plan for ``answers`` on ``root``. ``facts``/``net`` describe the live system (None: a staged root).

    ``renew``/``new_passwords`` name clients that get a new certificate / PKCS#12 password (``client`` commands);
    ``verify`` opens and checks every client's files even where the ledger vouches for them; ``scope`` (client
    commands) names the clients and users whose files are planned, the others' staying as they are, as long
    as nothing they depend on changed (``client_context``): otherwise, and with ``verify``, every client is."""
    answers = keep_existing_ca_name(answers, root)
    rendered = profile_cache.load(root)
    book = ledger.load(root)
    secret_warnings: list[tuple[str, str]] = []
    creds = credentials.resolve(answers, root, source, secret_warnings)
    on_disk = _scope_holds(answers, root, rendered) if not verify and (scope is not None or rendered.context) else None
    inputs: dict[str, str] | None = None
    recorded = stamps.load(root)
    carried: dict[str, FolderStamps] = {}
    if on_disk is not None and scope is None:
        # A re-apply: the folders that stand as the last apply left them are not opened (see plan.standing).
        inputs = standing.folder_inputs(answers, creds, source, rendered.salt, rendered.context)
        carried = standing.standing(root, inputs, recorded, book, {c.name for c in answers.clients},
                                    now or datetime.now(UTC))
        scope = (set(inputs) | standing.folders_on_disk(root)) - set(carried)
    elif on_disk is not None and scope is not None:
        # A client command: the other folders are left as they are, and so is what was recorded of them.
        carried = {name: r for name, r in recorded.items() if name not in scope}
    if on_disk is None:
        scope = None
    m = build_materials(answers, root, source, progress=progress, now=now, renew=renew, new_passwords=new_passwords,
                        verify=verify, scope=scope, book=book)
    if on_disk is not None and (m.ca.cert_pem, m.host.cert_pem) != on_disk:
        scope, inputs, carried = None, None, {}  # a new host certificate: every profile carries it
        m = build_materials(answers, root, source, progress=progress, now=now, renew=renew,
                            new_passwords=new_passwords, verify=verify, book=book)
    # The connections, pools and secrets charon gets: derived once, every renderer takes its part.
    server = connections.server_spec(answers, creds)
    crl_actions = revocation.crl_files(answers, root, m.ca, now)
    if answers.layout == "swanctl" and any(revocation.too_big_for_vici(f.content) for f in crl_actions if f.content):
        server = replace(server, crl_uri=revocation.crl_uri(paths.SWANCTL_CRL))
    settings = render_strongswan.strongswan_settings(answers, netchecks.esp_backend(answers, net))
    files = [
        FileAction(paths.CA_KEY, m.ca.key_pem, 0o600, secret=True,
                   why="CA private key: kept outside strongSwan's directories; charon never needs it"),
        FileAction(paths.CA_CERT, m.ca.cert_pem, 0o644, why="CA certificate"),
        *_layout_files(answers, m, server),
        FileAction(paths.STRONGSWAN_SETTINGS, settings.encode(), 0o644, why="charon logging and plugin settings"),
    ]
    radius = render_strongswan.radius_settings(answers, creds)
    if radius is not None:
        files.append(FileAction(paths.RADIUS_SETTINGS, radius.encode(), 0o600, secret=True,
                                why="eap-radius plugin: RADIUS servers and their shared secrets"))
    files += [FileAction(paths.radius_client_snippet(server), text.encode(), 0o600, secret=True,
                         why=f"FreeRADIUS clients.conf entry for this gateway, for RADIUS server {server}")
              for server, text in render_strongswan.freeradius_clients(answers, creds).items()]
    sysctl = render_strongswan.sysctl_conf(answers)
    if sysctl is not None:
        files.append(FileAction(paths.SYSCTL_CONF, sysctl.encode(), 0o644, why="IP forwarding"))
    files += _client_files(m) + ([ledger_action(answers, m, scope)]
                                 if m.clients or (scope is not None and answers.clients) else [])
    files += _peer_files(m) + _credential_files(creds) + _stale_secret_files(root, creds)
    files += _typed_secret_files(answers, root, source)
    files += _l2tp_files(answers, root, creds)
    # Ready-to-import profiles and a README per client; the CRL of revoked client certificates.
    if verify:
        rendered = ProfileCache(rendered.salt)  # render everything; the same salt keeps the file unchanged
    client_profiles = profiles.plan_files(answers, server, m, creds, root, rendered, scope)
    if scope is not None:
        rendered.keep_others(scope, all_names(answers))
    context = client_context(answers, rendered.salt, m.ca.cert_pem, m.host.cert_pem)
    names = None
    if scope is not None and inputs is None:
        # A client command: only the folders it plans are stamped, the others' records are carried.
        inputs = standing.folder_inputs(answers, creds, source, rendered.salt, context, only=scope)
        names = standing.folder_names(answers)
    elif inputs is None or context != rendered.context:
        inputs = standing.folder_inputs(answers, creds, source, rendered.salt, context)
    files += list(client_profiles.files) + ([rendered.action(context)] if rendered.written else [])
    files += crl_actions
    fw = _firewall(answers, root, net, facts.systemd if facts else True)
    files = _keep_existing_modes(files + list(fw.files), root)
    wanted = {f.path for f in files}
    files += [FileAction(p, None, why="no longer part of the answers") for p in OWNED if p not in wanted
              and root(p).is_file()]
    files += profiles.stale_client_files(root, wanted, scope) + _stale_radius_files(root, wanted)
    private = [*PRIVATE_DIRS, *(paths.client_dir(b.name) for b in m.clients), *client_profiles.dirs,
               *(paths.PEERS_DIR / name for name, _ in m.peers)]
    # One set of parents, as text (PurePosixPath.parents costs more than the rest of a large plan): a
    # per-directory scan of every file is quadratic with a thousand clients.
    parents = {text for f in files if f.content is not None for text in _parents(str(f.path))}
    dirs = [DirAction(d, 0o700) for d in dict.fromkeys(private) if str(d) in parents]
    dirs.append(DirAction(PurePosixPath(paths.CHARON_LOG).parent, 0o750))
    notes = [*m.ca.notes, *m.host.notes, *(n for b in m.clients for n in b.pair.notes), *m.notes]
    notes += list(fw.notes) + list(client_profiles.notes)
    # Say once, on the run that creates it, where each generated secret is (never the secret itself).
    handouts = [shortlist.password_handout(b.name, client_files(b.name)["password"])
                for b in m.clients if b.password_generated and not root(client_files(b.name)["password"]).exists()]
    handouts += [f"generated secret for {c.field} is in {credentials.secret_file(c.key)}"
                 for c in creds.values() if c.generated and not root(credentials.secret_file(c.key)).exists()]
    cmds = commands(answers.layout, facts, answers.networking.forwarding, l2tp=answers.variants.l2tp is not None,
                    firewall=fw.commands,
                    settings_changed=(_read_text(root, paths.STRONGSWAN_SETTINGS) != settings
                                      or _read_text(root, paths.RADIUS_SETTINGS) != radius)) if facts else ()
    warnings = (*((f.field, f.message) for f in answers_warnings(answers)), *secret_warnings,
                *_weak_secrets(answers, m, creds, source, verify))
    return Plan(tuple(files), tuple(dirs), cmds, tuple(notes), warnings, tuple(handouts),
                stamps=stamps.Request(inputs, frozenset(inputs if scope is None else scope), carried, recorded,
                                      names))


def needed_bytes(plan: Plan) -> int:
    """The size of every file the plan writes: what a full disk is told it needs."""
    return sum(len(f.content) for f in plan.files if f.content is not None)
