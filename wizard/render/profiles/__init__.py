"""Ready-to-import client profiles, one module per format, written beside each client's key material.

Every profile is built from the server's own connection specs (``wizard.render.connections``) and key
material, so what a client is told (address, server identity, proposals, traffic selectors, CA) is
what the server configuration says. Files go to /etc/swan-wizard/clients/<name>/ (0600):

=====================  =========================================  ===================================
file                   for                                        module
=====================  =========================================  ===================================
<stem>.mobileconfig    iOS, iPadOS, macOS                         :mod:`wizard.render.profiles.apple`
<stem>.ps1             Windows 10/11 (PowerShell)                 :mod:`wizard.render.profiles.windows`
<stem>.sswan           Android, strongSwan VPN Client app         :mod:`wizard.render.profiles.android`
<stem>.nmconnection    Linux, NetworkManager-strongswan           :mod:`wizard.render.profiles.networkmanager`
<stem>.swanctl.conf    Linux, strongSwan swanctl                  :mod:`wizard.render.profiles.swanctl`
README.txt             what to do on each OS; IKEv1/L2TP settings :mod:`wizard.render.profiles.readme`
=====================  =========================================  ===================================

``<stem>`` is the client's name for certificate logins and ``<name>-eap`` for EAP users.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from wizard.certs.materials import ClientBundle, Materials
from wizard.fs import paths
from wizard.fs.changes import FileAction
from wizard.fs.paths import Root
from wizard.model import credentials, formats
from wizard.model.answers import Answers, Ikev1Xauth, L2tp, Secret, SecretRef, User
from wizard.model.credentials import Credential
from wizard.render import connections
from wizard.render.connections import ConnSpec, ServerSpec
from wizard.render.profiles import android, apple, networkmanager, prerender, readme, swanctl, windows
from wizard.render.profiles.cache import ProfileCache
from wizard.render.profiles.model import CertLogin, EapLogin, Profile, ServerView, Tunnel

README_NAME = "README.txt"
CA_FILE = "ca.pem"  # the name materials.client_files gives it in a certificate client's directory


@dataclass(frozen=True)
class Format:
    suffix: str
    label: str
    render: Callable[[Profile], bytes]
    secret: Callable[[Profile], bool]  # whether the file holds a key or password (never shown in diffs)


def _text(render: Callable[[Profile], str]) -> Callable[[Profile], bytes]:
    return lambda profile: render(profile).encode()


def _always(_: Profile) -> bool:
    return True


FORMATS: tuple[Format, ...] = (
    Format(".mobileconfig", "Apple profile", apple.mobileconfig, _always),
    Format(".ps1", "Windows PowerShell script", _text(windows.powershell), _always),
    Format(".sswan", "Android strongSwan app profile", android.sswan, _always),
    # A certificate keyfile names only file paths; an EAP one carries the password.
    Format(".nmconnection", "NetworkManager connection", _text(networkmanager.nmconnection),
           lambda p: p.kind == "eap"),
    Format(".swanctl.conf", "swanctl client configuration", _text(swanctl.swanctl_conf), _always),
)


def _tunnel(charon: ServerSpec, spec: ConnSpec) -> Tunnel:
    pool = charon.pool(spec.pool)  # None: addresses from DHCP
    v6 = pool is not None and ipaddress.ip_network(pool.addrs).version == 6
    return Tunnel(conn=spec.name, ike=spec.ike_proposals, esp=spec.esp_proposals, remote_ts=spec.local_ts,
                  virtual_ip="::" if v6 else "0.0.0.0")


def secret_hint(secret: Secret | None, generated_at: str) -> str:
    """Where a password is, in words: never the password itself (README files are not secret)."""
    if isinstance(secret, str):
        return "written in the answers file"
    if isinstance(secret, SecretRef) and secret.env is not None:
        return f"from the environment variable {secret.env} given to swan-wizard"
    if isinstance(secret, SecretRef) and secret.file is not None:
        return f"in {secret.file} (first line)"
    return generated_at


def p12_password_hint(secret: Secret | None) -> str:
    """Where the person with the client folder finds the PKCS#12 password: only a generated one is in the folder;
    one the admin gave (literal, {env}, {file}) stays with the admin, whose own file the client never sees."""
    if secret is None or (isinstance(secret, SecretRef) and secret.generate):
        return "in the file p12-password next to this README"
    if isinstance(secret, SecretRef) and secret.env is not None:
        source = f"swan-wizard read it from the environment variable {secret.env}"
    elif isinstance(secret, SecretRef) and secret.file is not None:
        source = f"swan-wizard read it from {secret.file} on the server"
    else:
        source = "it is written in the answers file"
    return f"not in this folder: the administrator gives it to you separately ({source})"


# PKCS#12 formats these platforms import (reference §3.2): an aes256 bundle goes only into the other profiles.
_LEGACY_P12_ONLY = {".mobileconfig": "Apple devices", ".ps1": "Windows"}


@dataclass(frozen=True)
class ProfilePlan:
    files: tuple[FileAction, ...]
    dirs: tuple[PurePosixPath, ...]
    notes: tuple[str, ...]


def _revocation(answers: Answers, bundle: ClientBundle) -> readme.Revocation | None:
    serial = format(bundle.pair.cert.serial_number, "x")
    entry = next((r for r in answers.revoked if r.serial == serial), None)
    return readme.Revocation(serial, entry.revoked_at) if entry else None


def plan_files(answers: Answers, charon: ServerSpec, m: Materials, creds: dict[str, Credential], root: Root,
               cache: ProfileCache, scope: Collection[str] | None = None) -> ProfilePlan:
    """Profiles and a README for every client and user of the answers (or only those named in ``scope``),
    from what ``charon`` is told. Files ``cache`` vouches for are read from ``root`` instead of being
    rendered again."""
    cert_spec = charon.connection(connections.CONN_IKEV2_CERT)
    eap_spec = charon.connection(connections.CONN_IKEV2_EAP)
    # The identity the server's own connections authenticate with (their local.id): what clients must expect.
    spec = cert_spec or eap_spec
    server_id = spec.local_id if spec is not None else answers.server.address
    server = ServerView(answers.server.address, server_id, m.ca.cert, m.host.cert)
    docs: dict[str, readme.ClientReadme] = {}

    def doc(name: str) -> readme.ClientReadme:
        return docs.setdefault(name, readme.ClientReadme(name, answers.server.address, server_id))

    def users(listed: list[User]) -> list[User]:
        return listed if scope is None else [u for u in listed if u.name in scope]

    client_answers = {c.name: (i, c) for i, c in enumerate(answers.clients)}
    for bundle in m.clients:
        index, c = client_answers[bundle.name]
        r = doc(bundle.name)
        r.p12_password_hint = p12_password_hint(c.p12_password)
        if bundle.revoked:
            r.revoked = _revocation(answers, bundle)
        elif cert_spec is not None:
            password = formats.secret_text(bundle.p12_password, f"clients[{index}].p12_password")
            login = CertLogin(bundle.p12, password, bundle.pair.cert, bundle.pair.cert_pem,
                              bundle.pair.key_pem, bundle.pair.key_type)
            r.cert = Profile(bundle.name, server, _tunnel(charon, cert_spec), cert=login, on_demand=c.on_demand)
    v = answers.variants
    if v.ikev2_eap is not None and eap_spec is not None:
        for user in users(v.ikev2_eap.users):
            key = credentials.secret_key("eap", user.name)
            r = doc(user.name)
            r.eap_password_hint = secret_hint(user.password, f"in {credentials.secret_file(key)} on the server")
            # The profiles (plist, JSON, PowerShell, keyfile) carry the password as text: the same rule for all.
            password = formats.secret_text(creds[key].value, creds[key].field)
            r.eap = Profile(user.name, server, _tunnel(charon, eap_spec), eap=EapLogin(password))
    ikev1 = charon.proposals("ike", 1)

    def stored_in(variant: credentials.Variant, owner: str | None = None) -> str:
        return f"in {credentials.secret_file(credentials.secret_key(variant, owner))} on the server"

    typed_variants: tuple[tuple[credentials.Variant, Ikev1Xauth | L2tp | None], ...] = (
        ("xauth", v.ikev1_xauth), ("l2tp", v.l2tp))
    for variant, typed in typed_variants:
        if typed is None:
            continue
        psk = secret_hint(typed.psk, stored_in(variant)) if typed.auth == "psk" else None
        for user in users(typed.users):
            hint = secret_hint(user.password, stored_in(variant, user.name))
            doc(user.name).typed.append(readme.TypedLogin(variant, typed.auth, hint, psk, ikev1))

    notes: list[str] = []
    # First what each client's folder holds (in order), then the renders the cache cannot vouch for, all at
    # once (on two cores when there are many), then each file from the cache or from those renders.
    jobs: list[_Job] = []
    cert_names = {b.name for b in m.clients}
    for name, r in docs.items():
        folder = paths.client_dir(name)
        for profile in (r.cert, r.eap):
            if profile is None:
                continue
            inputs = cache.key("profile", profile)
            for fmt in FORMATS:
                who = _LEGACY_P12_ONLY.get(fmt.suffix)
                if who and profile.kind == "cert" and client_answers[name][1].p12_encryption == "aes256":
                    why = (f"no {fmt.label} for {name}: its PKCS#12 is aes256 (p12_encryption), which {who} cannot "
                           "import; p12_encryption: legacy makes one")
                    notes.append(why)
                    r.notes.append(why)
                    continue
                jobs.append(_Job(name, folder / (profile.stem + fmt.suffix), cache.derived(inputs, fmt.suffix),
                                 fmt.render, profile, fmt))
        if r.eap is not None and name not in cert_names:
            jobs.append(_Job(name, folder / CA_FILE, "", None, None, None))
        jobs.append(_Job(name, folder / README_NAME, "", _readme_bytes, r, None))
    for job in jobs:  # the README's inputs once its notes are complete
        if job.fmt is None and job.render is not None:
            job.inputs = cache.key("readme", job.value)
    missing = [job for job in jobs if job.render is not None and not cache.may_hold(job.logical, job.inputs)]
    rendered = dict(zip((job.logical for job in missing),
                        prerender.render_all([(job.render, job.value) for job in missing]), strict=True))  # type: ignore[misc]
    files: list[FileAction] = []
    for job in jobs:
        if job.render is None:
            # The profiles embed the CA, but NetworkManager, swanctl and Android's own client want it as a file;
            # certificate clients have theirs from the key material.
            files.append(FileAction(job.logical, m.ca.cert_pem, 0o600, why=f"{job.name}: CA certificate"))
            continue
        done = rendered.get(job.logical)
        try:
            content = cache.content(root, job.logical, job.inputs, job.render if done is None else _given(done),
                                    job.value)
        except apple.NoSuite as exc:
            label = job.fmt.label if job.fmt is not None else job.logical.name
            notes.append(f"no {label} for {job.name}: {exc}")
            continue
        if job.fmt is None:
            files.append(FileAction(job.logical, content, 0o600,
                                    why=f"{job.name}: what to do with these files on each OS"))
        else:
            files.append(FileAction(job.logical, content, 0o600, secret=job.fmt.secret(job.value),
                                    why=f"{job.name}: {job.fmt.label}"))
    return ProfilePlan(tuple(files), tuple(paths.client_dir(n) for n in docs), tuple(notes))


def _given(data: bytes) -> Callable[[Any], bytes]:
    return lambda _value: data


@dataclass
class _Job:
    """One file of a client's folder: rendered by ``render`` from ``value`` (None: the CA certificate)."""

    name: str
    logical: PurePosixPath
    inputs: str
    render: Callable[[Any], bytes] | None
    value: Any
    fmt: Format | None  # None: the README (or the CA certificate)


def _readme_bytes(r: readme.ClientReadme) -> bytes:
    return readme.readme(r).encode()


def stale_client_files(root: Root, wanted: set[PurePosixPath], scope: Collection[str] | None = None
                       ) -> list[FileAction]:
    """Removals for files under the clients directory that no client of the answers wants any more
    (a removed client, a disabled variant, a revoked certificate's profiles); with a ``scope``, only in
    those clients' folders. Symbolic links are left alone: they may point anywhere."""
    base = root(paths.CLIENTS_DIR)
    if not base.is_dir():
        return []
    # Text, and DirEntry's own file types: with thousands of clients, a Path per entry is most of the cost.
    kept = {str(p) for p in wanted}
    out = []
    for folder in _entries(base):
        if not folder.is_dir(follow_symlinks=False) or (scope is not None and folder.name not in scope):
            continue
        for entry in _entries(Path(folder.path)):
            logical = f"{paths.CLIENTS_DIR}/{folder.name}/{entry.name}"
            if entry.is_file(follow_symlinks=False) and logical not in kept:
                out.append(FileAction(PurePosixPath(logical), None, why="no longer part of the answers"))
    return out


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as it:
        return sorted(it, key=lambda e: e.name)
