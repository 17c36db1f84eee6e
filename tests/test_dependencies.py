"""Every program, daemon and charon plugin the wizard calls or configures comes from a package that
packaging/bootstrap installs on Debian (or from one of their dependencies).

The list is derived from the code: the argv of every Command, subprocess call and shutil.which in
wizard/, charon's paths, and the plugins the rendered configuration loads or needs (plugin sections of the
settings file, the auth methods of every variant in both layouts, the crypto behind keys and proposals). Each
is looked up with ``dpkg -S`` on this machine, where ``packaging/bootstrap test`` has run.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from wizard.fs import paths
from wizard.model.answers_file import load
from wizard.render import connections
from wizard.render import strongswan_d as render_strongswan
from wizard.system import service
from wizard.system.charon import CHARON_CANDIDATES, charon_binary

REPO = Path(__file__).resolve().parents[1]
CALLS = {"Command", "run", "Popen", "check_output", "check_call", "_run", "which"}
# Started by a unit file, starter or xl2tpd rather than called by the wizard itself.
INDIRECT = {"charon-systemd": "strongswan.service runs it", "starter": "strongswan-starter.service runs it",
            "pppd": "xl2tpd starts it for each L2TP call"}
# Never on the list, by design: the init system (there on any booted machine; a chroot has none) and the
# firewall front ends the wizard adapts to only when the admin already runs them.
NOT_OURS = {"systemctl", "firewall-cmd", "ufw"}
# Always loaded by a working charon: key and certificate parsing, CRLs, vici, the kernel and socket
# interfaces, updown; openssl carries ECDSA/Ed25519 keys and every proposal (AES-GCM, ChaCha20, ECP, x25519),
# stroke serves the legacy ipsec layout.
CORE_PLUGINS = {"openssl", "pem", "pkcs1", "pkcs8", "x509", "revocation", "constraints", "nonce", "random",
                "kernel-netlink", "socket-default", "vici", "updown", "stroke"}
AUTH_PLUGINS = {"eap-mschapv2": {"eap-mschapv2", "eap-identity"}, "xauth": {"xauth-generic"}}


def _programs_in(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name not in CALLS:
            continue
        first = node.args[0]
        if isinstance(first, ast.Tuple | ast.List) and first.elts:
            first = first.elts[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and re.fullmatch(r"[a-z][\w.-]*",
                                                                                            first.value):
            found.add(first.value)
    return found


def programs() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "wizard").rglob("*.py"):
        found |= _programs_in(path.read_text())
    return found - {service.DETACH, service.STOP}


def plugins() -> set[str]:
    """Plugins of the all-variants answers (both layouts, userspace ESP, DHCP pool)."""
    answers = load(REPO / "tests/data/answers/good/all_variants.yaml")
    needed = set(CORE_PLUGINS)
    needed |= set(render_strongswan.settings_tree(answers, "userspace")["charon"]["plugins"])
    for layout in ("swanctl", "ipsec"):
        for spec in connections.connections(answers.model_copy(update={"layout": layout})):
            for auth in (spec.remote_auth, spec.remote_auth2, spec.local_auth):
                needed |= AUTH_PLUGINS.get(auth or "", set())
    return needed


def _dpkg_owner(path: str) -> str | None:
    candidates = dict.fromkeys([path, os.path.realpath(path)])
    for p in list(candidates):  # merged /usr: dpkg may know a file by its /bin or /usr/bin name
        candidates[p.removeprefix("/usr")] = None
        candidates["/usr" + p if not p.startswith("/usr/") else p] = None
    for p in candidates:
        result = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True, check=False)
        owners = [line.split(":")[0].split(",")[0].strip() for line in result.stdout.splitlines()
                  if not line.startswith("diversion by")]
        if result.returncode == 0 and owners:
            return owners[0]
    return None


def _locate(program: str) -> str | None:
    """A program on PATH, or one of strongSwan's helpers next to charon (starter)."""
    found = shutil.which(program, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    helpers = (Path(c).parent / program for c in CHARON_CANDIDATES)
    return found or next((str(h) for h in helpers if h.exists()), None)


@functools.cache
def _installed() -> dict[str, tuple[bool, list[list[str]]]]:
    """package -> (essential, dependency groups); Provides are folded in as extra names."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Essential}\t${Provides}\t${Depends}, "
                          "${Pre-Depends}\t${db:Status-Status}\n"], capture_output=True, text=True, check=True)
    table: dict[str, tuple[bool, list[list[str]]]] = {}
    provides: dict[str, str] = {}
    for line in out.stdout.splitlines():
        name, essential, prov, deps, status = line.split("\t")
        if status != "installed":
            continue
        groups = [[alt.split()[0].split(":")[0] for alt in group.split("|")]
                  for group in deps.split(",") if group.strip()]
        table[name] = (essential == "yes", groups)
        for p in prov.split(","):
            if p.strip():
                provides.setdefault(p.split()[0], name)
    for virtual, real in provides.items():
        table.setdefault(virtual, (False, [[real]]))
    return table


def bootstrap_list() -> list[str]:
    text = (REPO / "packaging/bootstrap").read_text()
    names: list[str] = []
    for array in ("debian_runtime", "debian_test"):
        body = re.search(rf"^{array}=\((.*?)\)", text, re.S | re.M)
        assert body, f"packaging/bootstrap has no {array}"
        names += re.sub(r"#[^\n]*", "", body.group(1)).split()
    return names


def closure(roots: list[str]) -> set[str]:
    table = _installed()
    seen: set[str] = {name for name, (essential, _) in table.items() if essential}
    todo = [r for r in roots if r in table]
    while todo:
        name = todo.pop()
        if name in seen and name not in roots:
            continue
        seen.add(name)
        for group in table[name][1]:
            todo += [alt for alt in group if alt in table and alt not in seen][:1] or []
    return seen


@pytest.fixture(scope="module")
def provided() -> set[str]:
    if shutil.which("dpkg") is None:
        pytest.skip("not a Debian system (dpkg answers which package holds a file)")
    missing = [p for p in bootstrap_list() if p not in _installed()]
    assert not missing, f"run packaging/bootstrap test first: {missing} not installed"
    return closure(bootstrap_list())


def test_the_derived_lists_hold_what_the_wizard_is_known_to_use() -> None:
    found = programs()
    assert {"swanctl", "ipsec", "nft", "iptables", "ip", "sysctl", "xl2tpd", "systemctl"} <= found, found
    assert {"openssl", "kernel-libipsec", "eap-mschapv2", "xauth-generic", "attr", "dhcp", "farp"} <= plugins()


def test_every_program_comes_from_a_bootstrap_package(provided: set[str]) -> None:
    wanted = (programs() | set(INDIRECT)) - NOT_OURS
    problems = []
    for program in sorted(wanted):
        path = _locate(program)
        owner = _dpkg_owner(path) if path else None
        if owner is None or owner not in provided:
            problems.append(f"{program}: {path or 'not found'} from {owner or 'no package'}")
    assert not problems, "not provided by packaging/bootstrap's Debian lists:\n" + "\n".join(problems)


def test_charon_and_every_plugin_comes_from_a_bootstrap_package(provided: set[str]) -> None:
    charon = charon_binary()
    assert charon is not None, f"none of {CHARON_CANDIDATES} exists"
    problems = [] if _dpkg_owner(charon) in provided else [f"charon: {charon} from {_dpkg_owner(charon)}"]
    plugin_dir = Path(charon).parent / "plugins"
    for plugin in sorted(plugins()):
        so = plugin_dir / f"libstrongswan-{plugin}.so"
        owner = _dpkg_owner(str(so)) if so.exists() else None
        if owner is None or owner not in provided:
            problems.append(f"plugin {plugin}: {so} from {owner or 'no package'}")
    assert not problems, "not provided by packaging/bootstrap's Debian lists:\n" + "\n".join(problems)
    assert Path(paths.VICI_SOCKET).name == "charon.vici"
