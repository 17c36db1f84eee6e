"""``swan-wizard doctor --bundle FILE``: everything a helper needs to see, and no secret.

The bundle is built from an allow-list: configuration files (with every secret value replaced),
certificate summaries, the tail of charon's log, the findings. Private keys, PKCS#12 files, the CA key
and the generated passwords are never read into it. On top of the per-format redaction, every secret
the doctor can find on the system (generated passwords, PKCS#12 passwords, secrets in swanctl.conf,
ipsec.secrets and chap-secrets, the answers' own secrets) is searched for in every member and replaced;
a member that still holds one, or any private key block, stops the bundle from being written at all.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import shlex
import tarfile
import time
from collections import deque
from pathlib import Path, PurePosixPath

from wizard import __version__
from wizard.checks.doctor.certs import load_certs
from wizard.checks.doctor.confparse import KEY_KINDS, SECRET_LINE, root_reader
from wizard.checks.doctor.context import Context
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model.answers import Answers, SecretRef
from wizard.model.secrets import SecretSource
from wizard.pki import certinfo
from wizard.problems import WizardError

REDACTED = "<redacted>"
_SECRET_WORDS = {"secret", "password", "passphrase", "passwd", "psk", "pin"}
_SETTING = re.compile(r"^(?P<lead>\s*)(?P<key>[A-Za-z0-9_.%-]+)(?P<eq>\s*=\s*)(?P<value>.*)$")
# (split so that this source file does not itself look like it holds a key to a secret scanner)
_PRIVATE_BLOCK = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE" rb" KEY-----")
MIN_SECRET = 4  # shorter "secrets" would redact ordinary words


def _is_secret_key(key: str) -> bool:
    return any(part in _SECRET_WORDS for part in re.split(r"[._-]", key.lower())) or key.lower().startswith("secret")


def redact_settings(text: str) -> str:
    """strongswan.conf / swanctl.conf / ipsec.conf: the value of every secret-like key."""
    out = []
    for line in text.splitlines():
        match = _SETTING.match(line)
        if match and _is_secret_key(match["key"]) and match["value"].strip():
            line = f"{match['lead']}{match['key']}{match['eq']}{REDACTED}"
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def redact_ipsec_secrets(text: str) -> str:
    out = []
    for line in text.splitlines():
        match = SECRET_LINE.match(line)
        if match and not line.lstrip().startswith(("#", "include ")):
            if match["kind"] in KEY_KINDS:
                # Keep the key file's name (not a secret), drop a passphrase after it.
                words = match["value"].split(None, 1)
                value = words[0] + (f" {REDACTED}" if len(words) > 1 else "")
            else:
                value = REDACTED
            start, end = match.span("value")
            line = line[:start] + value + line[end:]
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


_CHAP_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')


def redact_chap_secrets(text: str) -> str:
    """pppd's ``client server secret addresses``: the third field."""
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            tokens = list(_CHAP_TOKEN.finditer(line))
            if len(tokens) >= 3:
                start, end = tokens[2].span()
                line = line[:start] + REDACTED + line[end:]
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


# ---------------------------------------------------------------------------------------------- secrets


def _first_line(path: Path) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [text.strip(), *(line.strip() for line in text.splitlines())]


def _unquote(value: str) -> str:
    value = value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def known_secrets(ctx: Context) -> set[str]:
    """Every secret value the doctor can find for this root (never written anywhere, only searched for)."""
    found: list[str] = []
    for folder in (paths.SECRETS_DIR, paths.TYPED_SECRETS_DIR):
        secrets_dir = ctx.root(folder)
        if secrets_dir.is_dir():
            for f in secrets_dir.iterdir():
                found += _first_line(f) if f.is_file() else []
    for f in ctx.root(paths.CLIENTS_DIR).glob("*/p12-password"):
        found += _first_line(f)
    for secret in ctx.installed.secrets:
        found += [secret.value, _unquote(secret.value)]
        if secret.value.lower().startswith("0x"):
            found.append(secret.value[2:])
    chap = ctx.root(paths.PPP_CHAP_SECRETS)
    if chap.is_file():
        for line in chap.read_text(errors="replace").splitlines():
            tokens = _CHAP_TOKEN.findall(line)
            if len(tokens) >= 3 and not line.lstrip().startswith("#"):
                found.append(_unquote(tokens[2]))
    if ctx.answers is not None:
        found += _answers_secrets(ctx.answers, Path(ctx.answers_path).resolve().parent if ctx.answers_path
                                  else Path.cwd(), ctx.root)
    return {s for s in found if len(s) >= MIN_SECRET and s != REDACTED}


