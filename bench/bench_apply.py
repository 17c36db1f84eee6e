#!/usr/bin/env python3
"""Benchmark ``swan-wizard apply`` against the Arch Wiki recipe (strongSwan ``pki`` + ``openssl pkcs12``).

Both sides produce the same key material in temporary directories on the same machine, in the same run:

1. full:  RSA-4096 CA, RSA-2048 host and --clients RSA-2048 clients, each with a PKCS#12 bundle and a
          generated password; swan-wizard through its CLI (start-up included) and in-process
          (build_plan + apply), the article's recipe sequentially and with the per-client pipelines
          --jobs at a time.
2. bulk:  --bulk ECDSA-P256 client bundles (ECDSA CA and host); the reference times --bulk-sample clients
          and extrapolates linearly.

Ratio = reference time / swan-wizard time: above 1 Swan Wizard is faster.

    .venv/bin/python bench/bench_apply.py            # default run (a few minutes on 2 cores)
    .venv/bin/python bench/bench_apply.py --quick    # smoke run (seconds)

Only the standard library is imported at module level: swan-wizard's key-generation workers are started by
a forkserver that re-imports this file as their ``__main__``, so it must stay cheap and side-effect free.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

CA_DN = "C=CH, O=strongSwan, CN=strongSwan Root CA"
HOST = "vpn.example.com"

# The article's "Certificates" section, command for command, with `pki` for `ipsec pki` (Debian ships the
# tool as a separate `pki` binary; `ipsec pki` only execs it). Parameters come from the environment so one
# script serves the RSA and the ECDSA runs. `set -euo pipefail` makes a failing `pki` anywhere in a pipe fail
# the run: stderr is thrown away (Debian's pki prints TPM plugin warnings there), so the exit code is the check.
RECIPE = r"""
set -euo pipefail
cd "$WORKDIR"
mkdir -p private cacerts certs p12

setup() {
  pki --gen --type "$CA_TYPE" --size "$CA_SIZE" --outform pem > private/strongswanKey.pem
  chmod 600 private/strongswanKey.pem
  pki --self --ca --lifetime 3650 --in private/strongswanKey.pem --type "$CA_TYPE" \
      --dn "$CA_DN" --outform pem > cacerts/strongswanCert.pem
  pki --gen --type "$KEY_TYPE" --size "$HOST_SIZE" --outform pem > private/vpnHostKey.pem
  chmod 600 private/vpnHostKey.pem
  pki --pub --in private/vpnHostKey.pem --type "$KEY_TYPE" |
    pki --issue --lifetime 730 --cacert cacerts/strongswanCert.pem --cakey private/strongswanKey.pem \
        --dn "C=CH, O=strongSwan, CN=$HOST" --san "$HOST" --flag serverAuth --flag ikeIntermediate \
        --outform pem > certs/vpnHostCert.pem
}

client() {
  local name=$1
  pki --gen --type "$KEY_TYPE" --size "$CLIENT_SIZE" --outform pem > "private/$name.pem"
  chmod 600 "private/$name.pem"
  pki --pub --in "private/$name.pem" --type "$KEY_TYPE" |
    pki --issue --lifetime 730 --cacert cacerts/strongswanCert.pem --cakey private/strongswanKey.pem \
        --dn "C=CH, O=strongSwan, CN=$name" --san "$name" --outform pem > "certs/$name.pem"
  # The article lets openssl prompt for the password; unattended, the admin generates one and keeps it
  # in a 0600 file, which is what swan-wizard does with {generate: true}.
  (umask 077; openssl rand -base64 18 > "p12/$name.password")
  openssl pkcs12 -export -legacy -inkey "private/$name.pem" -in "certs/$name.pem" -name "$name" \
      -certfile cacerts/strongswanCert.pem -caname "strongSwan Root CA" \
      -passout "file:p12/$name.password" -out "p12/$name.p12"
}

