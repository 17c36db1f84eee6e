#!/usr/bin/env python3
"""Benchmark the terminal wizard: start-up, and the live log pane under charon's most verbose logging.

1. start-up: from spawning ``python`` to the first interactive screen (the welcome screen mounted and
   painted), against a minimal Textual app (one Static) measured the same way in the same run; ratio =
   wizard / minimal. Both run headless at 80x24, alternating, median of --runs.
2. log pane throughput: a separate writer process appends charon-format lines to the log file at a fixed
   rate (like charon at ``default = 4``); the pane follows it while a key is sent every 50 ms and its binding
   stamps when it ran. For each rate: lines shown per second, lines dropped, key latency p50/p99. The
   headline is the highest rate whose p99 key latency stays under 100 ms with nothing dropped.
3. memory: one million lines streamed through the pane (writer flat out), in a fresh process: RSS while the
   pane holds its ring (50 000 lines) against the same app with 100 lines, and the peak RSS of the run.

    .venv/bin/python bench/bench_tui.py            # default run (about a minute)
    .venv/bin/python bench/bench_tui.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# -- 1. start-up -------------------------------------------------------------------------------------

_CHILD_COMMON = """
import sys, time
sys.path.insert(0, {repo!r})
"""

_WIZARD = _CHILD_COMMON + """
from screens.app import create_app
app = create_app({root!r})
def check():
    if type(app.screen).__name__ == "WelcomeScreen" and app.screen.is_mounted:
        timer.stop()
        app.call_after_refresh(lambda: (print(time.time(), flush=True), app.exit()))
def arm():
    global timer
    timer = app.set_interval(0.001, check)
app.call_later(arm)
app.run(headless=True, size=(80, 24))
"""

_MINIMAL = _CHILD_COMMON + """
from textual.app import App
from textual.widgets import Static
class Minimal(App):
    def compose(self):
        yield Static("hello")
app = Minimal()
def check():
    if app.screen.is_mounted and app.screen.query(Static):
        timer.stop()
        app.call_after_refresh(lambda: (print(time.time(), flush=True), app.exit()))
def arm():
    global timer
    timer = app.set_interval(0.001, check)
app.call_later(arm)
app.run(headless=True, size=(80, 24))
"""


def _time_child(code: str) -> float:
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                         env={**os.environ, "TEXTUAL": ""})
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1]) - started


def bench_startup(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        wizard = _WIZARD.format(repo=str(REPO), root=tmp)
        minimal = _MINIMAL.format(repo=str(REPO))
        _time_child(minimal)  # warm the page cache and .pyc files for both
        _time_child(wizard)
        w, m = [], []
        for _ in range(runs):
            m.append(_time_child(minimal))
            w.append(_time_child(wizard))
    return {"wizard": statistics.median(w), "minimal": statistics.median(m),
            "ratio": statistics.median(w) / statistics.median(m)}


# -- 2./3. the log pane --------------------------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys, time
    path, rate, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    groups = ("IKE", "CFG", "NET", "KNL", "ENC", "CHD")
    def line(n):
        return (f"Nov 29 19:29:11.{n % 1000:03d} {n % 16:02d}[{groups[n % 6]}{n % 5}] <IPSec-IKEv2|{n % 9}> "
                f"sending packet: from 198.18.0.1[4500] to 198.18.0.{n % 250}[4500] ({100 + n % 1400} bytes) #{n}\\n")
    chunk = max(rate // 100, 1) if rate else 5000
    with open(path, "a", buffering=1 << 20) as f:
        start = time.monotonic()
        for first in range(0, total, chunk):
            f.write("".join(line(n) for n in range(first, min(first + chunk, total))))
            f.flush()
            if rate:
                ahead = (first + chunk) / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
""")


def _pane_app(path: Path, capacity: int) -> Any:
    from textual.app import App, ComposeResult
    from textual.binding import Binding

    from screens.widgets.logpane import LogPane, LogView

    class PaneApp(App[None]):
        BINDINGS = [Binding("k", "ping", "Ping", show=False)]  # noqa: RUF012

        def __init__(self) -> None:
            super().__init__()
            self.pinged: float | None = None

        def compose(self) -> ComposeResult:
            yield LogPane(path, capacity=capacity, id="log")

        def on_mount(self) -> None:
            self.query_one(LogView).focus()

        def action_ping(self) -> None:
            self.pinged = time.perf_counter()

    return PaneApp()


