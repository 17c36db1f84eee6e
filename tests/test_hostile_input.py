"""Hostile input gets one line naming the file or field, exit 2 (1 for I/O), nothing written, no traceback."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from wizard import cli
from wizard.model.answers import SecretRef
from wizard.model.secrets import SecretSource
from wizard.problems import Exit, InvalidAnswers

REPO = Path(__file__).resolve().parents[1]
GOOD = "version: 1\nserver: {address: vpn.example.com}\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, name: str) -> None:
    lines = [line for line in err.splitlines() if "warning" not in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("swan-wizard: error: ") and name in lines[0], err
    assert "Traceback" not in err


# --- the answers file --------------------------------------------------------------------------------

ANSWERS_CASES = {
    "random-bytes": bytes(range(128, 256)) * 8,
    "utf-16": codecs.BOM_UTF16_LE + GOOD.encode("utf-16-le"),
    "utf-16-no-bom": GOOD.encode("utf-16-le"),
    "brackets": b"[" * 100_000,
    "nested-mappings": b"version: 1\nserver: " + b"{a: " * 3000 + b"1" + b"}" * 3000 + b"\n",
    "nested-block": b"version: 1\n" + b"".join(b" " * i + b"a:\n" for i in range(200)) + b" " * 200 + b"b\n",
}


@pytest.mark.parametrize("name", sorted(ANSWERS_CASES))
def test_bad_answers_file_is_one_line_and_exit_2(tmp_path, capsys, name):
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(ANSWERS_CASES[name])
    root = tmp_path / "root"
    code, _out, err = run(capsys, "apply", str(path), "--root", str(root))
    assert code == Exit.INVALID
    one_error_line(err, str(path))
    assert not root.exists()


def test_answers_file_that_is_a_device_or_fifo_is_refused(tmp_path, capsys):
    fifo = tmp_path / "answers.fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        code, _, err = run(capsys, "validate", path)
        assert code == Exit.INVALID
        one_error_line(err, path)
        assert "not a regular file" in err


def test_deep_nesting_in_a_subprocess_has_no_traceback(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_bytes(ANSWERS_CASES["brackets"])
    done = subprocess.run([sys.executable, "-m", "wizard.cli", "validate", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == Exit.INVALID
    assert "Traceback" not in done.stderr and "nested" in done.stderr


# --- {file:} secrets -------------------------------------------------------------------------------

def resolve_file(tmp_path: Path, target: str | Path) -> bytes | None:
    return SecretSource(base_dir=tmp_path, environ={}).resolve(SecretRef(file=str(target)), "ca.passphrase")


def test_secret_file_that_is_a_device_is_refused_without_reading_it(tmp_path):
    # /dev/zero used to be read until the kernel killed the process.
    with pytest.raises(InvalidAnswers, match="character device"):
        resolve_file(tmp_path, "/dev/zero")


def test_secret_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "secret.fifo"
    os.mkfifo(fifo)
    result: list[BaseException | bytes | None] = []

    def resolve() -> None:
        try:
            result.append(resolve_file(tmp_path, fifo))
        except InvalidAnswers as exc:
            result.append(exc)

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the old code's open() so the test process can end
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO secret blocked")
    assert isinstance(result[0], InvalidAnswers) and "FIFO" in str(result[0])


def test_secret_file_over_the_limit_is_refused_unread(tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.write(b"first-line\n")
        f.truncate(300 * 1024 * 1024)  # sparse: 300 MB that cost no disk
    with pytest.raises(InvalidAnswers, match="more than the 65536"):
        resolve_file(tmp_path, big)


@pytest.mark.parametrize("content, says", [
    (b"\xff\xfe\x00binary\x89PNG", "not UTF-8"),
    (b"pass\x00word\n", "control character"),
    (b"pass\x1b[2Jword\n", "control character"),
])
def test_binary_or_control_character_secret_is_refused(tmp_path, content, says):
    (tmp_path / "s").write_bytes(content)
    with pytest.raises(InvalidAnswers, match=says) as info:
        resolve_file(tmp_path, "s")
    assert info.value.problems[0].field == "ca.passphrase"


def test_env_secret_with_control_character_or_bad_bytes_is_refused(tmp_path):
    source = SecretSource(base_dir=tmp_path, environ={"A": "x\x00y", "B": "x\udcffy"})
    with pytest.raises(InvalidAnswers, match="control character"):
        source.resolve(SecretRef(env="A"), "f")
    with pytest.raises(InvalidAnswers, match="not UTF-8"):
        source.resolve(SecretRef(env="B"), "f")


def test_binary_secret_file_through_apply_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "pass.bin").write_bytes(os.urandom(64) + b"\xff")
    answers = tmp_path / "answers.yaml"
    answers.write_text(GOOD + "ca: {passphrase: {file: pass.bin}}\n")
    root = tmp_path / "root"
    code, _, err = run(capsys, "apply", str(answers), "--root", str(root))
    assert code == Exit.INVALID
    one_error_line(err, "ca.passphrase")
    assert not any(p.is_file() for p in root.rglob("*")) if root.exists() else True


def test_good_secret_file_still_reads_its_first_line(tmp_path):
    (tmp_path / "s").write_text("s3cret-pässword\r\nsecond line\n")
    assert resolve_file(tmp_path, "s") == "s3cret-pässword".encode()


# --- I/O failures and the last guard ---------------------------------------------------------------

FAST = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
variants:
  ikev2-eap:
    users: [{name: bob}]
"""