case "$1" in
  setup) setup ;;
  clients)
    mapfile -t names < "$NAMES"  # read up front: nothing in client() may eat the list from stdin
    if [ "$JOBS" -le 1 ]; then
      for name in "${names[@]}"; do client "$name"; done
    else
      running=0
      for name in "${names[@]}"; do
        client "$name" &
        running=$((running + 1))
        if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
      done
      while [ "$running" -gt 0 ]; do wait -n; running=$((running - 1)); done
    fi ;;
  *) echo "usage: recipe.sh setup|clients" >&2; exit 64 ;;
esac
"""


class BenchError(RuntimeError):
    """A benchmarked command failed or produced the wrong files: the figures would be meaningless."""


# ---------------------------------------------------------------------------------------------------------
# Measuring wall and CPU time
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float  # user + system seconds of every process that did the work
    # CPU seconds the rest of the machine used meanwhile, and what the hypervisor took (steal): the VM is shared,
    # so a figure measured while something else was busy is flagged rather than silently trusted.
    other: float = 0.0
    steal: float = 0.0

    def __add__(self, o: Sample) -> Sample:
        return Sample(self.wall + o.wall, self.cpu + o.cpu, self.other + o.other, self.steal + o.steal)

    def scaled(self, factor: float) -> Sample:
        return Sample(self.wall * factor, self.cpu * factor, self.other * factor, self.steal * factor)


@dataclass
class Series:
    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return [s.wall for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def min(self) -> float:
        return min(self.walls)

    @property
    def max(self) -> float:
        return max(self.walls)

    @property
    def cpu_per_wall(self) -> float:
        # Median of the per-run ratios: one slow run should not skew the parallelism figure.
        return statistics.median(s.cpu / s.wall for s in self.samples if s.wall > 0)

    @property
    def other_load(self) -> float:
        """The worst run's CPU use by unrelated processes, in cores (0 = the machine was ours)."""
        return max(s.other / s.wall for s in self.samples if s.wall > 0)

    @property
    def steal_load(self) -> float:
        return max(s.steal / s.wall for s in self.samples if s.wall > 0)


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants so their CPU time is counted.

    swan-wizard's key workers are children of a multiprocessing forkserver that outlives the CLI process: it
    is orphaned when the CLI exits, and without a subreaper its CPU time (which includes the workers it
    reaped) would be charged to init and vanish from RUSAGE_CHILDREN.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _rusage_cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _live_children() -> dict[int, float]:
    """CPU seconds of our live children, each including the descendants it has already reaped."""
    import psutil  # a swan-wizard dependency; imported here to keep worker start-up cheap (see the docstring)

    out: dict[int, float] = {}
    for child in psutil.Process().children(recursive=False):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        out[child.pid] = t.user + t.system + t.children_user + t.children_system
    return out


def _child_pids() -> set[int]:
    import psutil

    # Zombies included: an orphan that already exited still has to be reaped for its CPU time to count.
    return {child.pid for child in psutil.Process().children(recursive=False)}


def _reap_new_children(known: set[int], timeout: float = 30.0) -> None:
    """Wait for orphans that were re-parented to us during a run (the CLI's forkserver), so their CPU counts."""
    deadline = time.monotonic() + timeout
    while True:
        new = sorted(_child_pids() - known)
        if not new:
            return
        for pid in new:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            print(f"warning: descendants {new} did not exit; their CPU time is not counted", file=sys.stderr)
            return
        time.sleep(0.005)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat; zeros where unavailable."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0.0, 0.0
    ticks = [int(v) for v in fields[1:9]] + [0] * 8
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq) / _CLOCK_TICKS, steal / _CLOCK_TICKS


def measure(body: Callable[[], None], *, in_process: bool) -> Sample:
    """Wall time of body() and the CPU time it caused in this process (if in_process) and all descendants."""
    before_children = _live_children()
    cpu0 = _rusage_cpu(resource.RUSAGE_CHILDREN) + sum(before_children.values())
    if in_process:
        cpu0 += _rusage_cpu(resource.RUSAGE_SELF)
    busy0, steal0 = _machine_cpu()
    t0 = time.perf_counter()
    body()
    wall = time.perf_counter() - t0
    busy1, steal1 = _machine_cpu()
    if not in_process:
        # Only for subprocess runs: the in-process forkserver is our own long-lived child and must stay.
        _reap_new_children(set(before_children))
    cpu1 = _rusage_cpu(resource.RUSAGE_CHILDREN) + sum(_live_children().values())
    if in_process:
        cpu1 += _rusage_cpu(resource.RUSAGE_SELF)
    cpu = cpu1 - cpu0
    # /proc/stat counts in clock ticks (10 ms): small negative differences are rounding, not load.
    return Sample(wall, cpu, max(0.0, (busy1 - busy0) - cpu), max(0.0, steal1 - steal0))


