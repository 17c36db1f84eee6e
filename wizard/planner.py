"""From answers to a plan: key material, rendered files with their modes, and service commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import PurePosixPath

from wizard import paths, render_ipsec, render_strongswan, render_swanctl
from wizard.answers import Answers, answers_warnings
from wizard.materials import Materials, client_files
from wizard.materials import build as build_materials
from wizard.paths import Root
from wizard.plan import DirAction, FileAction, Plan
from wizard.secrets import SecretSource
from wizard.service import ServiceFacts, commands

Progress = Callable[[str, int, int], None]

PRIVATE_DIRS = (paths.CA_DIR, paths.CLIENTS_DIR, paths.WIZARD_STATE, paths.SWANCTL_PRIVATE,
                paths.IPSEC_PRIVATE)


def _layout_files(answers: Answers, m: Materials) -> list[FileAction]:
    if answers.layout == "swanctl":
        return [
            FileAction(paths.SWANCTL_X509CA / paths.CA_CERT_NAME, m.ca.cert_pem, 0o644,
                       why="CA certificate: trust anchor for client certificates"),
            FileAction(paths.SWANCTL_X509 / paths.HOST_CERT_NAME, m.host.cert_pem, 0o644,
                       why="host certificate"),
            FileAction(paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME, m.host.key_pem, 0o600, secret=True,
                       why="host private key"),
            FileAction(paths.SWANCTL_CONF, render_swanctl.swanctl_conf(answers).encode(), 0o644,
                       why="connections and pools"),
        ]
    return [
        FileAction(paths.IPSEC_CACERTS / paths.CA_CERT_NAME, m.ca.cert_pem, 0o644, why="CA certificate"),
        FileAction(paths.IPSEC_CERTS / paths.HOST_CERT_NAME, m.host.cert_pem, 0o644, why="host certificate"),
        FileAction(paths.IPSEC_PRIVATE / paths.HOST_KEY_NAME, m.host.key_pem, 0o600, secret=True,
                   why="host private key"),
        FileAction(paths.IPSEC_CONF, render_ipsec.ipsec_conf(answers).encode(), 0o644,
                   why="connections (legacy layout)"),
        FileAction(paths.IPSEC_SECRETS, render_ipsec.ipsec_secrets(answers, m.host.key).encode(), 0o600,
                   secret=True, why="which private key the host uses"),
    ]


# Files only Swan Wizard writes: removed when the answers no longer want them (e.g. a layout switch).
OWNED = (
    paths.SWANCTL_X509CA / paths.CA_CERT_NAME, paths.SWANCTL_X509 / paths.HOST_CERT_NAME,
    paths.SWANCTL_PRIVATE / paths.HOST_KEY_NAME, paths.SWANCTL_CONF,
    paths.IPSEC_CACERTS / paths.CA_CERT_NAME, paths.IPSEC_CERTS / paths.HOST_CERT_NAME,
    paths.IPSEC_PRIVATE / paths.HOST_KEY_NAME, paths.SYSCTL_CONF,
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


def build_plan(answers: Answers, root: Root, source: SecretSource, facts: ServiceFacts | None = None,
               progress: Progress | None = None, now: datetime | None = None) -> Plan:
    m = build_materials(answers, root, source, progress=progress, now=now)
    files = [
        FileAction(paths.CA_KEY, m.ca.key_pem, 0o600, secret=True,
                   why="CA private key: kept outside strongSwan's directories; charon never needs it"),
        FileAction(paths.CA_CERT, m.ca.cert_pem, 0o644, why="CA certificate"),
        *_layout_files(answers, m),
        FileAction(paths.STRONGSWAN_SETTINGS, render_strongswan.strongswan_settings(answers).encode(), 0o644,
                   why="charon logging and plugin settings"),
    ]
    sysctl = render_strongswan.sysctl_conf(answers)
    if sysctl is not None:
        files.append(FileAction(paths.SYSCTL_CONF, sysctl.encode(), 0o644, why="IP forwarding"))
    files += _client_files(m)
    wanted = {f.path for f in files}
    files += [FileAction(p, None, why="no longer part of the answers") for p in OWNED if p not in wanted
              and root(p).is_file()]
    private = [*PRIVATE_DIRS, *(paths.client_dir(b.name) for b in m.clients)]
    written = [f.path for f in files if f.content is not None]
    dirs = [DirAction(d, 0o700) for d in private if any(d in p.parents for p in written)]
    dirs.append(DirAction(PurePosixPath(paths.CHARON_LOG).parent, 0o750))
    notes = [n for pair in (m.ca, m.host, *(b.pair for b in m.clients)) for n in pair.notes] + list(m.notes)
    handouts = [f"PKCS#12 password for {b.name} is in {client_files(b.name)['password']}"
                for b in m.clients if b.password_generated]
    cmds = commands(answers.layout, facts, answers.networking.forwarding) if facts else ()
    return Plan(tuple(files), tuple(dirs), cmds, tuple(notes), tuple(answers_warnings(answers)),
                tuple(handouts))