def _in_tmpfs(tmp_path: Path, options: str, answers: Path) -> subprocess.CompletedProcess[str]:
    """``apply --root`` onto a small tmpfs of its own, in a private mount namespace."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (f"mount -t tmpfs -o {options} tmpfs {mnt} || exit 99; "
              f"exec {sys.executable} -m wizard.cli apply {answers} --root {mnt}")
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    if done.returncode == 99:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    return done


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a tmpfs in a mount namespace")
@pytest.mark.parametrize("options, says", [("ro,size=1m", "Read-only file system"),
                                           ("size=12k", "No space left on device")])
def test_read_only_or_full_root_is_one_line_exit_1(tmp_path, options, says):
    answers = tmp_path / "answers.yaml"
    answers.write_text(FAST)
    done = _in_tmpfs(tmp_path, options, answers)
    assert done.returncode == Exit.FAILED, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("swan-wizard: error: ")]
    assert len(errors) == 1 and says in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    if "No space" in says:
        assert "the files this step writes take" in errors[0]  # how much room was needed


def test_export_out_onto_a_file_is_refused_before_anything_is_written(tmp_path, capsys):
    answers = tmp_path / "answers.yaml"
    answers.write_text(FAST)
    root = tmp_path / "root"
    assert run(capsys, "apply", str(answers), "--root", str(root))[0] == 0
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0:root:/root:/bin/bash\n")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    code, _, err = run(capsys, "client", "export", "bob", "--out", str(victim), "--answers", str(answers),
                       "--root", str(root))
    assert code == Exit.INVALID
    one_error_line(err, "--out")
    assert victim.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_unexpected_exception_is_one_line_a_0600_report_and_exit_70(tmp_path, capsys, monkeypatch):
    from wizard.model import answers_file, secrets

    secret = "hunter2-correct-horse"
    secrets.remember(secret.encode())

    def boom(path):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"something broke near {secret}")

    monkeypatch.setattr(answers_file, "load", boom)
    root = tmp_path / "root"
    code, out, err = run(capsys, "--root", str(root), "validate", "x.yaml", "--root", str(root))
    assert code == 70
    assert out == "" and "Traceback" not in err and secret not in err
    assert len(err.splitlines()) == 1 and err.startswith("swan-wizard: internal error: RuntimeError; report in ")
    report = Path(err.strip().rsplit("report in ", 1)[1])
    assert report.parent == root / "var/lib/swan-wizard/crash"
    assert report.stat().st_mode & 0o777 == 0o600
    text = report.read_text()
    assert "RuntimeError" in text and "Traceback" in text and secret not in text and "<redacted>" in text


def test_crash_report_redacts_secret_looking_arguments():
    from wizard.crash import redact_argv

    assert redact_argv(["client", "--psk", "abc", "--password=xyz", "--out", "d"]) == \
        ["client", "--psk", "<redacted>", "--password=<redacted>", "--out", "d"]


UI_CRASH = """
import sys
import screens.app as app
from wizard import cli

def boom(root):
    raise RuntimeError("preflight exploded")

app._preflight = boom  # the welcome step's worker runs it: an unhandled exception in the UI
real_run = app.SwanWizardApp.run
app.SwanWizardApp.run = lambda self, **kw: real_run(self, headless=True, size=(100, 40), **kw)
sys.exit(cli.main(["--root", sys.argv[1]]))
"""


def test_ui_crash_exits_70_with_one_line_and_a_report(tmp_path):
    root = tmp_path / "root"
    done = subprocess.run([sys.executable, "-c", UI_CRASH, str(root)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 70, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("swan-wizard: internal error: RuntimeError; report in "), done.stderr
    report = Path(lines[-1].rsplit("report in ", 1)[1])
    assert report.is_file() and "preflight exploded" in report.read_text()
