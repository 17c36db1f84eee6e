"""What the admin is told after an apply: the files really written, where they are, how to fetch them."""

from __future__ import annotations

import shlex
from pathlib import Path

from test_ledger import ANSWERS, plan_and_apply

from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.plan.handout import client_files, exit_summary, next_steps


def applied(tmp_path: Path, text: str = ANSWERS) -> tuple[Root, object]:
    _, root = plan_and_apply(tmp_path, text)
    return root, answers_file.load(tmp_path / "answers.yaml")


def test_each_client_gets_its_files_in_hand_out_order_and_nothing_secret_but_the_bundle(tmp_path: Path):
    root, answers = applied(tmp_path)
    found = client_files(answers, root)  # type: ignore[arg-type]
    assert [c.name for c in found] == ["alice@example.com", "bob@example.com"]
    names = [f for f, _ in found[0].files]
    assert names[:2] == ["alice@example.com.mobileconfig", "alice@example.com.ps1"]
    assert "key.pem" not in names and "cert.pem" not in names and names[-2:] == ["README.txt", "p12-password"]
    assert found[0].folder == root(paths.client_dir("alice@example.com"))


def test_a_file_that_is_not_there_is_not_promised(tmp_path: Path):
    root, answers = applied(tmp_path)
    root(paths.client_dir("bob@example.com") / "bob@example.com.ps1").unlink()
    bob = client_files(answers, root)[1]  # type: ignore[arg-type]
    assert "bob@example.com.ps1" not in [f for f, _ in bob.files]


def test_the_fetch_command_is_one_shell_word_for_the_real_system(tmp_path: Path):
    root, answers = applied(tmp_path)
    alice = client_files(answers, root)[0]  # type: ignore[arg-type]
    command = alice.fetch("vpn.example.com")
    assert shlex.split(command) == ["scp", "-r", "root@vpn.example.com:/etc/swan-wizard/clients/alice@example.com",
                                    "."]
    assert shlex.split(alice.fetch("a b;rm -rf /"))[2].startswith("root@a b;rm")


def test_next_steps_name_the_root_in_every_command_and_fit_80_columns(tmp_path: Path):
    root, answers = applied(tmp_path)
    lines = next_steps(answers, root)  # type: ignore[arg-type]
    commands = [line for line in lines if "swan-wizard " in line]
    assert commands and all(f"--root {root.path}" in line for line in commands)
    # The listing does not wrap at 80 columns (prose does, at word boundaries; paths under --root may not fit).
    assert all(len(line) <= 80 for line in lines if line.startswith("  ") and str(root.path) not in line)


def test_a_long_list_is_cut_with_a_count(tmp_path: Path):
    root, answers = applied(tmp_path)
    lines = next_steps(answers, root, limit=1)  # type: ignore[arg-type]
    assert not any(line.startswith("bob@example.com") for line in lines)
    assert any("1 more under" in line for line in lines)


def test_the_exit_summary_says_what_happened(tmp_path: Path):
    root, answers = applied(tmp_path)
    done = exit_summary(answers, root, applied=True, session_file=None)  # type: ignore[arg-type]
    assert done[0].startswith("Swan Wizard applied") and any("scp -r" in line for line in done)
    session = tmp_path / "session.yaml"
    early = exit_summary(None, Root.of(tmp_path / "empty"), applied=False, session_file=session)
    assert early[0].startswith("Swan Wizard: nothing was applied") and str(session) in early[2]
    assert exit_summary(None, Root.of(tmp_path / "empty"), applied=False, session_file=None) == [early[0]]


PEERS = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients: []
variants:
  transport:
    peers:
      - {name: backup, address: 198.51.100.20}
      - {name: office, address: 198.51.100.7, auth: psk, psk: {generate: true}}
"""


def test_a_transport_peer_is_told_where_its_key_and_certificate_are(tmp_path: Path):
    """A certificate peer's key, certificate and CA are written for the peer's own strongSwan: the last step and
    the exit summary say where, and how to fetch them (a PSK peer has no files; no client folder, no README)."""
    root, answers = applied(tmp_path, PEERS)
    folder = root(paths.PEERS_DIR / "backup")
    assert sorted(p.name for p in folder.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    shown = next_steps(answers, root)  # type: ignore[arg-type]
    for lines in (shown, exit_summary(answers, root, applied=True, session_file=None)):  # type: ignore[arg-type]
        text = "\n".join(lines)
        assert f"backup (198.51.100.20), in {folder}:" in text, text
        assert "scp -r root@vpn.example.com:/etc/swan-wizard/peers/backup ." in text, text
        assert "office" not in text and "README.txt" not in text, text
