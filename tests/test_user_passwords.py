"""One generated password per user across the password variants (EAP, XAUTH, L2TP), as rendered into
swanctl.conf (NT hash and XAUTH secret), ipsec.secrets and chap-secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wizard.pki.ntlm import nt_hash

REPO = Path(__file__).resolve().parents[1]

ANSWERS = """version: 1
layout: {layout}
server: {{address: vpn.example.com}}
ca: {{key: rsa-2048}}
host: {{key: rsa-2048}}
clients: [{{name: bob, key: rsa-2048}}]
variants:
  ikev2-eap: {{users: [{{name: bob}}, {{name: carol}}]}}
  ikev1-xauth: {{auth: psk, users: [{{name: bob}}]}}
  l2tp: {{auth: cert, users: [{{name: bob}}, {{name: carol}}]}}
"""


def apply(tmp_path: Path, layout: str, root: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(ANSWERS.format(layout=layout))
    result = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root", str(root)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr


def stored(root: Path, key: str) -> str:
    return (root / "etc/swan-wizard/secrets" / key).read_text().strip()


@pytest.mark.parametrize("layout", ["swanctl", "ipsec"])
def test_a_user_on_three_variants_gets_one_generated_password(layout: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply(tmp_path, layout, root)
    bob = {stored(root, f"{v}.user.bob") for v in ("eap", "xauth", "l2tp")}
    carol = {stored(root, f"{v}.user.carol") for v in ("eap", "l2tp")}
    assert len(bob) == 1 and len(carol) == 1 and bob != carol
    password = bob.pop()
    chap = (root / "etc/ppp/chap-secrets").read_text()
    assert f'"bob" l2tpd "{password}" *' in chap
    conf = (root / ("etc/swanctl/conf.d/swan-wizard.conf" if layout == "swanctl" else "etc/ipsec.secrets")).read_text()
    assert password in conf  # the XAUTH secret
    assert nt_hash(password).hex() in conf.lower()  # the EAP user's NT hash of the same password


def test_a_new_variant_of_a_user_takes_the_password_stored_for_another(tmp_path: Path) -> None:
    """An existing user added to more variants keeps the one password their devices already know."""
    root = tmp_path / "root"
    secrets = root / "etc/swan-wizard/secrets"
    secrets.mkdir(parents=True, mode=0o700)
    (secrets / "l2tp.user.bob").write_text("stored-l2tp-pass-for-bob\n")
    (secrets / "l2tp.user.bob").chmod(0o600)
    apply(tmp_path, "swanctl", root)
    assert {stored(root, f"{v}.user.bob") for v in ("eap", "xauth", "l2tp")} == {"stored-l2tp-pass-for-bob"}


def test_a_weak_given_password_is_one_warning_line_without_the_password(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\n"
                       "host: {key: ecdsa-p256}\nvariants:\n  ikev2-eap: {users: [{name: bob, password: {env: PW}},"
                       " {name: carol, password: {env: STRONG}}]}\n")
    env = {"PATH": "/usr/bin:/bin", "PW": "s3cret", "STRONG": "tundra-viaduct-17-marzipan"}
    result = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root", str(tmp_path / "r")],
                            capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    weak = [line for line in result.stderr.splitlines() if "weak password" in line]
    assert weak == [weak[0]] and weak[0].startswith(
        "swan-wizard: warning: variants.ikev2-eap.users[0].password: weak password (strength 0 of 4): "), weak
    assert "similar to a commonly used password" in weak[0]
    assert "s3cret" not in result.stderr + result.stdout


def test_own_password_gives_a_variant_a_generated_password_of_its_own(tmp_path: Path) -> None:
    root = tmp_path / "root"
    answers = tmp_path / "answers.yaml"
    answers.write_text(ANSWERS.format(layout="swanctl").replace(
        "l2tp: {auth: cert, users: [{name: bob}, {name: carol}]}",
        "l2tp: {auth: cert, users: [{name: bob, own_password: true}, {name: carol}]}"))
    result = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(answers), "--root", str(root)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert stored(root, "eap.user.bob") == stored(root, "xauth.user.bob") != stored(root, "l2tp.user.bob")
    assert stored(root, "eap.user.carol") == stored(root, "l2tp.user.carol")


def test_a_long_password_is_rated_by_its_first_characters() -> None:
    from wizard.model.strength import weakness

    assert weakness("a" * 200) is not None  # repeated: weak, however long (zxcvbn itself refuses > 72)
    assert weakness("tundra-viaduct-17-marzipan" * 8) is None


def test_a_plan_rates_a_bounded_number_of_given_passwords(tmp_path: Path, monkeypatch) -> None:
    """Thousands of given passwords would cost seconds per plan: the first ones are rated, the rest counted."""
    from wizard.fs.paths import Root
    from wizard.model import answers_file
    from wizard.model.secrets import SecretSource
    from wizard.plan import planner

    monkeypatch.setattr(planner, "MAX_RATED_SECRETS", 2)
    users = ", ".join(f"{{name: u{i}, password: {{env: PW}}}}" for i in range(5))
    answers = answers_file.parse("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\n"
                                 f"host: {{key: ecdsa-p256}}\nvariants:\n  ikev2-eap: {{users: [{users}]}}\n")
    root = Root.of(tmp_path)
    source = SecretSource(environ={"PW": "s3cret"})
    warnings = planner.build_plan(answers, root, source).warnings
    assert [f for f, m in warnings if "weak password" in m] == [f"variants.ikev2-eap.users[{i}].password"
                                                                for i in range(2)]
    assert ("secrets", "3 more passwords given in the answers were not rated for strength (plan --verify rates "
                       "them all)") in warnings
    rated_all = planner.build_plan(answers, root, source, verify=True).warnings
    assert len([m for _, m in rated_all if "weak password" in m]) == 5
