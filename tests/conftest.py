from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, settings

from wizard.fs import paths, safefs
from wizard.fs.changes import Plan
from wizard.fs.paths import Root
from wizard.model import answers_file
from wizard.model.answers import Answers
from wizard.model.secrets import SecretSource
from wizard.plan.planner import build_plan

# Property and fuzz tests (test_injection_props.py) run a fixed, derandomized budget by default so CI stays
# quick and repeatable; SWAN_WIZARD_FUZZ_EXAMPLES=N runs N examples per test with fresh random seeds
# (pytest --hypothesis-seed=S repeats one run).
FUZZ_EXAMPLES = int(os.environ.get("SWAN_WIZARD_FUZZ_EXAMPLES") or 0)
settings.register_profile("swan-wizard", max_examples=FUZZ_EXAMPLES or 100, deadline=None,
                          derandomize=not FUZZ_EXAMPLES, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.load_profile("swan-wizard")

# The smallest complete server: what the release tests apply from an installed wheel or package.
ONE_CLIENT_ANSWERS = """\
version: 1
server: {address: vpn.example.com}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients: [{name: alice@example.com, key: ecdsa-p256}]
"""

# Fast key types keep the engine tests quick; RSA sizes are covered by the PKI tests.
FAST_ANSWERS = """
version: 1
server: {address: vpn.example.com, alt_names: [203.0.113.10]}
ca: {key: ecdsa-p256}
host: {key: ecdsa-p256}
clients:
  - {name: alice@example.com, key: ecdsa-p256}
  - {name: bob, key: ed25519, p12_password: {env: BOB_P12}}
"""


@pytest.fixture
def make_answers() -> Callable[..., Answers]:
    def make(text: str = FAST_ANSWERS) -> Answers:
        return answers_file.parse(textwrap.dedent(text))

    return make


@pytest.fixture
def source(tmp_path: Path) -> SecretSource:
    return SecretSource(base_dir=tmp_path, environ={"BOB_P12": "bob-p12-password"})


@pytest.fixture
def plan_for(source: SecretSource) -> Callable[[Answers, Root], Plan]:
    def make(answers: Answers, root: Root) -> Plan:
        return build_plan(answers, root, source)

    return make


@pytest.fixture(autouse=True)
def _fake_host_route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI tests' host has test_tui_support.fake_netfacts' default route (eth0 via 192.0.2.1), also where
    a staged plan reads the host's route for the WAN interface: screens and snapshots never depend on the
    machine that runs them."""
    if request.module.__name__.startswith("test_tui_"):
        from wizard.system import netfacts

        monkeypatch.setattr(netfacts, "default_route", lambda: ("eth0", "192.0.2.1"), raising=False)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every client folder a plan reads a file from, through Root.read_bytes or the comparison with the disk."""
    seen: list[str] = []
    base = f"{paths.CLIENTS_DIR}/"

    def note(logical: PurePosixPath | str) -> None:
        if str(logical).startswith(base):
            seen.append(str(logical)[len(base):].partition("/")[0])

    real_read = Root.read_bytes

    def read_bytes(self: Root, logical: PurePosixPath | str, limit: int | None = None) -> bytes | None:
        note(logical)
        return real_read(self, logical, limit)

    real_tree_read = safefs.Tree.read

    def tree_read(self: safefs.Tree, logical: PurePosixPath) -> safefs.Found | None:
        note(logical)
        return real_tree_read(self, logical)

    monkeypatch.setattr(Root, "read_bytes", read_bytes)
    monkeypatch.setattr(safefs.Tree, "read", tree_read)
    return seen


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The children ``wizard.system.halves`` forks (their pids), counted."""
    from wizard.system import halves

    made: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(halves.os, "fork", fork)
    return made
