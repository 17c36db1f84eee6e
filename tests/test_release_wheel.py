"""The released wheel works on its own: built with ``python -m build`` from a copy of the tree, installed
into a fresh venv far from the clone, its UI reaches the first screen in tmux and ``apply --root`` writes
a configuration. This is what ``pip install .`` and ``pipx install .`` give a user.

Slow (a wheel build and a dependency install, ~1 min); needs network access to the Python package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ONE_CLIENT_ANSWERS

REPO = Path(__file__).resolve().parents[1]
NOT_SHIPPED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                                     "tests", "bench")


def _need(program: str) -> None:
    if shutil.which(program) is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{program} is not installed (CI=true: refusing to skip)")
        pytest.skip(f"{program} is not installed")


def _run(argv: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the wheel, the venv's bin directory) of a fresh build and install."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(REPO, src, ignore=NOT_SHIPPED)
    built = _run([sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", src], cwd=work)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel = next((work / "dist").glob("swan_wizard-*.whl"))
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", venv], cwd=work)
    assert made.returncode == 0, made.stderr
    pip = _run([venv / "bin/python", "-m", "pip", "install", "-q", wheel], cwd=work)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    shutil.rmtree(src)  # nothing may come from the source tree any more
    yield wheel, venv / "bin"


def test_wheel_ships_the_stylesheet_and_every_help_page(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"screens/assets/{p.relative_to(REPO / 'screens/assets')}"
              for p in (REPO / "screens/assets").rglob("*") if p.is_file()}
    assert "screens/assets/app.tcss" in wanted
    assert wanted <= names, sorted(wanted - names)
    assert "wizard/model/answers.schema.json" in names
    assert not any(n.startswith(("assets/", "tests/")) for n in names), "no top-level data directories"


def test_wheel_version_and_apply_root(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = installed
    version = _run([bin_dir / "swan-wizard", "--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("swan-wizard "), version
    (tmp_path / "answers.yaml").write_text(ONE_CLIENT_ANSWERS)
    root = tmp_path / "root"
    applied = _run([bin_dir / "swan-wizard", "apply", "answers.yaml", "--root", root], cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    assert (root / "etc/swanctl/conf.d/swan-wizard.conf").is_file()
    assert list((root / "etc/swanctl/x509ca").glob("*.pem"))


def test_wheel_ui_reaches_its_first_screen_in_tmux(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _need("tmux")
    _, bin_dir = installed
    socket = f"swan-wizard-wheel-{uuid.uuid4().hex[:8]}"

    def tmux(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30)

    command = f"env NO_COLOR=1 TERM=xterm-256color {bin_dir / 'swan-wizard'} --root {tmp_path / 'root'}"
    try:
        started = tmux("new-session", "-d", "-s", "w", "-x", "80", "-y", "24", "-c", str(tmp_path), command)
        assert started.returncode == 0, started.stderr
        tmux("set-option", "-t", "w", "remain-on-exit", "on")
        deadline = time.monotonic() + 60
        screen = ""
        while "How do you want to begin?" not in screen:
            assert time.monotonic() < deadline, f"the first screen did not appear; the pane shows:\n{screen}"
            assert "Traceback" not in screen and "Error" not in screen, screen
            time.sleep(0.2)
            screen = tmux("capture-pane", "-p", "-J", "-t", "w").stdout
    finally:
        tmux("kill-server")  # only this test's server, by its own socket
