"""Helpers for tests that run real daemons on what `swan-wizard apply --root` wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def apply_cli(tmp_path: Path, answers_text: str, name: str = "root") -> tuple[Path, Path]:
    """Write the answers file and apply it with the real CLI into tmp_path/name; (answers file, root)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    answers = tmp_path / f"{name}-answers.yaml"
    answers.write_text(answers_text)
    root = tmp_path / name
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root", str(root)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return answers, root


def p12_client_files(root: Path, client: str, server: str) -> dict[str, bytes | str]:
    """A swanctl client holding only what the user was handed: the PKCS#12 bundle, its password, the CA."""
    folder = root / "etc/swan-wizard/clients" / client
    password = (folder / "p12-password").read_text().strip()
    conf = f"""\
connections {{
    home {{
        version = 2
        remote_addrs = {server}
        vips = 0.0.0.0
        local {{
            auth = pubkey
            id = {client}
        }}
        remote {{
            auth = pubkey
            id = {server}
        }}
        children {{
            home {{
                remote_ts = 0.0.0.0/0
            }}
        }}
    }}
}}
secrets {{
    pkcs12-home {{
        file = home.p12
        secret = "{password}"
    }}
}}
"""
    return {"/etc/swanctl/swanctl.conf": conf,
            "/etc/swanctl/pkcs12/home.p12": (folder / f"{client}.p12").read_bytes(),
            # The CA inside the bundle is not a trust anchor by itself: users install it, as here.
            "/etc/swanctl/x509ca/ca.pem": (folder / "ca.pem").read_bytes()}


LOCK = Path("var/lib/swan-wizard/apply.lock")


def files_written(root: Path) -> list[Path]:
    """Every file under a root, relative to it, but the lock: a refused run takes the lock before it
    plans (so that no other run can change what it reads), and leaves that file alone, empty of secrets."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.relative_to(root) != LOCK)
