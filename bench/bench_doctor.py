#!/usr/bin/env python3
"""Benchmark the doctor's log scan against grep over the same file and the same patterns.

The log is made of real charon output: the successful certificate and EAP connections the lab captured
(``tests/data/logs/success*.server.log``, every level-2 line of a real exchange) repeated with fresh
times, IKE_SA ids, threads, client addresses and identities, with the real failure excerpts of
``tests/data/logs/`` sprinkled in (one connection in 250 fails). The scanner's counts are checked
against what was sprinkled, then its time is compared with

  grep -F -f patterns   (the scanner's message starts as fixed strings: a multi-pattern search)
  grep -E -f patterns   (the same as extended regular expressions)

both with LC_ALL=C, counting matching lines (``-c``), after a run that warms the page cache. The scanner
does more than grep here (line numbers, per-IKE_SA context, refining regexes, counting per rule).

    .venv/bin/python bench/bench_doctor.py              # 100 MB, best of 3
    .venv/bin/python bench/bench_doctor.py --size-mb 20 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wizard.checks.doctor.logrules import LogScanner  # noqa: E402 - after the path set-up above

LOGS = REPO / "tests" / "data" / "logs"
_TIME = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{3}")
_THREAD = re.compile(r"^(\S+ +\S+ \S+) \d\d\[")
_SA = re.compile(r"<([^>|]*\|)?(\d+)>")
_CHILD = re.compile(r"(\{)(\d+)(\})")


def _connection(path: Path) -> list[str]:
    """The lines of one exchange: from the first IKE_SA_INIT to the end, without the shutdown."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "parsed IKE_SA_INIT request" in line)
    return [line for line in lines[start:] if "SIGTERM" not in line and "shutting down" not in line
            and not re.search(r"\]\s*(<[^>]*> )?(destroying|deleting) IKE_SA in state", line)]


def _failure(name: str) -> list[str]:
    """A failure excerpt's exchange lines (product log format), without charon's start-up."""
    lines = (LOGS / name).read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.search(r"\] <[^>]+> ", line)), 0)
    return [line for line in lines[start:] if "SIGTERM" not in line]


class Writer:
    """Rewrites template lines into a continuous log: new times, ids, threads, addresses, identities."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = time.mktime((2025, 11, 29, 0, 0, 0, 0, 0, -1))
        self.sa = 100
        self.child = 100

    def block(self, lines: list[str], client: int) -> str:
        self.sa += 2
        self.child += 1
        sa_ids: dict[str, str] = {}
        address = f"198.18.{client // 250 % 250}.{client % 250 + 2}"
        user = f"user{client}@example.com"
        thread = self.rng.randrange(1, 17)
        out = []
        for line in lines:
            self.clock += self.rng.random() * 0.004
            millis = int(self.clock * 1000) % 1000
            stamp = time.strftime("%b %e %H:%M:%S", time.localtime(self.clock)) + f".{millis:03d}"
            line = _TIME.sub(stamp, line, count=1)
            if self.rng.random() < 0.2:
                thread = self.rng.randrange(1, 17)
            line = _THREAD.sub(lambda m, t=thread: f"{m[1]} {t:02d}[", line, count=1)
            # IKE_SA ids: each template id maps to a fresh one, so every connection is its own IKE_SA.
            line = _SA.sub(lambda m: f"<{m[1] or ''}{sa_ids.setdefault(m[2], str(self.sa + len(sa_ids)))}>", line)
            line = _CHILD.sub(lambda m: f"{{{self.child}}}", line)
            out.append(line.replace("198.18.0.2", address).replace("alice@example.com", user))
        return "\n".join(out) + "\n"


def generate(path: Path, size: int, seed: int, failure_every: int) -> tuple[Counter[str], int]:
    """Write the log; returns the failures sprinkled in (rule -> count) and the connections written."""
    index = json.loads((LOGS / "index.json").read_text())
    successes = [_connection(LOGS / "success.server.log"), _connection(LOGS / "success-eap.server.log")]
    failures = [(name, _failure(name)) for name, entry in sorted(index.items())
                if entry["side"] == "server" and entry["expect"] and entry["origin"] == "lab"]
    failures += [(name, _failure(name)) for name, entry in sorted(index.items())
                 if entry["side"] == "client" and entry["expect"] and entry["origin"] == "lab"]
    scanner = LogScanner()
    # What each failure excerpt alone makes the scanner count (a failure can match several rules).
    probe = Path(tempfile.mkstemp(prefix="bench-doctor-probe")[1])
    per_failure: dict[str, Counter[str]] = {}
    for name, lines in failures:
        probe.write_text("\n".join(lines) + "\n")
        per_failure[name] = Counter({s.rule.code: s.count for s in scanner.scan(probe).found()})
    probe.unlink()
    writer = Writer(seed)
    expected: Counter[str] = Counter()
    connections = 0
    start = (LOGS / "success.server.log").read_text().splitlines()
    first = next(i for i, line in enumerate(start) if "parsed IKE_SA_INIT request" in line)
    with path.open("w") as out:
        out.write("\n".join(start[:first]) + "\n")  # charon's start-up and the connection loading
        written = out.tell()
        while written < size:
            connections += 1
            if connections % failure_every == 0:
                name, lines = failures[(connections // failure_every) % len(failures)]
                text = writer.block(lines, connections)
                expected += per_failure[name]
            else:
                text = writer.block(successes[connections % 7 == 0], connections)
            out.write(text)
            written += len(text)
    return expected, connections


def ere_patterns(scanner: LogScanner) -> list[str]:
    """The scanner's message starts for grep -E: literals escaped, its regex starts translated to POSIX ERE."""
    literals = [re.sub(r"([][.*^$+?(){}|\\])", r"\\\1", lit) for lit in scanner.handlers]
    translated = [r.replace(r"[^\s\[]", "[^][:space:][]").replace(r"\d", "[0-9]").replace(r"\S", "[^[:space:]]")
                  for r in scanner.regex_starts]
    return literals + translated


