"""The Debian and Arch packages: built from this tree with their own tools, then inspected.

The .deb (packaging/debian/build): its control fields (the strongSwan packages it needs, what it recommends),
its file list (the command, the man page, bash completion, the UI's assets), lintian without an error, and the
installed tree run as /usr/bin/swan-wizard runs it (``--version``, ``apply --root``). Installing it into a
fresh Debian root is packaging/fresh-test's job.

The Arch package (packaging/arch/build, makepkg without dependency checks: no Arch repository here): its
metadata (.PKGINFO) and file list.

Slow (each build is ~30 s); needs the Python package index.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from conftest import ONE_CLIENT_ANSWERS

from wizard import __version__

REPO = Path(__file__).resolve().parents[1]
STRONGSWAN_DEPENDS = {"strongswan-swanctl", "charon-systemd", "strongswan-charon", "strongswan-pki",
                      "libstrongswan-standard-plugins", "libcharon-extra-plugins"}


def _need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (packaging/bootstrap test installs them)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true: refusing to skip")
        pytest.skip(reason)


def _run(argv: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=900, check=False,
                          **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dpkg") is None:
        pytest.skip("not a Debian system: the .deb is built on Debian")
    _need("dpkg-buildpackage", "dh", "lintian")
    out = tmp_path_factory.mktemp("deb")
    built = _run([REPO / "packaging/debian/build", out])
    assert built.returncode == 0, built.stderr[-4000:]
    return next(out.glob(f"swan-wizard_{__version__}_*.deb"))


def _field(info: str, name: str) -> set[str]:
    m = re.search(rf"^ {name}: (.*(?:\n  .*)*)", info, re.M)
    assert m, f"no {name} in the control file"
    return {re.split(r"[ (]", d.strip())[0] for d in m.group(1).replace("\n", " ").split(",")}


def test_deb_control_names_strongswan_and_recommends_the_firewall(deb: Path) -> None:
    info = _run(["dpkg-deb", "-I", deb]).stdout
    assert f"Version: {__version__}" in info
    assert _field(info, "Depends") >= STRONGSWAN_DEPENDS, info
    assert {"nftables", "xl2tpd"} <= _field(info, "Recommends"), info


def test_deb_ships_the_command_man_page_completion_and_assets(deb: Path) -> None:
    listing = _run(["dpkg-deb", "-c", deb]).stdout
    names = {line.split()[-1].removeprefix(".") for line in listing.splitlines()}
    assert {"/usr/bin/swan-wizard", "/usr/share/man/man8/swan-wizard.8.gz",
            "/usr/share/bash-completion/completions/swan-wizard", "/usr/lib/swan-wizard/screens/assets/app.tcss",
            "/usr/lib/swan-wizard/wizard/model/answers.schema.json", "/usr/share/doc/swan-wizard/copyright"} <= names
    assert not any("__pycache__" in n for n in names), "byte code is made by postinst, not shipped"


def test_deb_lintian_reports_no_error(deb: Path) -> None:
    result = _run(["lintian", "--tag-display-limit", "0", deb])
    errors = [line for line in result.stdout.splitlines() if line.startswith("E:")]
    assert not errors, result.stdout


def test_deb_tree_runs_as_its_launcher_runs_it(deb: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    assert _run(["dpkg-deb", "-x", deb, tree]).returncode == 0
    launcher = (tree / "usr/bin/swan-wizard").read_text()
    assert launcher.startswith("#!/usr/bin/python3 -I\n")
    # The launcher with its private directory pointed into the extracted tree.
    script = tmp_path / "swan-wizard"
    script.write_text(launcher.replace('"/usr/lib/swan-wizard"', repr(str(tree / "usr/lib/swan-wizard"))))
    version = _run(["/usr/bin/python3", "-I", script, "--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"swan-wizard {__version__}", version
    (tmp_path / "answers.yaml").write_text(ONE_CLIENT_ANSWERS)
    applied = _run(["/usr/bin/python3", "-I", script, "apply", "answers.yaml", "--root", tmp_path / "root"],
                   cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
    assert (tmp_path / "root/etc/swanctl/conf.d/swan-wizard.conf").is_file()
    man = gzip.decompress((tree / "usr/share/man/man8/swan-wizard.8.gz").read_bytes()).decode()
    assert man.startswith(".TH SWAN-WIZARD 8")
    for command in ("apply", "doctor", "selftest", "client add", "rollback"):
        assert f"\n.SS {command}\n" in man, f"the man page lacks {command}"


@pytest.fixture(scope="module")
def arch_pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need("makepkg", "setpriv")
    out = tmp_path_factory.mktemp("arch")
    # Arch's `python` with python-build/-installer/-setuptools and the runtime dependencies, made from Debian's
    # python3; world-readable, since makepkg runs as an unprivileged user.
    tools = Path(tempfile.mkdtemp(prefix="swan-arch-python-"))
    try:
        tools.chmod(0o755)
        pip = _run(["/usr/bin/python3", "-m", "pip", "install", "-q", "--target", tools / "lib",
                    "-c", REPO / "packaging/debian/constraints.txt", "build", "installer", "setuptools>=68", "wheel",
                    *_runtime_requirements()])
        assert pip.returncode == 0, pip.stderr[-3000:]
        (tools / "bin").mkdir()
        shim = tools / "bin/python"
        # DEB_PYTHON_INSTALL_LAYOUT=deb: /usr, as on Arch, not Debian's /usr/local default for local installs.
        shim.write_text(f'#!/bin/sh\nPYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{tools / "lib"}" '
                        'DEB_PYTHON_INSTALL_LAYOUT=deb exec /usr/bin/python3 "$@"\n')
        shim.chmod(0o755)
        env = {**os.environ, "PATH": f"{tools / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"}
        built = _run([REPO / "packaging/arch/build", out], env=env)
        assert built.returncode == 0, built.stderr[-4000:]
    finally:
        shutil.rmtree(tools)
    return next(out.glob(f"swan-wizard-{__version__}-*-any.pkg.tar.*"))


def _runtime_requirements() -> list[str]:
    import tomllib

    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def test_arch_package_metadata_and_files(arch_pkg: Path) -> None:
    with tarfile.open(arch_pkg) as tar:
        names = set(tar.getnames())
        pkginfo = (tar.extractfile(".PKGINFO") or io.BytesIO()).read().decode()
    fields: dict[str, list[str]] = {}
    for line in pkginfo.splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            fields.setdefault(key, []).append(value)
    assert fields["pkgname"] == ["swan-wizard"] and fields["pkgver"][0].startswith(f"{__version__}-")
    assert fields["arch"] == ["any"]
    assert {"strongswan", "python", "python-textual", "python-pydantic"} <= set(fields["depend"])
    assert any(o.startswith("nftables") for o in fields["optdepend"])
    assert {"usr/bin/swan-wizard", "usr/share/man/man8/swan-wizard.8.gz",
            "usr/share/bash-completion/completions/swan-wizard"} <= names, sorted(names)[:40]
    site = re.compile(r"usr/(local/)?lib/python3[^/]*/(site|dist)-packages/")
    shipped = {site.sub("", n) for n in names if site.match(n)}
    assert {"wizard/cli.py", "screens/assets/app.tcss", "wizard/model/answers.schema.json"} <= shipped
