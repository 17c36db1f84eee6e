"""Many gateways through Ansible: the swan_wizard.vpn collection (packaging/ansible) run by ansible-playbook
against local targets (``--root`` directories through the local connection), and ``apply --json``, the
wizard's own "did anything change" that the module reports."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

REPO = Path(__file__).resolve().parents[1]
COLLECTION = REPO / "packaging" / "ansible"
BIN = Path(sys.executable).parent
FAST = "ca: {key: ecdsa-p256}\nhost: {key: ecdsa-p256}\n"

# The secrets of the play: none may appear in any output.
VAULT_PASSWORD = "vault-unlock-Qx81"
CA_PASSPHRASE = "ca-pass-from-vault-Zr47"
P12_PASSWORD = "p12-pass-from-env-Kw93"

# Three gateways with their own address and pool, one with a pool the wizard refuses, and one whose address
# tries to add a line (and a key) to the answers file.
GOOD = {"gw1": ("198.18.1.1", "10.1.0.0/24"), "gw2": ("198.18.2.1", "10.2.0.0/24"),
        "gw3": ("vpn3.example.com", "10.3.0.0/24")}
BAD_POOL = ("198.18.4.1", "10.4.0.1/24")
INJECTED = ("vpn5.example.com\npool: {addresses: 10.9.0.0/24}", "10.5.0.0/24")


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _need_ansible() -> None:
    if (BIN / "ansible-playbook").exists():
        return
    message = "ansible-playbook not installed in this virtualenv (pip install '.[test]')"
    if _ci():
        pytest.fail(f"{message} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(message)


def _wizard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wizard.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})})


# ---------------------------------------------------------------------------------------------------
# apply --json: the signal the module reports


def test_apply_json_says_whether_anything_changes(tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text("version: 1\nserver: {address: vpn.example.com}\n" + FAST)
    root = tmp_path / "root"
    base = ["apply", str(answers), "--root", str(root), "--json"]

    dry = _wizard(*base, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    summary = json.loads(dry.stdout)  # stdout is the one JSON object, nothing else
    assert summary["changed"] is True and summary["backup"] is None
    assert "create  /etc/swanctl/conf.d/swan-wizard.conf  mode 0644" in summary["plan"]
    assert not root.exists()

    first = _wizard(*base)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["changed"] is True and summary["backup"]
    assert "create  /etc/swanctl/private/vpn-host.key  mode 0600" in summary["plan"]
    assert "(secret content not shown" in summary["plan"] and "PRIVATE KEY" not in first.stdout
    assert "/etc/swanctl/conf.d/swan-wizard.conf" in first.stderr  # the progress lines moved to stderr

    for again in (_wizard(*base), _wizard(*base, "--dry-run")):
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)
        assert summary["changed"] is False and summary["backup"] is None
        assert "Nothing to change" in summary["plan"]


def test_apply_json_bad_answers_is_one_line_and_no_json(tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text("version: 1\nserver: {address: vpn.example.com}\npool: {addresses: 10.4.0.1/24}\n")
    proc = _wizard("apply", str(answers), "--root", str(tmp_path / "root"), "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"swan-wizard: error: {answers}:3: pool.addresses: '10.4.0.1/24' is not a network or 'dhcp': "
        "10.4.0.1/24 has host bits set; did you mean 10.4.0.0/24?"]
    assert not (tmp_path / "root").exists()


# ---------------------------------------------------------------------------------------------------
# the module's own guards (no Ansible run needed)


def _module():  # type: ignore[no-untyped-def]
    pytest.importorskip("ansible")
    spec = importlib.util.spec_from_file_location("swan_wizard_module", COLLECTION / "plugins/modules/swan_wizard.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_module_refuses_bad_secret_names_and_values_without_showing_them() -> None:
    mod = _module()
    files, problems = mod.wanted_files("version: 1\n", {"../etc/passwd": "s3cret-A", "ok": "line\nbreak-B",
                                                        ".hidden": "s3cret-C", "fine": "good-D"})
    assert set(files) == {"answers.yaml", "secrets/fine"} and files["secrets/fine"] == b"good-D\n"
    assert len(problems) == 3
    assert not any(v in " ".join(problems) for v in ("s3cret-A", "break-B", "s3cret-C"))


def test_module_never_writes_through_a_link(tmp_path: Path) -> None:
    mod = _module()
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "secrets").symlink_to(elsewhere)
    want, _ = mod.wanted_files("version: 1\n", {"ca-passphrase": "x"})
    with pytest.raises(OSError):
        mod.install(str(dest), want, {})
    assert list(elsewhere.iterdir()) == []


# ---------------------------------------------------------------------------------------------------
# ansible-playbook against local targets


def _inventory(base: Path) -> dict[str, object]:
    hosts = {name: (addr, pool) for name, (addr, pool) in GOOD.items()}
    hosts |= {"gwbad": BAD_POOL, "gwinject": INJECTED}
    return {"all": {
        "vars": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            # The targets run the wizard from this tree (PYTHONPATH below); an installed one is [swan-wizard].
            "swan_wizard_command": [sys.executable, "-m", "wizard.cli"],
            "swan_wizard_ca": {"key": "ecdsa-p256", "passphrase": {"file": "secrets/ca-passphrase"}},
            "swan_wizard_host": {"key": "ecdsa-p256"},
            "swan_wizard_clients": [{"name": "alice", "key": "ecdsa-p256", "p12_password": {"env": "P12_PASS"}}],
            "swan_wizard_secrets": {"ca-passphrase": "{{ vault_ca_passphrase }}"},
            "swan_wizard_secret_env": {"P12_PASS": "{{ lookup('ansible.builtin.env', 'GATEWAY_P12_PASS') }}"},
        },
        "hosts": {name: {"swan_wizard_root": str(base / "targets" / name), "swan_wizard_server_address": addr,
                         "swan_wizard_pool": pool} for name, (addr, pool) in hosts.items()},
    }}


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """A controller directory: the collection installed from the tree as the README says, an inventory, a play
    and an Ansible Vault file with the CA passphrase."""
    _need_ansible()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  vars_files: [vault.yml]\n  roles: [swan_wizard.vpn.gateway]\n")
    (tmp_path / "inventory.json").write_text(json.dumps(_inventory(tmp_path)))
    (tmp_path / "vault-pass").write_text(VAULT_PASSWORD + "\n")
    (tmp_path / "vault.yml").write_text(f"vault_ca_passphrase: {CA_PASSPHRASE}\n")
    for argv in ([str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", "vault-pass", "vault.yml"],
                 [str(BIN / "ansible-galaxy"), "collection", "install", str(COLLECTION), "-p", "collections"]):
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path), timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert CA_PASSPHRASE not in (tmp_path / "vault.yml").read_text()
    return tmp_path


def _env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return env | {
        "ANSIBLE_HOME": str(base / "ansible-home"), "ANSIBLE_LOCAL_TEMP": str(base / "ansible-home/tmp"),
        "ANSIBLE_REMOTE_TMP": str(base / "ansible-home/remote"), "ANSIBLE_COLLECTIONS_PATH": str(base / "collections"),
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_FORKS": "5",
        "LC_ALL": "C.UTF-8", "PYTHONPATH": str(REPO), "TMPDIR": str(base / "tmp"), "GATEWAY_P12_PASS": P12_PASSWORD,
    }


def _play(base: Path, *extra: str) -> tuple[str, dict[str, dict[str, int]]]:
    """Run the play; its whole output and the PLAY RECAP as {host: {ok, changed, failed, ...}}."""
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventory.json", "site.yml",
                           "--vault-password-file", "vault-pass", *extra],
                          capture_output=True, text=True, cwd=base, env=_env(base), timeout=600)
    out = proc.stdout + proc.stderr
    recap = {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
             for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", out.split("PLAY RECAP", 1)[-1], re.M)}
    assert set(recap) == {*GOOD, "gwbad", "gwinject"}, out
    assert proc.returncode == 2, out  # some hosts failed: ansible-playbook's own exit status
    print("\n".join(line for line in out.splitlines() if re.match(r"^\S+\s+: ok=", line)))
    return out, recap


def _failure_messages(out: str) -> dict[str, str]:
    """Each failed host's result "msg", whether the result is printed on one line or indented (-v...)."""
    decoder = json.JSONDecoder()
    return {m.group(1): decoder.raw_decode(out, m.end())[0]["msg"]
            for m in re.finditer(r"^fatal: \[(\w+)\]: FAILED! => ", out, re.M)}


