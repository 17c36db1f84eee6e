#!/usr/bin/env python3
"""Benchmark ``swan-wizard client add`` with many clients at once, on one core and on every core.

One answers file and root are prepared (CA, host, one client; the defaults: RSA-4096 CA, RSA-2048 keys).
Then, for each configuration, a fresh copy of them gets ``client add`` of --clients new names in one
command, in a worker process pinned to that many CPUs (sched_setaffinity: what ``taskset`` does). The
worker runs the same code as the CLI (``wizard.plan.clients.add``: answers change, plan, apply) and reports the
time of each phase, then times one more ``client add`` of a single name on top (every command re-reads
the existing clients' keys). Key generation runs in wizard.pki.pool's process pool, which sizes itself from
the CPUs it may use. Speedup = time on 1 CPU / time on N CPUs.

The "+fix" rows patch, in the worker only, what bounds the pool today: cryptography checks every RSA
private key it loads (about 35 ms for RSA-2048, nearly the 45 ms of generating it), and wizard.pki loads
each key its workers made (``keys.load_der``) and each key on disk (``encode.load_key_pem``) with that check,
in the parent process. The patch loads them with ``unsafe_skip_rsa_key_validation=True`` (the keys are the
wizard's own), which is the change proposed for wizard/pki.

    .venv/bin/python bench/bench_clients.py                 # 1000 clients (a few minutes on 2 cores)
    .venv/bin/python bench/bench_clients.py --clients 50    # smoke run

Only the standard library is imported at module level: the key-generation workers are started by a
forkserver that re-imports this file as their ``__main__``, so it must stay cheap and side-effect free.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ANSWERS = """\
version: 1
server: {address: vpn.example.com}
clients:
  - {name: first@example.com}
variants:
  ikev2-cert: {}
