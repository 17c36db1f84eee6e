"""How the steps and the app talk: typed context down, typed results up, a message while the apply runs.

The source checks read screens/ as text (AST), like tests/test_layers.py: a step that reads the app's
attributes, a screen picked by its class name, a second list of step keys or a hard-coded step number
fails here before it drifts.
"""

from __future__ import annotations

import ast
import errno
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from test_tui_screens import FAST, app_at
from test_tui_support import probe_with, run_async, wait_screen, wait_until

import screens.apply
from screens import steps
from screens.app import SwanWizardApp, create_app
from screens.context import StepContext
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.problems import Exit

SCREENS = Path(__file__).resolve().parent.parent / "screens"
SOURCES = sorted(SCREENS.rglob("*.py"))
# What a step may use of the app: Textual's own means to show a screen, post a message, draw text.
APP_METHODS = {"push_screen", "post_message", "console"}


def _is_self_app(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "app"
            and isinstance(node.value, ast.Name) and node.value.id == "self")


def _module(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


@pytest.mark.parametrize("path", [p for p in SOURCES if p.name != "app.py"], ids=lambda p: p.stem)
def test_steps_never_read_the_apps_state(path: Path) -> None:
    read = []
    for node in ast.walk(_module(path)):
        if isinstance(node, ast.Attribute) and _is_self_app(node.value) and node.attr not in APP_METHODS:
            read.append(f"line {node.lineno}: self.app.{node.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                and node.args and _is_self_app(node.args[0])):
            read.append(f"line {node.lineno}: {node.func.id}(self.app, ...)")
    assert not read, f"{path.name} reads the app (give it a StepContext field or post a message): {read}"


# screens/ in layers, like wizard/ (tests/test_layers.py): a module imports only its own layer or lower.
# Step screens share a layer (the clients step lends its secret labels to the users step).
SCREEN_LAYERS = {
    "screens": 0, "screens.steps": 0, "screens.widgets": 0,
    "screens.context": 1, "screens.messages": 1, "screens.help": 1, "screens.dialogs": 1,
    "screens.base": 2, "screens.forms": 3, "screens.app": 5,
}
STEP_LAYER = 4


def _layer(module: str) -> int:
    package = ".".join(module.split(".")[:2])  # screens.widgets.field -> screens.widgets
    return SCREEN_LAYERS.get(module, SCREEN_LAYERS.get(package, STEP_LAYER) if package != module else STEP_LAYER)


def _screens_imports(tree: ast.Module) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "screens":
            # "from screens import steps" imports the module screens.steps; "from screens import ASSETS" the package
            out += [(node.lineno, f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in SCREEN_LAYERS
                     else node.module) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "screens"]
    return out


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_screens_import_only_their_layer_or_lower(path: Path) -> None:
    parts = path.relative_to(SCREENS.parent).with_suffix("").parts
    me = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    upward = [f"line {line}: {name}" for line, name in _screens_imports(_module(path)) if _layer(name) > _layer(me)]
    assert not upward, f"{me} imports a higher layer of screens/ (move the code down): {upward}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_no_screen_is_told_apart_by_its_class_name(path: Path) -> None:
    named = [node.lineno for node in ast.walk(_module(path))
             if isinstance(node, ast.Attribute) and node.attr == "__name__"]
    assert not named, f"{path.name} compares class names (use isinstance or a message): lines {named}"


@pytest.mark.parametrize("path", [p for p in SOURCES if p.name != "steps.py"], ids=lambda p: p.stem)
def test_the_step_keys_are_listed_once(path: Path) -> None:
    keys = set(steps.KEYS)
    for node in ast.walk(_module(path)):
        if isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.Set)):
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            listed = {k.value for k in items if isinstance(k, ast.Constant) and k.value in keys}
            assert len(listed) < 3, f"{path.name}:{node.lineno} lists step keys {sorted(listed)}: use screens.steps"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_no_docstring_numbers_a_step(path: Path) -> None:
    # A step's number depends on the answers (the users step comes and goes): only steps.visible knows it.
    module = _module(path)
    nodes = [module, *(n for n in ast.walk(module) if isinstance(n, (ast.ClassDef, ast.FunctionDef)))]
    for node in nodes:
        doc = ast.get_docstring(node) or ""
        assert not re.search(r"\bstep \d", doc, re.IGNORECASE), f"{path.name}: {doc.splitlines()[0]}"


def test_the_context_has_a_typed_field_for_everything_a_step_needs() -> None:
    # Nothing travels in an untyped bag of extras keyed by strings.
    import dataclasses

    names = {f.name for f in dataclasses.fields(StepContext)}
    assert "extras" not in names and {"services", "reviewed", "steps"} <= names


def test_the_step_bar_counts_the_steps_shown() -> None:
    answers_without_users = app_at(Path("/nonexistent"), "ca", FAST.replace(", ikev2-eap: {users: [{name: alice}]}",
                                                                          "")).session
    assert answers_without_users is not None
    shown = steps.visible(answers_without_users.answers)
    assert "users" not in [s.key for s in shown] and len(shown) == len(steps.STEPS) - 1
    assert all(s.short for s in steps.STEPS)


def test_quit_on_the_welcome_step_leaves_before_any_session_exists(tmp_path: Path) -> None:
    async def go() -> SwanWizardApp:
        app = create_app(tmp_path, probe=probe_with())
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "report", None) is not None, "the checks")
            app.screen.choose("quit")  # type: ignore[attr-defined]
            await wait_until(pilot, lambda: app.return_code is not None, "the app to leave")
        return app

    app = run_async(go())
    assert app.return_code == 0 and app.session is None


def refuse_apply(monkeypatch: pytest.MonkeyPatch, release: threading.Event | None = None) -> None:
    """The apply step's writes fail as on a read-only /etc (after ``release`` is set, when given)."""

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        if release is not None:
            release.wait(60)
        raise PermissionError(errno.EACCES, "Permission denied", "/etc/swanctl/conf.d/swan-wizard.conf")

    monkeypatch.setattr(screens.apply, "apply", refused)


def test_a_hang_up_waits_for_a_failing_apply_and_leaves_with_its_code(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The apply step says when it is over by a message; the app, not the step, decides to leave."""
    release = threading.Event()
    refuse_apply(monkeypatch, release)

    async def go() -> SwanWizardApp:
        app = app_at(tmp_path, "apply")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "ApplyScreen")
            assert app.applying
            await pilot.press("ctrl+q")  # refused while writing
            await pilot.pause()
            assert app.return_code is None
            app.hang_up()
            await pilot.pause(0.2)
            assert app.return_code is None, "left while files were being written"
            release.set()
            await wait_until(pilot, lambda: app.return_code is not None, "the app to leave")
        return app

    app = run_async(go())
    assert app.return_value == int(Exit.FAILED)  # what swan-wizard exits with
    assert not Root.of(tmp_path)(paths.SWANCTL_CONF).exists()


def test_quit_after_a_failed_apply_leaves_with_its_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+Q on the failed apply's screen must not report success to a script that ran the wizard."""
    refuse_apply(monkeypatch)

    async def go() -> SwanWizardApp:
        app = app_at(tmp_path, "apply")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, "ApplyScreen")
            await wait_until(pilot, lambda: getattr(app.screen, "state", None) == "failed", "the apply to fail")
            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: app.return_code is not None, "the app to leave")
        return app

    app = run_async(go())
    assert app.return_value == int(Exit.FAILED)