def _answers_secrets(answers: Answers, base_dir: Path, root: Root) -> list[str]:
    source = SecretSource(base_dir=base_dir, root=root)
    refs = [answers.ca.passphrase, *(c.p12_password for c in answers.clients)]
    v = answers.variants
    for variant in (v.ikev2_eap, v.ikev1_xauth, v.l2tp):
        if variant is not None:
            refs += [u.password for u in variant.users]
    refs += [x.psk for x in (v.ikev1_xauth, v.l2tp) if x is not None]
    if v.transport is not None:
        refs += [p.psk for p in v.transport.peers]
    refs += [server.secret for server in (answers.radius.servers if answers.radius else [])]
    out = []
    for ref in refs:
        if ref is None or (isinstance(ref, SecretRef) and ref.generate):
            continue
        try:
            value = source.resolve(ref, "")
        except WizardError:
            continue
        if value:
            out.append(value.decode(errors="replace"))
    return out


def encodings(secrets: set[str]) -> set[str]:
    """Each secret as charon's log may print it: itself, and hex (``%#B``: 61:74:74, ``%+B``: 617474), either case."""
    out = set(secrets)
    for secret in secrets:
        hexed = secret.encode().hex()
        colons = ":".join(hexed[i:i + 2] for i in range(0, len(hexed), 2))
        out |= {hexed, hexed.upper(), colons, colons.upper()}
    return out


# charon's %B hex dump: "=> N bytes @ 0x...", then lines "   0: 61 74 74 ...  att" (hex and ASCII columns).
# A secret is cut across lines in both columns, so no search for it can find it: every dump line goes.
_HEXDUMP_LINE = re.compile(r"^(?P<head>.*?\]\s.*?)\s*\d{1,5}: (?:[0-9A-Fa-f]{2} ){1,16}.*$")
# %#B after a secret-like word ("secret: 61:74:..."), whatever the secret is.
_SECRET_HEX = re.compile(r"(?i)(?P<word>secret|password|passphrase|psk|key)(?P<sep>\W{0,4}?[:=]>?\s*)"
                         r"(?P<hex>(?:[0-9a-f]{2}:){3,}[0-9a-f]{2}|[0-9a-f]{16,})")


