#!/usr/bin/python
# Copyright: Swan Wizard maintainers
# GNU General Public License v2.0 or later (see https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
"""Ansible module: run the host's ``swan-wizard`` with an answers file and its secrets; changed = the wizard's plan."""

from __future__ import annotations

DOCUMENTATION = r"""
module: swan_wizard
short_description: Apply a Swan Wizard answers file on a strongSwan gateway
version_added: "0.1.0"
description:
  - Copies an answers file and its secret files to the host and runs the installed C(swan-wizard apply) with it.
  - C(changed) is the wizard's own verdict (C(swan-wizard apply --json)); check mode runs
    C(swan-wizard apply --dry-run --json) and writes nothing, C(--diff) shows the wizard's plan
    (secret files by size only).
  - The answers and secrets are first put in a private temporary directory; they replace the copy in O(dest) only
    after the wizard accepted them, so a bad value leaves the host as it was. The wizard's error line is the
    failure message, naming O(dest)'s answers file.
options:
  answers:
    description: The answers file's text (YAML). It names secrets as C({file: secrets/NAME}) or C({env: NAME}).
    type: str
    required: true
  secrets:
    description:
      - Secret files, NAME to value, written 0600 root-owned to O(dest)/secrets/NAME (directory 0700).
      - Values come from Ansible Vault or the controller's environment; they never appear in the module's output.
    type: dict
    default: {}
  env:
    description: Environment for the wizard, for C({env: NAME}) references. Never shown.
    type: dict
    default: {}
  dest:
    description: Where the answers (answers.yaml) and secrets/ are kept on the host, under O(root) when given.
    type: path
    default: /etc/swan-wizard/ansible
  root:
    description: Passed as C(--root): the wizard writes under this directory, starts no service.
    type: path
  command:
    description: The wizard's command line, e.g. C([/opt/swan/.venv/bin/python, -m, wizard.cli]).
    type: list
    elements: str
    default: [swan-wizard]
  no_start:
    description: Write the files but run no command (C(--no-start)).
    type: bool
    default: false
  wait:
    description: Seconds to wait for another run's lock (C(--wait)); 0 fails at once.
    type: int
    default: 0
author: Swan Wizard maintainers
"""

EXAMPLES = r"""
- name: One gateway from a vaulted passphrase
  swan_wizard.vpn.swan_wizard:
    answers: "{{ lookup('ansible.builtin.template', 'answers.yaml.j2') }}"
    secrets:
      ca-passphrase: "{{ vault_ca_passphrase }}"
"""

RETURN = r"""
plan:
  description: The wizard's plan (what C(swan-wizard plan) prints), before this run.
  type: str
  returned: success
backup:
  description: The wizard's backup id of this run (C(swan-wizard rollback ID)), none when nothing changed.
  type: str
  returned: success
copies:
  description: What changed in O(dest) (the answers and secret files), one line each.
  type: list
  elements: str
  returned: success
handouts:
  description: Where the wizard left generated secrets on the host (file names only).
  type: list
  elements: str
  returned: success
"""

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ANSWERS = "answers.yaml"
SECRETS = "secrets"
# A secret's name becomes a file name: no path separators, no leading dot.
_SECRET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def wanted_files(answers, secrets):
    """The files of ``dest`` as they should be: relative name -> bytes. Problems never quote a secret's value."""
    problems = []
    files = {ANSWERS: answers.encode("utf-8")}
    for name, value in sorted(secrets.items()):
        if not isinstance(name, str) or not _SECRET_NAME.match(name):
            problems.append(f"secrets: {name!r} is not a file name (letters, digits, '.', '_', '-')")
        elif not isinstance(value, str) or not value:
            problems.append(f"secrets.{name}: not a non-empty string")
        elif any(ch in value for ch in "\r\n\x00\x85\u2028\u2029"):
            # The wizard reads the first line of a {file:} secret: a line break would cut it silently.
            problems.append(f"secrets.{name}: holds a line break or NUL")
        else:
            files[f"{SECRETS}/{name}"] = value.encode("utf-8") + b"\n"
    return files, problems


def _open_dir(path, create):
    """An fd for ``path`` (absolute), reached without following any link; missing parts made 0700 when ``create``."""
    fd = os.open("/", _NOFOLLOW_DIR)
    try:
        for part in [p for p in path.split("/") if p]:
            try:
                nxt = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None
                os.mkdir(part, 0o700, dir_fd=fd)
                nxt = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_dest(dest):
    """The files in ``dest`` now: relative name -> (bytes, mode, uid); links are not followed."""
    found = {}
    for sub in ("", SECRETS):
        fd = _open_dir(os.path.join(dest, sub) if sub else dest, create=False)
        if fd is None:
            continue
        try:
            for name in os.listdir(fd):
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                rel = f"{sub}/{name}" if sub else name
                if not stat.S_ISREG(st.st_mode) or (not sub and name != ANSWERS):
                    if sub:  # anything but a regular file in secrets/ is replaced
                        found[rel] = (None, None, None)
                    continue
                ffd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                with os.fdopen(ffd, "rb") as f:
                    found[rel] = (f.read(), stat.S_IMODE(st.st_mode), st.st_uid)
        finally:
            os.close(fd)
    return found