"""


def _names(count: int) -> list[str]:
    return [f"user{i:05d}@example.com" for i in range(count)]


def _skip_rsa_check(keys, encode) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    def load_der(data: bytes):  # type: ignore[no-untyped-def]
        return serialization.load_der_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)

    original_pem = encode.load_key_pem

    def load_key_pem(data: bytes, passphrase: bytes | None = None, fresh: bool = False):  # type: ignore[no-untyped-def]
        if passphrase:
            return original_pem(data, passphrase, fresh)
        return serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)

    keys.load_der = load_der
    encode.load_key_pem = load_key_pem


def worker(workdir: Path, count: int, cpus: int, fix: bool) -> dict[str, float]:
    """Runs in the pinned child: `client add` of `count` names, timed by phase, then one more."""
    os.sched_setaffinity(0, set(range(cpus)))
    sys.path.insert(0, str(REPO))
    from wizard.certs import materials
    from wizard.fs.paths import Root
    from wizard.pki import encode, keys
    from wizard.pki.keytypes import KeyType
    from wizard.plan import clients
    from wizard.plan import planner as planner_module

    if fix:
        _skip_rsa_check(keys, encode)

    timings: dict[str, float] = {"keys": 0.0, "plan": 0.0, "apply": 0.0}
    original_keys, original_plan, original_apply = keys.generate_keys, clients.build_plan, clients.apply

    def timed(name: str, func):  # type: ignore[no-untyped-def]
        def run(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                timings[name] += time.perf_counter() - start
        return run

    keys.generate_keys = timed("keys", original_keys)  # materials calls it through the module
    clients.build_plan = timed("plan", original_plan)
    clients.apply = timed("apply", original_apply)
    del materials, planner_module
    target = clients.Target(workdir / "answers.yaml", Root.of(workdir / "root"), report=lambda _line: None)
    start = time.perf_counter()
    outcome = clients.add(target, _names(count))
    timings["total"] = time.perf_counter() - start
    timings["files"] = float(outcome.changed_files)
    timings["pool_workers"] = float(keys.pool_workers([KeyType.RSA_2048] * count))
    result = dict(timings)  # the phases of the bulk add only
    start = time.perf_counter()
    clients.add(target, ["one-more@example.com"])
    result["next"] = time.perf_counter() - start
    return result


def keys_only(count: int, cpus: int, fix: bool) -> float:
    """Runs in a pinned child: wizard.pki.keys.generate_keys for `count` RSA-2048 keys, nothing else."""
    os.sched_setaffinity(0, set(range(cpus)))
    sys.path.insert(0, str(REPO))
    from wizard.pki import encode, keys
    from wizard.pki.keytypes import KeyType

    if fix:
        _skip_rsa_check(keys, encode)
    start = time.perf_counter()
    keys.generate_keys([KeyType.RSA_2048] * count)
    return time.perf_counter() - start


def run_keys_only(count: int, cpus: int, fix: bool) -> float:
    proc = subprocess.run([sys.executable, __file__, "--keys-only", "--clients", str(count), "--cpus", str(cpus),
                           *(["--fix"] if fix else [])], capture_output=True, text=True, cwd=REPO, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"key generation with {cpus} CPU(s) failed:\n{proc.stderr}")
    return float(proc.stdout.strip().splitlines()[-1])


def prepare(base: Path) -> Path:
    template = base / "template"
    template.mkdir()
    (template / "answers.yaml").write_text(ANSWERS)
    proc = subprocess.run([sys.executable, "-m", "wizard.cli", "apply", str(template / "answers.yaml"), "--root",
                           str(template / "root")], capture_output=True, text=True, cwd=REPO, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"apply failed: {proc.stderr}")
    return template


def run_pinned(template: Path, base: Path, count: int, cpus: int, fix: bool) -> dict[str, float]:
    work = base / f"cpus-{cpus}{'-fix' if fix else ''}"
    shutil.copytree(template, work, symlinks=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", str(work), "--clients", str(count),
                           "--cpus", str(cpus), *(["--fix"] if fix else [])],
                          capture_output=True, text=True, cwd=REPO, timeout=3600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"worker with {cpus} CPU(s) failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process"] = wall
    clients_dir = work / "root/etc/swan-wizard/clients"
    made = sum(1 for d in clients_dir.iterdir() if (d / f"{d.name}.mobileconfig").is_file())
    if made != count + 2:
        raise SystemExit(f"expected {count + 2} clients with profiles, found {made}")
    shutil.rmtree(work)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--cpus", type=int, nargs="*", help="CPU counts to compare (default: 1 and all)")
    parser.add_argument("--no-fix", action="store_true", help="skip the rows with the proposed pki fix")
    parser.add_argument("--keys", type=int, default=200, help="keys for the key-generation-only runs (0: none)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keys-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fix", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.clients, args.cpus[0], args.fix)))
        return
    if args.keys_only:
        print(keys_only(args.clients, args.cpus[0], args.fix))
        return
    available = len(os.sched_getaffinity(0))
    counts = args.cpus or sorted({1, available})
    configs = [(cpus, False) for cpus in counts]
    if not args.no_fix:
        configs += [(cpus, True) for cpus in counts]
    print(f"swan-wizard client add: {args.clients} clients in one command (RSA-2048 keys, RSA-4096 CA, "
          f"PKCS#12 + 5 profiles + README each)")
    print(f"machine: {platform.machine()}, {available} CPUs available, Python {platform.python_version()}, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    if args.keys:
        print(f"wizard.pki.keys.generate_keys alone, {args.keys} RSA-2048 keys:")
        alone = {config: run_keys_only(args.keys, *config) for config in configs}
        for (cpus, fix), seconds in alone.items():
            print(f"  {cpus} CPU(s){' +fix' if fix else '     '} {seconds:6.1f} s  {args.keys / seconds:5.1f} keys/s  "
                  f"speedup vs 1 CPU {alone[(1, fix)] / seconds if (1, fix) in alone else float('nan'):.2f}x")
    with tempfile.TemporaryDirectory(prefix="bench-clients-") as tmp:
        base = Path(tmp)
        template = prepare(base)
        results = {config: run_pinned(template, base, args.clients, *config) for config in configs}
    print(f"{'CPUs':<8} {'pool':>4} {'total s':>8} {'keys s':>7} {'plan s':>7} {'apply s':>8} {'files':>6} "
          f"{'clients/s':>9} {'next add s':>10}")
    for (cpus, fix), r in results.items():
        rest = r["plan"] - r["keys"]
        label = f"{cpus}{' +fix' if fix else ''}"
        print(f"{label:<8} {int(r['pool_workers']):>4} {r['total']:>8.1f} {r['keys']:>7.1f} {rest:>7.1f} "
              f"{r['apply']:>8.1f} {int(r['files']):>6} {args.clients / r['total']:>9.1f} {r['next']:>10.1f}")
    for fix in (False, True):
        rows = {cpus: r for (cpus, f), r in results.items() if f == fix}
        if len(rows) > 1:
            one, most = rows[min(rows)], rows[max(rows)]
            print(f"speedup {max(rows)} CPUs vs 1{' (+fix)' if fix else ''}: total "
                  f"{one['total'] / most['total']:.2f}x, key generation {one['keys'] / most['keys']:.2f}x")
    print("(plan s excludes key generation; apply = writing every file atomically with fsync, and backups;\n"
          " next add s = one more `client add` on top, which re-reads every existing key;\n"
          f" load average after: {os.getloadavg()[0]:.2f}: other work on the machine competes for the same CPUs)")


if __name__ == "__main__":
    main()
