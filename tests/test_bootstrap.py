"""README command 1 runs packaging/bootstrap runtime before the wizard: it must succeed where everything is in place."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_runtime_bootstrap_succeeds_on_a_prepared_machine():
    # The test bootstrap (run-tests) installed a superset of the runtime packages and made the venv, so this
    # touches nothing; it once exited 1 here because a false `[ test ] &&` ended its package step.
    result = subprocess.run([str(REPO / "packaging" / "bootstrap"), "runtime"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr


def test_the_wizard_command_of_the_readme_starts():
    result = subprocess.run([str(REPO / "swan-wizard"), "--version"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "swan-wizard" in result.stdout.lower(), result.stderr