def best(runs: int, action) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--failure-every", type=int, default=250, help="one failing connection in N")
    parser.add_argument("--keep", metavar="FILE", help="write the log here and keep it")
    args = parser.parse_args()
    if shutil.which("grep") is None:
        print("grep not found", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="bench-doctor-"))
    log = Path(args.keep) if args.keep else workdir / "charon.log"
    try:
        started = time.perf_counter()
        expected, connections = generate(log, int(args.size_mb * 1e6), args.seed, args.failure_every)
        size = log.stat().st_size
        print(f"generated {size / 1e6:.1f} MB, {connections} connections, {sum(expected.values())} failure "
              f"matches sprinkled, in {time.perf_counter() - started:.1f}s: {log}")
        scanner = LogScanner()
        fixed = workdir / "patterns.txt"
        fixed.write_text("\n".join(scanner.literals) + "\n")
        extended = workdir / "patterns.ere"
        extended.write_text("\n".join(ere_patterns(scanner)) + "\n")
        env = dict(os.environ, LC_ALL="C")

        def grep(flag: str, patterns: Path) -> int:
            proc = subprocess.run(["grep", "-c", flag, "-f", str(patterns), str(log)], capture_output=True,
                                  text=True, env=env, check=False)
            return int(proc.stdout.strip() or 0)

        grep("-F", fixed)  # warm the page cache for everyone
        doctor_s, result = best(args.repeat, lambda: scanner.scan(log))
        grep_f_s, grep_f_lines = best(args.repeat, lambda: grep("-F", fixed))
        grep_e_s, grep_e_lines = best(args.repeat, lambda: grep("-E", extended))
        found = Counter({s.rule.code: s.count for s in result.found()})  # type: ignore[union-attr]
        wrong = {code: (found[code], n) for code, n in expected.items() if found[code] != n}
        extra = {code: n for code, n in found.items() if code not in expected}
        print(f"doctor scan:      {doctor_s:7.3f}s  {size / doctor_s / 1e6:7.0f} MB/s  "
              f"{result.lines} lines, {sum(found.values())} failures in {len(found)} rules, "  # type: ignore[union-attr]
              f"{result.established} IKE_SAs established")  # type: ignore[union-attr]
        print(f"grep -F -f ({len(scanner.literals)} patterns): {grep_f_s:7.3f}s  {size / grep_f_s / 1e6:7.0f} MB/s  "
              f"{grep_f_lines} matching lines")
        print(f"grep -E -f ({len(scanner.literals)} patterns): {grep_e_s:7.3f}s  {size / grep_e_s / 1e6:7.0f} MB/s  "
              f"{grep_e_lines} matching lines")
        print(f"ratio doctor/grep -F: {doctor_s / grep_f_s:.2f}   ratio doctor/grep -E: {doctor_s / grep_e_s:.2f}   "
              "(below 1: the doctor is faster)")
        if wrong or extra:
            print(f"MISMATCH: sprinkled vs found {wrong}, unexpected {extra}", file=sys.stderr)
            return 1
        print(f"every sprinkled failure found: {dict(sorted(found.items()))}")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