async def _stream(rate: int, total: int, capacity: int, ping: bool) -> dict[str, float]:
    from textual import events

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "charon.log"
        path.write_text("")
        app = _pane_app(path, capacity)
        latencies: list[float] = []
        async with app.run_test(size=(120, 40)):
            pane = app.query_one("#log")
            writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(rate), str(total)])
            started = time.perf_counter()
            try:
                while pane.buffer.received + pane.dropped < total:
                    if ping:
                        app.pinged = None
                        sent = time.perf_counter()
                        app.post_message(events.Key("k", "k"))
                        while app.pinged is None:
                            await asyncio.sleep(0.001)
                            if time.perf_counter() - sent > 5:
                                raise RuntimeError("a key went unanswered for 5 s")
                        latencies.append(app.pinged - sent)
                    await asyncio.sleep(0.05)
                    if writer.poll() is not None and time.perf_counter() - started > 600:
                        break
                elapsed = time.perf_counter() - started
            finally:
                writer.wait(60)
            result = {"rate": rate, "shown_per_s": pane.buffer.received / elapsed, "received": pane.buffer.received,
                      "dropped": pane.dropped, "held": len(pane.buffer.lines), "seconds": elapsed,
                      "rss": _rss_now_mib()}
        if latencies:
            latencies.sort()
            result["p50_ms"] = 1000 * latencies[len(latencies) // 2]
            result["p99_ms"] = 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            result["max_ms"] = 1000 * latencies[-1]
        return result


def _rss_mib() -> float:
    """Peak resident set size of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_now_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / (1024 * 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, lower rates, 200k lines")
    parser.add_argument("--runs", type=int, default=None, help="start-up runs per app (default 7; quick 3)")
    parser.add_argument("--memory", type=int, metavar="LINES", help=argparse.SUPPRESS)  # internal: part 3's child
    args = parser.parse_args()
    if args.memory:
        return memory(args.memory)
    runs = args.runs or (3 if args.quick else 7)
    rates = [2_000, 10_000, 30_000] if args.quick else [2_000, 10_000, 20_000, 50_000, 100_000, 200_000]
    seconds = 2 if args.quick else 4
    million = 200_000 if args.quick else 1_000_000
    print(f"Swan Wizard TUI benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")

    s = bench_startup(runs)
    print(f"\n1. start-up to the first interactive screen (median of {runs}, headless 80x24)")
    print(f"   swan-wizard welcome screen  {s['wizard'] * 1000:7.0f} ms")
    print(f"   minimal Textual app         {s['minimal'] * 1000:7.0f} ms")
    print(f"   ratio                       {s['ratio']:7.2f}x")

    print("\n2. log pane: a writer process at a fixed rate, a key every 50 ms (ring of 50 000 lines)")
    print(f"   {'rate/s':>8} {'shown/s':>9} {'dropped':>8} {'key p50':>8} {'key p99':>8} {'key max':>8}")
    best = 0
    for rate in rates:
        r = asyncio.run(_stream(rate, rate * seconds, 50_000, ping=True))
        print(f"   {rate:>8} {r['shown_per_s']:>9.0f} {int(r['dropped']):>8} {r['p50_ms']:>6.1f}ms "
              f"{r['p99_ms']:>6.1f}ms {r['max_ms']:>6.1f}ms")
        if r["p99_ms"] < 100 and r["dropped"] == 0:
            best = max(best, rate)
    print(f"   highest rate with every line shown and p99 key latency < 100 ms: {best} lines/s")

    # In a fresh process, so the peak RSS belongs to this run alone.
    out = subprocess.run([sys.executable, __file__, "--memory", str(million)], capture_output=True, text=True,
                         timeout=1800, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    m = dict(item.split("=") for item in out.stdout.split())
    print(f"\n3. {million} lines, writer flat out (ring of 50 000 lines), in a fresh process")
    print(f"   through the pane in {float(m['seconds']):.1f} s ({float(m['shown_per_s']):.0f} lines/s shown), "
          f"{m['dropped']} dropped on the way, {m['held']} held; key p99 {float(m['p99_ms']):.1f} ms")
    print(f"   RSS holding the last 50 000 lines: {float(m['full']):.0f} MiB; the same app with 100 lines: "
          f"{float(m['idle']):.0f} MiB; peak RSS over the whole run: {float(m['peak']):.0f} MiB")
    return 0


def memory(total: int) -> int:
    """Child of main(): peak RSS after ``total`` lines, against the same app after 100 lines."""
    idle = asyncio.run(_stream(0, 100, 50_000, ping=False))["rss"]
    r = asyncio.run(_stream(0, total, 50_000, ping=True))
    print(f"seconds={r['seconds']} shown_per_s={r['shown_per_s']} dropped={int(r['dropped'])} "
          f"held={int(r['held'])} p99_ms={r['p99_ms']} idle={idle} full={r['rss']} peak={_rss_mib()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
