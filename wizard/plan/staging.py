"""The wizard's plan: the same ``build_plan`` as ``swan-wizard apply``, seen through the admin's choices.

Two choices of the welcome and CA screens change what the planner must *see* without touching the
disk before the review is confirmed:

- **start over**: the existing key material is hidden from the planner, so it plans a new CA, host and
  client keys; ``apply`` then backs the old files up (as it does for every file it replaces) and writes
  the new ones.
- **import a CA**: the planner reads the CA from the files the admin named, so the plan writes them to
  ``/etc/swan-wizard/ca/`` and every certificate is signed by that CA.

Both are a :class:`StagedRoot`: a ``Root`` whose mapping of a few logical paths differs. Diffs are
always taken against the real root, so the review shows what will really change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from wizard.fs import paths
from wizard.fs.changes import FileChange, Plan
from wizard.fs.paths import Root
from wizard.model.answers import Answers
from wizard.model.secrets import SecretSource
from wizard.pki import encode, keys, names, reuse
from wizard.pki.keytypes import KeyType
from wizard.plan.planner import build_plan, system_facts
from wizard.plan.session import CaImport, Mode

# Key material "start over" replaces (the files apply backs up before writing the new ones).
START_OVER_HIDDEN = (
    paths.CA_DIR, paths.CLIENTS_DIR, paths.PEERS_DIR, paths.SECRETS_DIR,
    paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME, paths.IPSEC_PRIVATE / paths.HOST_KEY_NAME,
    paths.SWANCTL_X509 / paths.HOST_CERT_NAME, paths.IPSEC_CERTS / paths.HOST_CERT_NAME,
)
_NOWHERE = Path("/nonexistent/swan-wizard-hidden")


@dataclass(frozen=True)
class StagedRoot(Root):
    """A root where some logical paths are hidden (look absent) or read from elsewhere."""

    hidden: tuple[PurePosixPath, ...] = ()
    overlay: tuple[tuple[PurePosixPath, Path], ...] = ()

    def locate(self, logical: PurePosixPath | str) -> tuple[str, str]:
        path = PurePosixPath(logical)
        for source, real in self.overlay:
            if path == source:
                return str(path), str(real)
        for hidden in self.hidden:
            if path == hidden or hidden in path.parents:
                return str(path), str(_NOWHERE.joinpath(*path.parts[1:]))
        return super().locate(path)


def staged_root(root: Root, mode: Mode, ca_import: CaImport | None) -> Root:
    hidden = START_OVER_HIDDEN if mode == "start-over" else ()
    overlay: tuple[tuple[PurePosixPath, Path], ...] = ()
    if ca_import is not None:
        overlay = ((paths.CA_CERT, Path(ca_import.cert)), (paths.CA_KEY, Path(ca_import.key)))
    if not hidden and not overlay:
        return root
    return StagedRoot(root.path, hidden, overlay)


def compute_plan(answers: Answers, root: Root, *, mode: Mode = "new", ca_import: CaImport | None = None,
                 base_dir: str | None = None, progress: Callable[[str, int, int], object] | None = None,
                 now: datetime | None = None, typed: Mapping[str, str] | None = None) -> Plan:
    """The plan for the wizard's answers; reads only (key generation happens in memory). ``typed``: the
    session's typed secrets, which the plan writes to their files."""
    # The real root: "start over" hides the stored secrets from the planner, never the typed ones.
    source = SecretSource(base_dir=Path(base_dir) if base_dir else Path.cwd(), root=root, typed=typed or {})
    facts, net = system_facts(root, answers)
    return build_plan(answers, staged_root(root, mode, ca_import), source, facts=facts, progress=progress,
                      now=now, net=net)


@dataclass(frozen=True)
class Reviewed:
    """The plan the admin confirmed and what it would have done to each file at that moment."""

    plan: Plan
    kinds: dict[PurePosixPath, str]


def reviewed(plan: Plan, changes: list[FileChange]) -> Reviewed:
    return Reviewed(plan, {c.action.path: c.change.value for c in changes})


def plan_differences(before: Reviewed, plan: Plan, changes: list[FileChange]) -> list[str]:
    """Why ``plan`` (computed again just before applying) is not the one the admin reviewed.

    Compared: which files, their modes and secrecy, whether each is created, updated, kept or removed,
    and the commands. Not compared: the bytes of files that embed freshly generated key material (keys,
    certificates, bundles, profiles whose UUIDs derive from a new CA): those differ on every computation
    while the CA is new, and are the same answers rendered by the same code.
    """
    out: list[str] = []
    old = {f.path: f for f in before.plan.files}
    new = {f.path: f for f in plan.files}
    out += [f"{p} is no longer part of the plan" for p in old.keys() - new.keys()]
    out += [f"{p} is new in the plan" for p in new.keys() - old.keys()]
    kinds = {c.action.path: c.change.value for c in changes}
    for p in old.keys() & new.keys():
        a, b = old[p], new[p]
        if a.mode != b.mode:
            out.append(f"{p}: mode {a.mode:04o} became {b.mode:04o}")
        elif a.secret != b.secret:
            out.append(f"{p}: secrecy changed")
        elif before.kinds.get(p) != kinds.get(p):
            out.append(f"{p}: was to {before.kinds.get(p)}, now {kinds.get(p)} (the file changed on disk)")
    if [c.argv for c in before.plan.commands] != [c.argv for c in plan.commands]:
        out.append("the commands to run changed")
    return sorted(out)


@dataclass(frozen=True)
class ImportedCa:
    dn: str
    key: KeyType
    lifetime_days: int
    not_after: datetime
    encrypted: bool


def inspect_ca(cert_path: str | Path, key_path: str | Path, passphrase: bytes | None = None,
               now: datetime | None = None) -> ImportedCa:
    """Check an existing CA for import. Raises ValueError with a sentence naming what is wrong."""
    cert_path, key_path = Path(cert_path), Path(key_path)
    try:
        cert_data = cert_path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {cert_path}: {exc.strerror}") from None
    try:
        key_data = key_path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {key_path}: {exc.strerror}") from None
    cert = encode.load_cert_pem(cert_data)
    key = encode.load_key_pem(key_data, passphrase)
    problems = reuse.ca_cert_problems(cert, key, cert.subject, now=now or datetime.now(UTC))
    if problems:
        raise ValueError("; ".join(problems))
    dn = names.format_dn(cert.subject)
    try:
        same = names.parse_dn(dn) == cert.subject
    except ValueError:
        same = False
    if not same:
        # The answers name the CA by its DN; one the DN syntax cannot spell could never be matched again.
        raise ValueError(f"the CA's subject '{dn}' cannot be written as an answers-file DN")
    lifetime = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    return ImportedCa(dn=dn, key=keys.key_type_of(key),
                      lifetime_days=min(max(lifetime, 1), 36500), not_after=cert.not_valid_after_utc,
                      encrypted=b"ENCRYPTED" in key_data)