def copy_changes(dest, want, found):
    """One line per file of ``dest`` that differs: the answers copy is shown in the diff, secrets by size only."""
    owner = os.geteuid()
    lines = []
    for rel, data in want.items():
        path = os.path.join(dest, rel)
        old = found.get(rel)
        if old is None:
            lines.append(f"create  {path}  mode 0600" + (f"  ({len(data)} bytes, secret)" if rel != ANSWERS else ""))
        elif old[0] != data:
            lines.append(f"update  {path}  mode 0600" + ("  (secret content not shown)" if rel != ANSWERS else ""))
        elif old[1] != 0o600 or old[2] != owner:
            lines.append(f"chmod   {path}  mode 0600")
    lines += [f"remove  {os.path.join(dest, rel)}" for rel in sorted(found) if rel not in want]
    return lines


def _write_at(dir_fd, name, data):
    """Replace ``name`` in ``dir_fd`` atomically with a 0600 file owned by this user (root on a gateway)."""
    tmp = f".{name}.ansible-{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        os.unlink(tmp, dir_fd=dir_fd)
        raise


def install(dest, want, found):
    """Make ``dest`` hold exactly ``want``: 0700 directories, 0600 files; stale secret files removed."""
    for sub in ("", SECRETS):
        fd = _open_dir(os.path.join(dest, sub) if sub else dest, create=True)
        try:
            os.fchmod(fd, 0o700)
            prefix = f"{sub}/" if sub else ""
            for rel, data in want.items():
                if rel.startswith(prefix) and "/" not in rel[len(prefix):]:
                    old = found.get(rel)
                    if old is None or old[0] != data or old[1] != 0o600 or old[2] != os.geteuid():
                        _write_at(fd, rel[len(prefix):], data)
            for rel in found:
                if sub and rel.startswith(prefix) and rel not in want:
                    name = rel[len(prefix):]
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(os.path.join(dest, rel))
                    else:
                        os.unlink(name, dir_fd=fd)
        finally:
            os.close(fd)


def stage(want):
    """A private directory (0700, outside any root) holding ``want``: what the wizard reads this run."""
    tmp = tempfile.mkdtemp(prefix="swan-wizard-ansible-")
    os.mkdir(os.path.join(tmp, SECRETS), 0o700)
    for rel, data in want.items():
        fd = os.open(os.path.join(tmp, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return tmp


def wizard_argv(params, answers_path, check):
    argv = [*params["command"], "apply", answers_path, "--json"]
    if check:
        argv.append("--dry-run")
    if params["root"]:
        argv += ["--root", params["root"]]
    if params["no_start"]:
        argv.append("--no-start")
    if params["wait"]:
        argv += ["--wait", str(params["wait"])]
    return argv


def failure_message(stderr, rc):
    """The wizard's own error lines (it prints one per problem); its warnings and progress are left out."""
    lines = [ln.strip() for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ": error:" in ln]
    return "\n".join(errors or lines[-1:]) or f"swan-wizard exited {rc} without a message"


def main():
    module = AnsibleModule(
        argument_spec={
            "answers": {"type": "str", "required": True},
            "secrets": {"type": "dict", "default": {}, "no_log": True},
            "env": {"type": "dict", "default": {}, "no_log": True},
            "dest": {"type": "path", "default": "/etc/swan-wizard/ansible"},
            "root": {"type": "path"},
            "command": {"type": "list", "elements": "str", "default": ["swan-wizard"]},
            "no_start": {"type": "bool", "default": False},
            "wait": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    p = module.params
    for key in ("dest", "root"):
        if p[key] and not os.path.isabs(p[key]):
            module.fail_json(msg=f"{key}: {p[key]!r} is not an absolute path")
    if not p["command"]:
        module.fail_json(msg="command: empty")
    want, problems = wanted_files(p["answers"], p["secrets"] or {})
    if problems:
        module.fail_json(msg="; ".join(problems))
    env_problems = [k for k in (p["env"] or {}) if not isinstance(k, str) or not _ENV_NAME.match(k)]
    if env_problems:
        module.fail_json(msg=f"env: {env_problems[0]!r} is not a variable name")

    root = os.path.realpath(p["root"]) if p["root"] else ""
    p["root"] = root or None
    dest = os.path.join(root, p["dest"].lstrip("/")) if root else p["dest"]
    shown_dest = p["dest"]  # the path as the host's wizard sees it (inside the root)
    try:
        found = read_dest(dest)
    except OSError as exc:
        module.fail_json(msg=f"{shown_dest}: cannot read: {exc.strerror}")
    copies = copy_changes(shown_dest, want, found)

    tmp = stage(want)
    try:
        env = {str(k): str(v) for k, v in (p["env"] or {}).items()}
        rc, out, err = module.run_command(wizard_argv(p, os.path.join(tmp, ANSWERS), module.check_mode),
                                          environ_update=env, cwd=tmp)
        # The wizard names the staged answers file; say the one kept on the host instead.
        out, err = (s.replace(tmp, shown_dest) for s in (out, err))
        for line in err.splitlines():
            if ": warning: " in line:
                module.warn(line.strip())
        if rc != 0:
            module.fail_json(msg=failure_message(err, rc), rc=rc, copies=copies)
        try:
            summary = json.loads(out)
            wizard_changed = bool(summary["changed"])
        except (ValueError, KeyError, TypeError):
            module.fail_json(msg="swan-wizard did not print its --json summary (a release without `apply --json`?)",
                             rc=rc)
        if not module.check_mode and copies:
            install(dest, want, found)
    except OSError as exc:
        module.fail_json(msg=f"{exc.filename or shown_dest}: {exc.strerror}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    plan = str(summary.get("plan", ""))
    result = {"changed": wizard_changed or bool(copies), "plan": plan, "backup": summary.get("backup"),
              "copies": copies, "handouts": summary.get("handouts", []), "rc": rc}
    if module._diff:
        result["diff"] = {"prepared": "\n".join([*copies, plan])}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
