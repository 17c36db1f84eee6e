"""Helpers shared by the doctor's tests (this module holds no tests).

Roots are made the way `swan-wizard apply --root` makes them, in-process, with fast keys (ECDSA CA and
clients; the host RSA-2048 where the Apple rule needs RSA).
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from wizard.checks.doctor import Report, run
from wizard.checks.doctor.findings import DoctorFinding
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.secrets import SecretSource
from wizard.pki import encode, issue, keys, names
from wizard.plan.apply import apply
from wizard.plan.planner import build_plan

ENV = {"P12": "alice-p12-password", "CA_PASS": "ca-passphrase-123"}

BASE = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: rsa-2048}
clients: [{name: alice@example.com, key: ecdsa-p256, p12_password: {env: P12}}]
pool: {addresses: 10.10.10.0/24}
"""


def write_answers(directory: Path, text: str = BASE, name: str = "answers.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def apply_root(root: Path, answers: Path, now: datetime | None = None) -> Path:
    """`swan-wizard apply ANSWERS --root ROOT` in-process (the same plan and apply code)."""
    parsed = answers_file.load(answers)
    plan = build_plan(parsed, Root.of(root), SecretSource(base_dir=answers.parent, environ=ENV, root=Root.of(root)),
                      now=now)
    apply(plan, Root.of(root), run_commands=False, report=lambda _line: None)
    return root


def doctor(root: Path, answers: Path | None = None, **kwargs: object) -> Report:
    kwargs.setdefault("daemon_check", False)
    return run(root, str(answers) if answers else None, **kwargs)  # type: ignore[arg-type]


def codes(report: Report, area: str | None = None, problems_only: bool = True) -> set[str]:
    return {f.code for f in report.findings if (area is None or f.area == area)
            and (f.is_problem or not problems_only)}


def one(report: Report, code: str) -> DoctorFinding:
    found = report.by_code(code)
    assert len(found) == 1, [f"{f.code}: {f.message}" for f in report.findings]
    return found[0]


def load_ca(root: Path) -> tuple[keys.PrivateKey, x509.Certificate]:
    return (encode.load_key_pem((root / "etc/swan-wizard/ca/ca.key").read_bytes()),
            encode.load_cert_pem((root / "etc/swan-wizard/ca/ca.pem").read_bytes()))


def host_key(root: Path) -> keys.PrivateKey:
    return encode.load_key_pem((root / "etc/swanctl/private/vpn-host.key").read_bytes())


def custom_host_cert(root: Path, sans: list[x509.GeneralName], ekus: list[x509.ObjectIdentifier] | None = None,
                     days: int = 30) -> None:
    """Replace the host certificate with one from the same CA and key but other names or usages."""
    ca_key, ca = load_ca(root)
    key = host_key(root)
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(names.parse_dn("C=CH, O=strongSwan, CN=vpn.example.com"))
               .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=days))
               .add_extension(x509.SubjectAlternativeName(sans), critical=False))
    ekus = [ExtendedKeyUsageOID.SERVER_AUTH, issue.IKE_INTERMEDIATE] if ekus is None else ekus
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    (root / "etc/swanctl/x509/vpn-host.pem").write_bytes(encode.cert_to_pem(cert))
