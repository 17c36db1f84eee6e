"""The real parser as judge: load the root's configuration into a throwaway charon and see what it says.

Reading the files ourselves cannot tell what charon accepts (an unknown algorithm, an option of
another version, a key it cannot load). So this starts charon (or starter for the ipsec.conf layout) as a
:class:`wizard.system.charon.ThrowawayCharon` in a network namespace of its own, where ``/etc/swanctl``,
``/etc/strongswan.*`` and ``/etc/ipsec.*`` are read-only bind mounts of the root's files and ``/run``
and ``/var/log`` are empty tmpfs: the throwaway daemon never meets the live one's sockets, ports,
log or kernel state, and disappears with its namespaces. It runs ``swanctl --load-all`` (or lets
starter load ipsec.conf over stroke) and reports what failed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from wizard.checks.doctor.installed import Installed
from wizard.fs import paths
from wizard.fs.paths import Root
from wizard.system.charon import Bind, CharonError, ThrowawayCharon, charon_binary

RUN_LOG = "/run/swan-doctor/charon.log"
SOURCE = "/run/swan-doctor/swanctl-source"  # the examined /etc/swanctl, reachable under the stage
SNIPPET = "zzzz-swan-doctor.conf"
# swanctl complains about every optional credential directory that does not exist: not a problem.
_NOISE = re.compile(r"opening directory '.*' failed: No such file or directory|^no files found matching|"
                    r"^\s*reading directory failed|plugin 'tpm': failed to load|TPM 2\.0 - could not load")
_PROBLEM = re.compile(r"failed|error|invalid|unknown|not recognized|missing|skipped|syntax|unable|cannot|"
                      r"couldn't|not found|# ", re.IGNORECASE)


@dataclass
class ParseCheck:
    status: str  # "ok", "rejected" or "skipped"
    reason: str = ""  # why it was skipped
    tool: str = ""  # what judged: "swanctl --load-all" or "starter"
    output: list[str] = field(default_factory=list)  # the tool's output (noise dropped)
    log: list[str] = field(default_factory=list)  # the throwaway charon's CFG log
    loaded: list[str] = field(default_factory=list)  # connections charon accepted
    failed: dict[str, str] = field(default_factory=dict)  # connection -> why not
    problems: list[str] = field(default_factory=list)  # lines that say something was refused


def unavailable_reason(root: Root, layout: str) -> str | None:
    """Why the throwaway daemon cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (private namespaces and charon)"
    charon = charon_binary()
    if charon is None:
        return "charon is not installed"
    tools = ["unshare", "nsenter", "mount"] + (["swanctl"] if layout == "swanctl" else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not found"
    if layout == "ipsec" and not (Path(charon).parent / "starter").exists():
        return "starter (strongswan-starter) is not installed"
    # Mount points must exist on this host: a bind mount needs a target.
    targets = [paths.STRONGSWAN_CONF, paths.STRONGSWAN_D]
    targets += [paths.SWANCTL_DIR] if layout == "swanctl" else [paths.IPSEC_CONF, paths.IPSEC_SECRETS, paths.IPSEC_D]
    absent = [str(t) for t in targets if not Path(t).exists()]
    if absent:
        return f"{', '.join(absent)} missing on this host (nothing to mount the root's files over)"
    return None


def _snippet() -> str:
    return f"""\
# Written by swan-wizard doctor for a throwaway charon; never on a live system.
charon {{
    filelog {{
        swan-doctor {{
            path = {RUN_LOG}
            default = 1
            cfg = 2
            flush_line = yes
        }}
    }}
}}
"""


def _stage(root: Root, layout: str, stage: Path) -> list[Bind]:
    """Prepare the files to mount and return the bind mounts, in order: all read-only, since the throwaway
    daemon (and anything it runs) must not change the examined files."""
    mounts: list[tuple[str, str]] = []
    conf = root(paths.STRONGSWAN_CONF)
    shutil.copy2(conf if conf.is_file() else Path(paths.STRONGSWAN_CONF), stage / "strongswan.conf")
    # strongswan.d: the distribution's plugin settings, then the root's files over them, then ours.
    sdir = stage / "strongswan.d"
    if Path(paths.STRONGSWAN_D).is_dir():
        shutil.copytree(paths.STRONGSWAN_D, sdir, symlinks=True, dirs_exist_ok=True)
    if root(paths.STRONGSWAN_D).is_dir() and not root.is_live:
        shutil.copytree(root(paths.STRONGSWAN_D), sdir, symlinks=True, dirs_exist_ok=True)
    sdir.mkdir(exist_ok=True)
    (sdir / SNIPPET).write_text(_snippet())
    mounts += [(str(stage / "strongswan.conf"), str(paths.STRONGSWAN_CONF)), (str(sdir), str(paths.STRONGSWAN_D))]
    if layout == "swanctl":
        # The root's swanctl directory entry by entry, so every path charon opens is /etc/swanctl/...
        # (AppArmor judges by that path); swanctl.conf is the root's, or Debian's one-line default.
        sw = stage / "swanctl"
        sw.mkdir()
        main = root(paths.SWANCTL_DIR / "swanctl.conf")
        if main.is_file():
            shutil.copy2(main, sw / "swanctl.conf")
        else:
            (sw / "swanctl.conf").write_text("include conf.d/*.conf\n")
        source = root(paths.SWANCTL_DIR)
        # On the live system the sources are under /etc/swanctl itself, which the stage is about to cover:
        # reach them through a bind mount made first.
        mounts.append((str(source), SOURCE))
        mounts.append((str(sw), str(paths.SWANCTL_DIR)))
        for entry in sorted(source.iterdir()) if source.is_dir() else []:
            if entry.name == "swanctl.conf":
                continue
            target = sw / entry.name
            if entry.is_dir():
                target.mkdir()
            else:
                target.touch()
            mounts.append((f"{SOURCE}/{entry.name}", str(paths.SWANCTL_DIR / entry.name)))
    else:
        for logical in (paths.IPSEC_CONF, paths.IPSEC_SECRETS, paths.IPSEC_D):
            if root(logical).exists():
                mounts.append((str(root(logical)), str(logical)))
    return [Bind(source, target, read_only=True) for source, target in mounts]


def parse_check(root: Root, installed: Installed, timeout: float = 15.0) -> ParseCheck:
    layout = installed.layout
    if layout is None:
        return ParseCheck("skipped", reason="no configuration found")
    reason = unavailable_reason(root, layout)
    if reason:
        return ParseCheck("skipped", reason=reason)
    expected = [c.name for c in installed.conns]
    charon = str(charon_binary())
    daemon = [charon] if layout == "swanctl" else [str(Path(charon).parent / "starter"), "--nofork"]
    with tempfile.TemporaryDirectory(prefix="swan-doctor-") as tmp:
        stage = Path(tmp)
        binds = _stage(root, layout, stage)
        with ThrowawayCharon(stage, binds, daemon=daemon, tmpfs=("/run", "/var/log"),
                             mkdirs=(str(Path(RUN_LOG).parent), SOURCE)) as throwaway:
            try:
                throwaway.start(timeout)
            except CharonError as exc:
                return ParseCheck("skipped", reason=f"the throwaway charon did not start: {exc}")
            except OSError as exc:
                return ParseCheck("skipped", reason=f"the throwaway charon could not be run: {exc}")
            try:
                return _judge(throwaway, layout, expected, timeout)
            except (subprocess.TimeoutExpired, CharonError) as exc:
                return ParseCheck("skipped", reason=f"the throwaway charon did not finish: {exc}")


def _read_log(throwaway: ThrowawayCharon) -> list[str]:
    try:
        return throwaway.path(RUN_LOG).read_text(errors="replace").splitlines()
    except OSError:
        return []


def _list_conns(throwaway: ThrowawayCharon) -> list[str]:
    proc = throwaway.swanctl("--list-conns", "--raw", timeout=15)
    return re.findall(r"list-conn event \{(\S+) \{", proc.stdout) or re.findall(r"^(\S+): IKE", proc.stdout, re.M)


def _stroke_settled(throwaway: ThrowawayCharon, expected: list[str]) -> bool:
    """starter hands conns to charon one by one over stroke; all of them have had an answer."""
    log = "\n".join(_read_log(throwaway))
    return all(f"received stroke: add connection '{name}'" in log for name in expected)


def _judge(throwaway: ThrowawayCharon, layout: str, expected: list[str], timeout: float) -> ParseCheck:
    """Have the running throwaway daemon load the configuration, and read what it said."""
    result = ParseCheck("ok", tool="swanctl --load-all" if layout == "swanctl" else "starter")
    if layout == "swanctl":
        run = throwaway.swanctl("--load-all", "--noprompt", timeout=timeout)
        output = (run.stdout + run.stderr).splitlines()
    else:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not _stroke_settled(throwaway, expected):
            time.sleep(0.05)
        time.sleep(0.2)  # the last conn's answer follows its "received stroke" line
        output = throwaway.stdout_path.read_text(errors="replace").splitlines()
    loaded = _list_conns(throwaway)
    log = [line for line in _read_log(throwaway) if "[CFG" in line or "[LIB" in line or "[DMN" in line]
    output = [line for line in output if line.strip() and not _NOISE.search(line)]
    problems = [line for line in output if _PROBLEM.search(line) and "successfully loaded" not in line]
    problems += [line.split("] ", 1)[-1] for line in log
                 if re.search(r"not recognized|skipped invalid|invalid|failed to|missing|unknown|line \d+:|"
                              r"unable to|failed", line)
                 and not _NOISE.search(line) and "reading directory failed" not in line]
    failed: dict[str, str] = {}
    for line in output:
        match = re.match(r"loading connection '([^']+)' failed: (.*)", line)
        if match:
            failed[match[1]] = match[2]
    for name in expected:
        if name not in loaded and name not in failed:
            failed[name] = _why_missing(name, log) or "charon did not load it"
    result.output, result.log, result.loaded, result.failed = output, log[-200:], loaded, failed
    result.problems = list(dict.fromkeys(problems))
    if failed or problems or any("syntax error" in line or "invalid config file" in line for line in output):
        result.status = "rejected"
    return result


def _why_missing(name: str, log: list[str]) -> str:
    """The log lines between starter's "add connection 'name'" and the next stroke message."""
    start = next((i for i, line in enumerate(log) if f"received stroke: add connection '{name}'" in line), None)
    if start is None:
        return ""
    reasons = []
    for line in log[start + 1:]:
        if "received stroke:" in line:
            break
        message = line.split("] ", 1)[-1]
        if re.search(r"not recognized|invalid|failed|missing|unknown|unable", message):
            reasons.append(message.strip())
    return "; ".join(reasons)
