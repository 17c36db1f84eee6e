"""An apply of many clients prints what a terminal can show: the first client-folder lines and password
handouts, then one line each saying how many more; every file is still written and still in the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard import cli
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.plan import shortlist


def test_lines_past_the_limit_are_counted_in_order() -> None:
    out: list[str] = []
    lines = shortlist.FileLines(out.append, shown=3)
    for i in range(10):
        lines(f"create {paths.CLIENTS_DIR}/c{i}/key.pem (0600)")
        if i == 5:
            lines("update /etc/swanctl/conf.d/swan-wizard.conf (0644)")
    lines.close()
    assert out == [*(f"create {paths.CLIENTS_DIR}/c{i}/key.pem (0600)" for i in range(3)),
                   "update /etc/swanctl/conf.d/swan-wizard.conf (0644)",
                   f"... and 7 more files in client folders under {paths.CLIENTS_DIR} (`swan-wizard plan` lists "
                   "every file)"]


def test_few_lines_are_all_printed_and_nothing_summed_up() -> None:
    out: list[str] = []
    lines = shortlist.FileLines(out.append, shown=3)
    for i in range(3):
        lines(f"create {paths.CLIENTS_DIR}/c{i}/key.pem (0600)")
    lines.close()
    assert len(out) == 3
    handouts = ["generated secret for psk is in /x", *(f"PKCS#12 password for c{i} is in /y" for i in range(3))]
    assert shortlist.handouts(handouts, shown=3) == handouts


def test_an_apply_of_many_clients_prints_a_screenful(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(shortlist, "SHOWN", 5)
    answers = tmp_path / "answers.yaml"
    answers.write_text("version: 1\nserver: {address: vpn.example.com}\nca: {key: ecdsa-p256}\n"
                       "host: {key: ecdsa-p256}\nclients:\n"
                       + "".join(f"  - {{name: user{i}, key: ecdsa-p256}}\n" for i in range(30)))
    root = Root.of(tmp_path / "root")
    assert cli.main(["apply", str(answers), "--root", str(root.path)]) == 0
    out = capsys.readouterr().out.splitlines()
    in_clients = [line for line in out if line.startswith("create ") and f" {paths.CLIENTS_DIR}/" in line]
    assert len(in_clients) == 5
    written = sum(1 for p in root(paths.CLIENTS_DIR).rglob("*") if p.is_file())
    assert f"... and {written - 5:,} more files in client folders under {paths.CLIENTS_DIR}" in "\n".join(out)
    assert sum(line.startswith("PKCS#12 password for ") for line in out) == 5
    assert any(line.startswith("... and 25 more clients: each one's PKCS#12 password") for line in out)
    assert any(line.startswith("create ") and "/etc/swanctl/" in line for line in out)  # server files: each one