# ---------------------------------------------------------------------------------------------------------
# The two sides
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """The key material both sides create."""

    ca_key: str  # swan-wizard key type names
    host_key: str
    client_key: str
    clients: list[str]

    def answers_yaml(self) -> str:
        # JSON is YAML: no quoting surprises with '@' in names, and no extra dependency in this script.
        import json

        doc = {
            "version": 1,
            "server": {"address": HOST},
            "ca": {"dn": CA_DN, "key": self.ca_key, "lifetime_days": 3650},
            "host": {"key": self.host_key, "lifetime_days": 730},
            "clients": [{"name": name, "key": self.client_key, "lifetime_days": 730,
                         "p12_password": {"generate": True}, "p12_encryption": "legacy"}
                        for name in self.clients],
        }
        return json.dumps(doc, indent=1) + "\n"


def _pki_params(key: str) -> tuple[str, str]:
    """swan-wizard key type -> (pki --type, pki --size)."""
    kind, _, size = key.partition("-")
    if kind == "rsa":
        return "rsa", size
    if kind == "ecdsa":
        return "ecdsa", size.lstrip("p")
    raise ValueError(f"no pki equivalent for {key}")


def client_names(count: int, prefix: str) -> list[str]:
    return [f"{prefix}{i:04d}@example.com" for i in range(1, count + 1)]


def swan_wizard_command() -> list[str]:
    # The console script installed next to this interpreter is what an admin runs; `./swan-wizard` at the
    # top of the clone would also run the bootstrap first, which is not part of an apply.
    script = Path(sys.executable).with_name("swan-wizard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wizard.cli"]


def _count_p12(folder: Path, expected: int) -> None:
    found = [p for p in folder.rglob("*.p12") if p.stat().st_size > 0]
    if len(found) != expected:
        raise BenchError(f"expected {expected} PKCS#12 bundles under {folder}, found {len(found)}")