def _assert_failed_hosts(out: str, recap: dict[str, dict[str, int]], base: Path) -> None:
    """The bad hosts stop with the wizard's own one-line error, naming the answers copy; nothing under them."""
    for name in ("gwbad", "gwinject"):
        assert recap[name]["failed"] == 1 and recap[name]["changed"] == 0, out
        assert not (base / "targets" / name).exists()
    assert _failure_messages(out) == {
        "gwbad": "swan-wizard: error: /etc/swan-wizard/ansible/answers.yaml:8: pool.addresses: '10.4.0.1/24' is "
                 "not a network or 'dhcp': 10.4.0.1/24 has host bits set; did you mean 10.4.0.0/24?",
        "gwinject": "swan-wizard: error: /etc/swan-wizard/ansible/answers.yaml:6: server.address: holds the "
                    "control or invisible character U+000A (LINE FEED); no file can carry it",
    }, out


def _assert_no_secret(out: str) -> None:
    for secret in (VAULT_PASSWORD, CA_PASSPHRASE, P12_PASSWORD):
        assert secret not in out


def _mode(path: Path) -> tuple[int, int]:
    st = path.lstat()
    return stat.S_IMODE(st.st_mode), st.st_uid


def test_playbook_applies_one_template_to_three_gateways(fleet: Path) -> None:
    targets = fleet / "targets"

    # --check --diff: the wizard's plan per host, nothing written anywhere.
    out, recap = _play(fleet, "--check", "--diff")
    _assert_no_secret(out)
    for name, (address, pool) in GOOD.items():
        assert recap[name] == {**recap[name], "ok": 1, "changed": 1, "failed": 0}, out
        assert f"+         id = {address}" in out and f"+      addrs = {pool}" in out
    assert "create  /etc/swanctl/conf.d/swan-wizard.conf  mode 0644" in out
    assert "create  /etc/swan-wizard/ansible/secrets/ca-passphrase  mode 0600" in out
    assert "(secret content not shown" in out
    _assert_failed_hosts(out, recap, fleet)
    assert not targets.exists()

    # First run (verbose: the module's results in full): changed for each good host.
    out, recap = _play(fleet, "-vvv")
    _assert_no_secret(out)
    for name in GOOD:
        assert recap[name] == {**recap[name], "ok": 1, "changed": 1, "failed": 0}, out
    _assert_failed_hosts(out, recap, fleet)
    for name, (address, pool) in GOOD.items():
        root = targets / name
        conf = (root / "etc/swanctl/conf.d/swan-wizard.conf").read_text()
        assert f"id = {address}" in conf and f"addrs = {pool}" in conf
        kept = root / "etc/swan-wizard/ansible"
        assert _mode(kept) == (0o700, 0) and _mode(kept / "secrets") == (0o700, 0)
        assert _mode(kept / "answers.yaml") == (0o600, 0) and _mode(kept / "secrets/ca-passphrase") == (0o600, 0)
        assert (kept / "secrets/ca-passphrase").read_text() == CA_PASSPHRASE + "\n"
        assert CA_PASSPHRASE not in (kept / "answers.yaml").read_text()
        # The secrets reached the wizard: the CA key is encrypted, the PKCS#12 opens with the env password.
        assert b"ENCRYPTED PRIVATE KEY" in (root / "etc/swan-wizard/ca/ca.key").read_bytes()
        p12 = (root / "etc/swan-wizard/clients/alice/alice.p12").read_bytes()
        assert pkcs12.load_key_and_certificates(p12, P12_PASSWORD.encode())[1] is not None

    # Second run: the wizard's plan is empty, so ok for each good host; a check run agrees.
    # Every file but the lock (each apply records its holder there) stays as the first run left it.
    def snapshot() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in targets.rglob("*") if p.name != "apply.lock"}

    before = snapshot()
    out, recap = _play(fleet)
    for name in GOOD:
        assert recap[name] == {**recap[name], "ok": 1, "changed": 0, "failed": 0}, out
    _assert_failed_hosts(out, recap, fleet)
    out, recap = _play(fleet, "--check", "--diff")
    for name in GOOD:
        assert recap[name] == {**recap[name], "ok": 1, "changed": 0, "failed": 0}, out
    assert "+++ b/etc/" not in out and "create  /etc/swanctl" not in out  # no diff for an ok task
    _assert_no_secret(out)
    assert snapshot() == before
    assert not list((fleet / "tmp").iterdir())  # the module's staging directories are gone


def test_readme_inventory_uses_only_the_roles_variables() -> None:
    """The README's minimal inventory and play name the role and variables the collection has."""
    import yaml

    text = (REPO / "README.md").read_text().split("## More than one gateway", 1)[1].split("\n## ", 1)[0]
    text = text.split("### Ansible", 1)[1].split("\n### ", 1)[0]
    inventory, play = (yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S))
    defaults = yaml.safe_load((COLLECTION / "roles/gateway/defaults/main.yml").read_text())
    used = set(inventory["gateways"]["vars"]) | {k for h in inventory["gateways"]["hosts"].values() for k in h}
    assert used <= set(defaults), used - set(defaults)
    assert play[0]["roles"] == ["swan_wizard.vpn.gateway"] and play[0]["hosts"] == "gateways"
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("swan_wizard", "vpn")
