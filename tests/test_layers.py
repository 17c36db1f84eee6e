"""The layer contract: every module of wizard/ imports only from its own layer or the layers below it, and
never Textual or screens/ (only the entry points may start the UI). Read from the source (AST), so lazy
imports inside functions and imports under ``TYPE_CHECKING`` count as much as those at the top of a file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Highest first. A module may import its own layer and any layer after it in this list.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry points", ("wizard.cli", "wizard.clidocs", "wizard.crash")),
    ("plan and apply", ("wizard.plan",)),
    ("checks", ("wizard.checks",)),
    ("rendering", ("wizard.render",)),
    ("this server's certificates", ("wizard.certs",)),
    ("answers model", ("wizard.model",)),
    ("PKI", ("wizard.pki",)),
    ("running system", ("wizard.system",)),
    ("files under the root", ("wizard.fs",)),
    ("problems and findings", ("wizard.problems", "wizard.findings")),
    ("package", ("wizard",)),
]
UI_ONLY = ("textual", "rich", "screens")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the most specific prefix that holds ``module``."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            holds = module == prefix or module.startswith(prefix + ".")
            if holds and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, with its line: top-level, lazy and TYPE_CHECKING imports alike."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((node.lineno, base))
            # `from wizard.model import answers` imports wizard.model.answers: judge the module itself
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names
                    if (REPO / Path(*f"{base}.{alias.name}".split("."))).with_suffix(".py").exists()
                    or (REPO / Path(*f"{base}.{alias.name}".split(".")) / "__init__.py").exists()]
    return out


WIZARD_MODULES = sorted((REPO / "wizard").rglob("*.py"))


def test_every_module_has_a_layer():
    assert [module_name(p) for p in WIZARD_MODULES if layer_of(module_name(p)) is None] == []


@pytest.mark.parametrize("path", WIZARD_MODULES, ids=lambda p: module_name(p))
def test_module_imports_only_its_layer_and_below(path: Path):
    module = module_name(path)
    own = layer_of(module)
    assert own is not None
    bad = []
    for line, target in imports_of(path):
        top = target.split(".")[0]
        if top in UI_ONLY and own != 0:
            bad.append(f"{path.relative_to(REPO)}:{line} imports {target}: the core never imports the UI")
        elif top == "wizard" and target != "wizard":
            theirs = layer_of(target)
            if theirs is not None and theirs < own:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {target} ({LAYERS[theirs][0]}), "
                           f"a layer above {module} ({LAYERS[own][0]})")
    assert bad == []


def test_the_contract_can_fail(tmp_path: Path):
    """The reader sees a lazy import inside a function: the contract is not vacuous."""
    sample = REPO / "wizard" / "fs" / "paths.py"
    found = {target for _, target in imports_of(sample)}
    assert "wizard.fs.safefs" in found
    tree = ast.parse("def f():\n    from wizard.plan import apply\n")
    assert any(isinstance(n, ast.ImportFrom) and n.module == "wizard.plan" for n in ast.walk(tree))
    assert layer_of("wizard.plan.apply") is not None and layer_of("wizard.plan.apply") < layer_of("wizard.fs.paths")


def readme_layout() -> dict[str, set[str]]:
    """The README's layout section: each `wizard/<package>/` line and the modules it names in backticks."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Layout of the code", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"- `wizard/(\w+)/`: (.*)", line)
        if m:
            out[m[1]] = {name.rstrip("/") for name in re.findall(r"`([\w./]+)`", m[2])}
    return out


def test_readme_layout_names_every_package_and_module():
    layout = readme_layout()
    packages = {p.parent.name for p in (REPO / "wizard").glob("*/__init__.py")}
    assert set(layout) == packages
    for package, named in layout.items():
        here = {p.stem if p.suffix == ".py" else p.name for p in (REPO / "wizard" / package).iterdir()
                if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
        assert named == here, f"README names {sorted(named - here)} not in wizard/{package}/, " \
                              f"misses {sorted(here - named)}"
