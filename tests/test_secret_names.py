"""Each secret has a name of its own: a user called "psk" never gets the group PSK, an upgrade keeps stored
passwords under the new names, and a removed user's password goes with them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wizard import cli
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file, credentials

BASE = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
"""
USER_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9@._+-]{0,20}", fullmatch=True) | st.sampled_from(["psk", "user.x"])
# SWAN_WIZARD_FUZZ_EXAMPLES=100000 runs the property test longer than CI's fixed budget.
EXAMPLES = int(os.environ.get("SWAN_WIZARD_FUZZ_EXAMPLES", "300"))
VARIANTS = st.sampled_from(["eap", "xauth", "l2tp", "transport"])


def apply(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[Root, str]:
    answers = tmp_path / "answers.yaml"
    answers.write_text(BASE + text)
    root = Root.of(tmp_path / "root")
    capsys.readouterr()
    code = cli.main(["apply", str(answers), "--root", str(root.path)])
    _out, err = capsys.readouterr()
    assert code == 0, err
    return root, err


def section_secret(conf: str, section: str) -> str:
    match = re.search(rf"^\s*{re.escape(section)} {{\n(?:[^{{}}]*\n)*?\s*secret = (.*)\n", conf, re.MULTILINE)
    assert match, (section, conf)
    return match[1].strip('"')


def stored(root: Root, name: str) -> str:
    return root(paths.SECRETS_DIR / name).read_text().strip()


def test_xauth_user_named_psk_does_not_get_the_group_psk(tmp_path, capsys):
    root, _ = apply(tmp_path, capsys,
                    "variants:\n  ikev1-xauth:\n    auth: psk\n    users: [{name: psk}, {name: carol}]\n")
    conf = root(paths.SWANCTL_CONF).read_text()
    group, user = section_secret(conf, "ike-xauth-psk"), section_secret(conf, "xauth-psk")
    assert group != user
    assert stored(root, "xauth.psk") == group and stored(root, "xauth.user.psk") == user


def test_l2tp_user_named_psk_does_not_get_the_group_psk(tmp_path, capsys):
    root, _ = apply(tmp_path, capsys, "variants:\n  l2tp:\n    auth: psk\n    users: [{name: psk}]\n")
    conf = root(paths.SWANCTL_CONF).read_text()
    group = section_secret(conf, "ike-l2tp-psk")
    chap = root(paths.PPP_CHAP_SECRETS).read_text()
    user = re.search(r'^"psk" l2tpd "(.*)" \*$', chap, re.MULTILINE)
    assert user and user[1] != group


def _seed_old_install(root: Root) -> None:
    folder = root(paths.SECRETS_DIR)
    folder.mkdir(parents=True, mode=0o700)
    for name, value in {"eap-bob": "old-bob-password", "xauth-carol": "old-carol-password",
                        "xauth-psk": "old-group-psk-shared", "transport-db": "old-db-psk-value"}.items():
        (folder / name).write_text(value + "\n")
        (folder / name).chmod(0o600)


def test_upgrade_keeps_stored_passwords_under_the_new_names(tmp_path, capsys):
    root = Root.of(tmp_path / "root")
    _seed_old_install(root)
    root, err = apply(tmp_path, capsys, """\
variants:
  ikev2-eap: {users: [{name: bob}]}
  ikev1-xauth: {auth: psk, users: [{name: carol}, {name: psk}]}
  transport: {peers: [{name: db, address: 198.18.0.20, auth: psk}]}
""")
    assert stored(root, "eap.user.bob") == "old-bob-password"
    assert stored(root, "xauth.user.carol") == "old-carol-password"
    assert stored(root, "xauth.psk") == "old-group-psk-shared"
    assert stored(root, "transport.peer.db") == "old-db-psk-value"
    # The old file of the group PSK was also "psk"'s: that user gets a new password, and is told so.
    assert stored(root, "xauth.user.psk") not in ("old-group-psk-shared", "")
    assert "'psk' gets a new generated password" in err
    assert sorted(p.name for p in root(paths.SECRETS_DIR).iterdir()) == [
        "eap.user.bob", "transport.peer.db", "xauth.psk", "xauth.user.carol", "xauth.user.psk"]
    # A second apply changes nothing: the move is done.
    _, err = apply(tmp_path, capsys, (tmp_path / "answers.yaml").read_text().removeprefix(BASE))
    assert "gets a new generated password" not in err


def test_removed_user_does_not_get_the_old_password_back(tmp_path, capsys):
    root, _ = apply(tmp_path, capsys, "variants:\n  ikev2-eap: {users: [{name: bob}]}\n")
    answers = str(tmp_path / "answers.yaml")

    def client(*argv: str) -> None:
        capsys.readouterr()
        assert cli.main(["client", *argv, "--answers", answers, "--root", str(root.path)]) == 0, capsys.readouterr()

    client("add", "eve", "--eap")
    first = stored(root, "eap.user.eve")
    client("remove", "eve")
    assert not root(paths.SECRETS_DIR / "eap.user.eve").exists()
    client("add", "eve", "--eap")
    assert stored(root, "eap.user.eve") != first
    assert stored(root, "eap.user.bob")  # the others keep theirs


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(a=st.tuples(VARIANTS, st.none() | USER_NAMES), b=st.tuples(VARIANTS, st.none() | USER_NAMES))
def test_secret_keys_are_one_to_one_and_never_an_old_name(a, b):
    key_a, key_b = credentials.secret_key(*a), credentials.secret_key(*b)
    assert (key_a == key_b) == (a == b)
    assert key_a != credentials.legacy_key(*b)
    assert "/" not in key_a and key_a not in (".", "..")


def _every_ref(model: object, where: str = "") -> list[tuple[str, object]]:
    """The plain walk over every field, which secret_refs must agree with while it skips fields without any."""
    from pydantic import BaseModel

    from wizard.model.answers import SecretRef

    if isinstance(model, SecretRef):
        return [(where, model)]
    if isinstance(model, BaseModel):
        return [ref for name, info in type(model).model_fields.items()
                for ref in _every_ref(getattr(model, name), f"{where}.{info.alias or name}" if where
                                      else (info.alias or name))]
    if isinstance(model, list):
        return [ref for i, item in enumerate(model) for ref in _every_ref(item, f"{where}[{i}]")]
    return []


@pytest.mark.parametrize("name", ["complete.yaml", "all_variants.yaml"])
def test_secret_refs_finds_what_a_walk_over_every_field_finds(name: str) -> None:
    from wizard.model.secrets import secret_refs

    answers = answers_file.load(Path(__file__).parent / "data" / "answers" / "good" / name)
    found = list(secret_refs(answers))
    assert found == _every_ref(answers)
    assert len(found) >= 5


def test_generated_passwords_use_every_character_in_every_place() -> None:
    """Four groups of five from the 31-character alphabet (about 99 bits): over 4,000 draws each place shows
    each character (a skewed draw, or a place stuck to a few characters, would miss some)."""
    from wizard.model.secrets import _ALPHABET, generate_password

    drawn = [generate_password() for _ in range(4000)]
    assert all(re.fullmatch(rf"[{_ALPHABET}]{{5}}(-[{_ALPHABET}]{{5}}){{3}}", p) for p in drawn)
    assert len(set(drawn)) == len(drawn)
    for place in range(23):
        if place % 6 != 5:
            assert {p[place] for p in drawn} == set(_ALPHABET), place