def redact_log(text: str) -> str:
    """charon's log: hex dumps (both columns) and hex after a secret-like word."""
    out = []
    for line in text.splitlines():
        match = _HEXDUMP_LINE.match(line)
        if match:
            line = f"{match['head']} {REDACTED} (hex dump)"
        out.append(_SECRET_HEX.sub(lambda m: f"{m['word']}{m['sep']}{REDACTED}", line))
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def scrub(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


# ---------------------------------------------------------------------------------------------- members


def _config_members(ctx: Context) -> dict[str, str]:
    read, expand = root_reader(ctx.root.path)
    wanted: list[PurePosixPath] = [*ctx.installed.files, paths.SWANCTL_DIR / "swanctl.conf", paths.IPSEC_CONF,
                                   paths.IPSEC_SECRETS, paths.STRONGSWAN_CONF,
                                   *expand(paths.STRONGSWAN_D / "*.conf"), paths.SYSCTL_CONF, paths.NFT_RULES,
                                   paths.IPTABLES_RESTORE, paths.FIREWALL_STATE, paths.XL2TPD_CONF,
                                   paths.PPP_OPTIONS_XL2TPD, paths.PPP_CHAP_SECRETS]
    out: dict[str, str] = {}
    for logical in dict.fromkeys(wanted):
        text = read(logical)
        if text is None:
            continue
        if logical == paths.IPSEC_SECRETS:
            text = redact_ipsec_secrets(text)
        elif logical == paths.PPP_CHAP_SECRETS:
            text = redact_chap_secrets(text)
        else:
            text = redact_settings(text)
        out["config" + str(logical)] = text
    return out


def _cert_members(ctx: Context) -> dict[str, str]:
    dirs = [paths.SWANCTL_X509CA, paths.SWANCTL_X509, paths.IPSEC_CACERTS, paths.IPSEC_CERTS, paths.CA_DIR]
    files = [d / p.name for d in dirs if ctx.root(d).is_dir() for p in sorted(ctx.root(d).iterdir())
             if p.is_file() and p.name != paths.CA_KEY.name]
    files += [paths.CLIENTS_DIR / p.parent.name / p.name
              for p in sorted(ctx.root(paths.CLIENTS_DIR).glob("*/cert.pem"))]
    out: dict[str, str] = {}
    for logical in files:
        try:
            data = ctx.root(logical).read_bytes()
        except OSError:
            continue
        if _PRIVATE_BLOCK.search(data):
            continue  # a key in a certificate directory is never read into the bundle
        certs = load_certs(data)
        if certs:
            body = "\n\n".join("\n".join(certinfo.summary(c)) for c in certs)
            out["certificates" + str(logical) + ".txt"] = f"{logical}\n{body}\n"
    return out


def _log_tail(path: Path | None, lines: int) -> str:
    if path is None or lines <= 0:
        return ""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            # Read from the end in blocks until enough lines are there: a 1 GB log costs the same as a small one.
            block, data = 1 << 16, b""
            while size > 0 and data.count(b"\n") <= lines:
                step = min(block, size)
                size -= step
                handle.seek(size)
                data = handle.read(step) + data
                block *= 2
    except OSError:
        return ""
    tail = deque(data.decode(errors="replace").splitlines(), maxlen=lines)
    return "\n".join(tail) + "\n"


def _system_text(ctx: Context) -> str:
    lines = [f"swan-wizard {__version__}", f"python {platform.python_version()}",
             f"kernel {platform.release()} {platform.machine()}", f"root {ctx.root.path} (live: {ctx.live})",
             f"layout {ctx.installed.layout}", f"generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"]
    if ctx.live:
        import subprocess

        for argv in (["ip", "-brief", "address"], ["ip", "route"], ["nft", "list", "table", "inet", "swan_wizard"],
                     ["iptables", "-S"], ["iptables", "-t", "nat", "-S"], ["swanctl", "--list-conns"],
                     ["swanctl", "--list-sas"], ["swanctl", "--stats"]):
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
                output = (proc.stdout + proc.stderr).strip()
            except (OSError, subprocess.TimeoutExpired) as exc:
                output = str(exc)
            lines += ["", f"$ {shlex.join(argv)}", output]
    return "\n".join(lines) + "\n"


def build_members(ctx: Context, report_json: dict[str, object], report_text: str, log_lines: int) -> dict[str, bytes]:
    members: dict[str, str] = {
        "README.txt": ("Swan Wizard support bundle (swan-wizard doctor --bundle).\n"
                       "findings.json / report.txt: the doctor's findings. config/: configuration files with every "
                       f"secret value replaced by {REDACTED}. certificates/: certificate summaries (no keys). "
                       f"log/charon.log: the last {log_lines} lines of charon's log. system.txt: versions, "
                       "addresses, firewall and charon state.\nNever included: private keys, PKCS#12 files, "
                       "the CA key, generated passwords.\n"),
        "findings.json": json.dumps(report_json, indent=2) + "\n",
        "report.txt": report_text,
        "system.txt": _system_text(ctx),
    }
    members.update(_config_members(ctx))
    members.update(_cert_members(ctx))
    tail = _log_tail(ctx.log_path, log_lines)
    if tail:
        members["log/charon.log"] = redact_log(tail)
    secrets = encodings(known_secrets(ctx))
    out: dict[str, bytes] = {}
    for name, text in members.items():
        data = scrub(text, secrets).encode()
        leaked = [s for s in secrets if s.encode() in data]
        if leaked or _PRIVATE_BLOCK.search(data):
            raise WizardError(f"support bundle not written: {name} would still contain a secret")
        out[name] = data
    return out


def write_bundle(ctx: Context, dest: Path, report_json: dict[str, object], report_text: str,
                 log_lines: int = 2000) -> list[str]:
    """Write the tar.gz (mode 0600, atomically); returns the member names."""
    members = build_members(ctx, report_json, report_text, log_lines)
    prefix = f"swan-wizard-doctor-{time.strftime('%Y%m%dT%H%M%S')}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    _write_private_file(dest, buffer.getvalue())
    return [f"{prefix}/{name}" for name in members]


def _write_private_file(dest: Path, data: bytes) -> None:
    """Write ``dest`` (0600) through a new temporary file renamed over it, without following a link.

    A link at FILE is refused, not followed: a bundle written as root must not truncate the file a
    link points to. The directory is resolved once and the file is created there with O_EXCL.
    """
    dest = Path(os.path.abspath(dest))
    if os.path.islink(dest):
        raise WizardError(f"cannot write the support bundle {dest}: it is a symbolic link (to "
                          f"{os.readlink(dest)}); give the path of a new or regular file")
    folder = dest.parent.resolve()
    temp = folder / f".{dest.name}.tmp{os.getpid()}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
        os.replace(temp, folder / dest.name)  # replaces a link that appeared meanwhile, never follows it
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise WizardError(f"cannot write the support bundle {dest}: {exc.strerror}") from None