def files_under(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def run_swan_cli(scenario: Scenario, work: Path) -> Sample:
    answers = work / "answers.yaml"
    answers.write_text(scenario.answers_yaml())
    root = work / "root"
    root.mkdir()
    log = work / "swan-wizard.log"

    def body() -> None:
        with log.open("wb") as out:
            rc = subprocess.run([*swan_wizard_command(), "apply", str(answers), "--root", str(root)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise BenchError(f"swan-wizard apply exited {rc}: " + " | ".join(tail))

    sample = measure(body, in_process=False)
    _count_p12(root / "etc" / "swan-wizard" / "clients", len(scenario.clients))
    return sample


def run_swan_inprocess(scenario: Scenario, work: Path) -> Sample:
    from wizard.fs.paths import Root
    from wizard.model import answers_file
    from wizard.model.secrets import SecretSource
    from wizard.plan.apply import apply
    from wizard.plan.planner import build_plan

    answers_path = work / "answers.yaml"
    answers_path.write_text(scenario.answers_yaml())
    (work / "root").mkdir()
    answers = answers_file.load(answers_path)  # parsing is not part of the timed path
    root = Root.of(work / "root")
    source = SecretSource(base_dir=work)

    def body() -> None:
        plan = build_plan(answers, root, source)
        apply(plan, root, run_commands=False)

    sample = measure(body, in_process=True)
    _count_p12(root.path / "etc" / "swan-wizard" / "clients", len(scenario.clients))
    return sample


def _run_recipe(recipe: Path, step: str, env: dict[str, str]) -> Sample:
    def body() -> None:
        # stderr holds pki's TPM warnings on Debian: dropped; the exit code (errexit + pipefail) is checked.
        rc = subprocess.run(["bash", str(recipe), step], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        if rc != 0:
            raise BenchError(f"reference recipe step {step!r} exited {rc} (rerun by hand: "
                             f"{' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items() if k.isupper())} "
                             f"bash {recipe} {step})")

    return measure(body, in_process=False)


def run_reference(scenario: Scenario, work: Path, recipe: Path, jobs: int,
                  clients: Sequence[str] | None = None) -> tuple[Sample, Sample]:
    """(CA + host, clients) times of the article's recipe; `clients` defaults to all of the scenario's."""
    names = list(scenario.clients if clients is None else clients)
    names_file = work / "names.txt"
    names_file.write_text("".join(f"{n}\n" for n in names))
    ca_type, ca_size = _pki_params(scenario.ca_key)
    key_type, host_size = _pki_params(scenario.host_key)
    client_type, client_size = _pki_params(scenario.client_key)
    if client_type != key_type:
        raise ValueError("the recipe uses one key type for host and clients")
    env = {**os.environ, "WORKDIR": str(work), "CA_DN": CA_DN, "HOST": HOST, "CA_TYPE": ca_type,
           "CA_SIZE": ca_size, "KEY_TYPE": key_type, "HOST_SIZE": host_size, "CLIENT_SIZE": client_size,
           "JOBS": str(jobs), "NAMES": str(names_file)}
    setup = _run_recipe(recipe, "setup", env)
    issued = _run_recipe(recipe, "clients", env)
    _count_p12(work / "p12", len(names))
    return setup, issued


# ---------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------


def table(rows: list[list[str]], right: Sequence[int] = ()) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def fmt_x(ratio: float) -> str:
    return f"{ratio:.2f}x"


def series_row(s: Series) -> list[str]:
    runs = " ".join(f"{w:.2f}" for w in s.walls)
    return [s.label, fmt_s(s.median), fmt_s(s.min), fmt_s(s.max), f"{s.cpu_per_wall:.2f}", f"{s.other_load:.2f}",
            runs]


SERIES_HEADER = ["variant", "median", "min", "max", "CPU/wall", "other load", "runs (s)"]


def load_note(series: Sequence[Series]) -> str:
    other = max(s.other_load for s in series)
    steal = max(s.steal_load for s in series)
    verdict = ("the machine was otherwise about idle" if other < 0.25 else
               "OTHER PROCESSES WERE BUSY during some runs: treat those figures with care")
    return (f"   other load = CPU used by unrelated processes during the worst run, in cores (max {other:.2f}: "
            f"{verdict}); hypervisor steal max {steal:.2f} cores.")


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if "strongSwan" in line or "OpenSSL" in line or re.match(r"\S+\t", line):
            return line.strip()
    return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fs_type(path: Path) -> str:
    # fsync cost depends on the filesystem; swan-wizard fsyncs every file and directory it writes.
    best, kind, device = "", "unknown", ""
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mount, fstype, *_ = line.split()
            if (str(path) + "/").startswith(mount.rstrip("/") + "/") and len(mount) >= len(best):
                best, kind, device = mount, fstype, dev
    except OSError:
        pass
    return f"{kind} (mounted on {best or '?'}{_ext4_journal(device) if kind == 'ext4' else ''})"


def _ext4_journal(device: str) -> str:
    """An ext4 without a journal searches past recently deleted inodes for every new file (the kernel's
    recently_deleted()): a run right after many files were deleted creates files several times slower."""
    name = Path(device).name
    try:
        journaled = any(entry.name.startswith(name + "-") for entry in Path("/proc/fs/jbd2").iterdir())
    except OSError:
        journaled = False
    return ", journaled" if journaled else ", NO JOURNAL: file creation slows down after mass deletions"


def _source_state() -> str:
    """The commit measured and whether wizard/ had uncommitted changes (read-only git queries)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "wizard"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (f" + {len(dirty)} uncommitted change(s) under wizard/" if dirty else "")


def header(args: argparse.Namespace, tmp: Path) -> str:
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    from wizard import __version__

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "\n".join([
        f"Swan Wizard apply benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        f"command:      {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}",
        f"source:       {_source_state()}",
        f"CPU:          {_cpu_model()}; {cores} cores usable; Linux {platform.release()}",
        f"temp dir:     {tmp} on {_fs_type(tmp)}",
        f"swan-wizard:  {__version__} ({' '.join(swan_wizard_command())}), Python {platform.python_version()}, "
        f"cryptography {cryptography.__version__} on {backend.openssl_version_text()}",
        f"strongSwan:   {_first_line(['pki', '--help'])} "
        f"(package {_first_line(['dpkg-query', '-W', 'strongswan-pki']).replace(chr(9), ' ')})",
        f"openssl:      {_first_line(['openssl', 'version'])}",
        "Times are wall-clock seconds. RSA key generation time is random (prime search), so every variant",
        f"runs {args.repeat} time(s), interleaved; median, min and max are shown. CPU/wall = user+sys CPU of all",
        "processes involved / wall time: about 1 = one core busy, about 2 = both cores busy.",
    ])


# ---------------------------------------------------------------------------------------------------------
# The benchmarks
# ---------------------------------------------------------------------------------------------------------


def _fresh(base: Path, name: str) -> Path:
    work = base / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


def bench_full(args: argparse.Namespace, base: Path, recipe: Path) -> str:
    scenario = Scenario("rsa-4096", "rsa-2048", "rsa-2048", client_names(args.clients, "client"))
    cli = Series("swan-wizard apply (CLI, start-up included)")
    inproc = Series("swan-wizard build_plan + apply (in-process)")
    seq = Series("reference: article recipe, sequential")
    par = Series(f"reference: per-client pipelines {args.jobs} at a time")
    for n in range(args.repeat):
        # Interleaved, so slow drift of the machine (other load, thermal) hits every variant alike.
        print(f"  full apply, run {n + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
        cli.samples.append(run_swan_cli(scenario, _fresh(base, "full-cli")))
        inproc.samples.append(run_swan_inprocess(scenario, _fresh(base, "full-inproc")))
        seq.samples.append(sum(run_reference(scenario, _fresh(base, "full-ref1"), recipe, 1), Sample(0, 0)))
        par.samples.append(sum(run_reference(scenario, _fresh(base, "full-refN"), recipe, args.jobs),
                               Sample(0, 0)))
        written = (files_under(base / "full-cli" / "root"), files_under(base / "full-ref1"))
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
    out = [f"1. Full apply: CA rsa-4096, host rsa-2048, {args.clients} clients rsa-2048 with PKCS#12 "
           "(legacy 3DES) and a generated password",
           "",
           table([SERIES_HEADER, *(series_row(s) for s in (cli, inproc, seq, par))], right=(1, 2, 3, 4, 5)),
           load_note([cli, inproc, seq, par]),
           f"   files written: swan-wizard {written[0]} (each fsynced, plus backups, configs and client profiles), "
           f"reference {written[1]} (keys, certificates, PKCS#12, passwords, the recipe's name list)",
           "",
           "   Ratio = reference / swan-wizard (>1: Swan Wizard is faster)",
           ""]
    rows = [["reference", "vs CLI (median)", "vs CLI (min)", "vs in-process (median)"]]
    for ref in (seq, par):
        rows.append([ref.label.removeprefix("reference: "), fmt_x(ref.median / cli.median),
                     fmt_x(ref.min / cli.min), fmt_x(ref.median / inproc.median)])
    out.append(table(rows, right=(1, 2, 3)))
    out.append("")
    out.append("   The in-process path excludes interpreter start-up, imports and parsing the answers; its first run "
               "also starts the\n   multiprocessing forkserver that the key-generation workers are forked from "
               "(later runs reuse it).")
    return "\n".join(out)


def bench_bulk(args: argparse.Namespace, base: Path, recipe: Path) -> str:
    total = args.bulk
    sample_n = min(args.bulk_sample, total)
    extrapolated = sample_n < total
    scenario = Scenario("ecdsa-p256", "ecdsa-p256", "ecdsa-p256", client_names(total, "c"))
    cli = Series("swan-wizard apply (CLI)")
    refs = {jobs: (Series(f"reference, {'sequential' if jobs == 1 else f'{jobs} at a time'}"), Series(""),
                   Series("")) for jobs in sorted({1, args.jobs})}
    for n in range(args.repeat):
        print(f"  bulk, run {n + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
        cli.samples.append(run_swan_cli(scenario, _fresh(base, "bulk-cli")))
        written = files_under(base / "bulk-cli" / "root")
        for jobs, (estimate, setup_s, clients_s) in refs.items():
            setup, issued = run_reference(scenario, _fresh(base, f"bulk-ref{jobs}"), recipe, jobs,
                                          scenario.clients[:sample_n])
            setup_s.samples.append(setup)
            clients_s.samples.append(issued)
            # Linear extrapolation: CA + host once, then the measured per-client cost times `total`.
            estimate.samples.append(setup + issued.scaled(total / sample_n))
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()

    how = f"EXTRAPOLATED from {sample_n}" if extrapolated else "measured"
    rows = [["variant", f"{total} clients, median", "min", "max", "ms/client", "CPU/wall", "other load", "how",
             "runs (s)"]]

    def row(s: Series, how: str) -> list[str]:
        return [s.label, fmt_s(s.median), fmt_s(s.min), fmt_s(s.max), f"{1000 * s.median / total:.1f}",
                f"{s.cpu_per_wall:.2f}", f"{s.other_load:.2f}", how, " ".join(f"{w:.1f}" for w in s.walls)]

    rows.append(row(cli, f"measured, all {total}"))
    rows += [row(estimate, how) for estimate, _setup, _clients in refs.values()]
    out = [f"2. Bulk: {total} ECDSA-P256 client bundles (key, certificate, PKCS#12), ECDSA-P256 CA and host"]
    if extrapolated:
        out.append(f"   The reference figures are EXTRAPOLATED, not measured: CA + host measured once, plus the time "
                   f"measured for {sample_n} clients x {total}/{sample_n}.")
    out += ["", table(rows, right=(1, 2, 3, 4, 5, 6)),
            load_note([cli, *(estimate for estimate, _setup, _clients in refs.values())]),
            f"   files written by swan-wizard: {written} ({written / total:.1f} per client, each fsynced); "
            "the reference writes 4 per client.", ""]
    detail = [["reference measurement", "CA + host", f"{sample_n} clients", "ms/client (marginal)"]]
    for estimate, setup_s, clients_s in refs.values():
        detail.append([estimate.label, fmt_s(setup_s.median), fmt_s(clients_s.median),
                       f"{1000 * clients_s.median / sample_n:.1f}"])
    out += [table(detail, right=(1, 2, 3)), "", "   Ratio = reference / swan-wizard (>1: Swan Wizard is faster)", ""]
    ratio_rows = [["reference", "vs CLI (median)", "vs CLI (min)"]]
    for estimate, _setup, _clients in refs.values():
        ratio_rows.append([estimate.label, fmt_x(estimate.median / cli.median), fmt_x(estimate.min / cli.min)])
    out.append(table(ratio_rows, right=(1, 2)))
    cores = cli.cpu_per_wall
    verdict = ("yes: more than one core was busy" if cores > 1.2 else
               "NO: about one core was busy (the work ran serially)")
    out += ["", f"   swan-wizard used both cores? CPU/wall = {cores:.2f} -> {verdict}"]
    return "\n".join(out)


def bench_profile(args: argparse.Namespace, base: Path) -> str:
    """cProfile of the in-process path for an ECDSA bulk apply: where swan-wizard's time goes."""
    import cProfile
    import io
    import pstats

    from wizard.fs.paths import Root
    from wizard.model import answers_file
    from wizard.model.secrets import SecretSource
    from wizard.plan.apply import apply
    from wizard.plan.planner import build_plan

    scenario = Scenario("ecdsa-p256", "ecdsa-p256", "ecdsa-p256", client_names(args.profile_clients, "c"))
    work = _fresh(base, "profile")
    (work / "answers.yaml").write_text(scenario.answers_yaml())
    (work / "root").mkdir()
    answers = answers_file.load(work / "answers.yaml")
    root = Root.of(work / "root")
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    plan = build_plan(answers, root, SecretSource(base_dir=work))
    apply(plan, root, run_commands=False)
    profiler.disable()
    wall = time.perf_counter() - t0
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(r"wizard/|pkcs12|fsync|sign|generate", 18)
    stats.sort_stats("tottime").print_stats(10)
    body = "\n".join(line for line in text.getvalue().splitlines() if line.strip())
    return (f"3. Profile: in-process build_plan + apply, {args.profile_clients} ECDSA-P256 clients, "
            f"{wall:.2f} s under cProfile (profiling inflates Python-heavy code more than C code)\n\n{body}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, help="RSA-2048 clients in the full apply (default 20; quick 3)")
    p.add_argument("--bulk", type=int, help="ECDSA clients in the bulk run (default 1000; quick 50)")
    p.add_argument("--bulk-sample", type=int,
                   help="clients the reference really issues in the bulk run (default 100; quick 10)")
    p.add_argument("--repeat", type=int, help="runs of every variant (default 3; quick 1)")
    p.add_argument("--jobs", type=int, default=2, help="per-client pipelines at a time in the parallel "
                                                       "reference (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 clients, bulk 50, sample 10, 1 run")
    p.add_argument("--only", nargs="+", choices=["full", "bulk", "profile"],
                   help="run only these parts (default: full bulk; profile runs only when named)")
    p.add_argument("--profile-clients", type=int, default=200, help="ECDSA clients for --only profile")
    p.add_argument("--tmpdir", type=Path, help="where the temporary directory goes (default: the system's)")
    args = p.parse_args(argv)
    quick = {"clients": 3, "bulk": 50, "bulk_sample": 10, "repeat": 1}
    full = {"clients": 20, "bulk": 1000, "bulk_sample": 100, "repeat": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("clients", "bulk", "bulk_sample", "repeat", "jobs", "profile_clients"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.only = args.only or ["full", "bulk"]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("pki", "openssl", "bash"):
        if shutil.which(tool) is None:
            print(f"bench_apply: {tool} not found (strongSwan's pki is in the strongswan-pki package)",
                  file=sys.stderr)
            return 2
    subreaper = become_subreaper()
    with tempfile.TemporaryDirectory(prefix="swan-bench-", dir=args.tmpdir) as tmp_name:
        tmp = Path(tmp_name)
        recipe = tmp / "recipe.sh"
        recipe.write_text(RECIPE)
        base = tmp / "runs"
        base.mkdir()
        print(header(args, tmp))
        if not subreaper:
            print("warning: cannot become a child subreaper; CPU of swan-wizard's orphaned key workers "
                  "may be missing from CPU/wall")
        # Warm the page cache for both sides' binaries and Python modules: the first timed run should not pay
        # for disk reads the others do not.
        subprocess.run([*swan_wizard_command(), "--version"], capture_output=True, check=False)
        subprocess.run(["pki", "--help"], capture_output=True, check=False)
        subprocess.run(["openssl", "version"], capture_output=True, check=False)
        parts: list[tuple[str, Callable[[], str]]] = [
            ("full", lambda: bench_full(args, base, recipe)),
            ("bulk", lambda: bench_bulk(args, base, recipe)),
            ("profile", lambda: bench_profile(args, base)),
        ]
        try:
            for name, run in parts:
                if name in args.only:
                    print()
                    print(run(), flush=True)
        except BenchError as exc:
            print(f"bench_apply: {exc}", file=sys.stderr)
            return 1
        finally:
            stop_helpers()
    return 0


def stop_helpers() -> None:
    """Stop and reap the forkserver and resource tracker the in-process runs started.

    Left alone they would outlive this script as orphans of init, which is untidy on a shared machine. The
    ``_stop`` methods are private (CPython's tests use them), hence the defensive calls.
    """
    import multiprocessing.forkserver
    import multiprocessing.resource_tracker

    for helper in (getattr(multiprocessing.forkserver, "_forkserver", None),
                   getattr(multiprocessing.resource_tracker, "_resource_tracker", None)):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            with contextlib.suppress(Exception):
                stop()


if __name__ == "__main__":
    sys.exit(main())
