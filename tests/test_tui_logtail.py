"""wizard.system.logtail: parsing charon's filelog lines, following the file, the bounded buffer and its filter."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from wizard.render.strongswan_d import settings_tree
from wizard.system.logtail import LogBuffer, LogFilter, LogFollower, parse_line

ENGINE_LINE = "Nov 29 19:29:11.123 09[IKE2] <IPSec-IKEv2|1> received packet: from 198.18.0.2[500] to 198.18.0.1[500]"


def test_parses_the_format_the_engine_configures(make_answers) -> None:  # type: ignore[no-untyped-def]
    # The parser follows render_strongswan's filelog settings; if those change, this test says so.
    logger = settings_tree(make_answers())["charon"]["filelog"]["swan-wizard"]
    assert (logger["time_format"], logger["time_add_ms"], logger["log_level"], logger["ike_name"]) == \
        ("%b %e %T", True, True, True)
    line = parse_line(ENGINE_LINE)
    assert (line.group, line.level, line.ike) == ("IKE", 2, "IPSec-IKEv2|1")
    assert line.message == "received packet: from 198.18.0.2[500] to 198.18.0.1[500]"


@pytest.mark.parametrize(("raw", "group", "level", "ike", "message"), [
    ("Nov  9 01:02:03.004 16[CFG0] loaded 1 connection", "CFG", 0, "", "loaded 1 connection"),
    ("Dec 31 23:59:59 01[NET1] <rw|12> sending packet", "NET", 1, "rw|12", "sending packet"),
    # the test lab's own logger: bare time, no level digit
    ("19:29:11.123 05[IKE] <home|1> IKE_SA home[1] established", "IKE", -1, "home|1", "IKE_SA home[1] established"),
    ("a continuation without a prefix", "", -1, "", "a continuation without a prefix"),
])
def test_line_shapes(raw: str, group: str, level: int, ike: str, message: str) -> None:
    line = parse_line(raw)
    assert (line.group, line.level, line.ike, line.message) == (group, level, ike, message)


def test_filter_by_subsystem_level_and_text() -> None:
    lines = [parse_line(t) for t in (
        "Nov 29 19:29:11.123 09[IKE2] <a|1> proposal ok",
        "Nov 29 19:29:11.124 09[CFG1] looking for peer configs",
        "Nov 29 19:29:11.125 09[NET2] sending packet",
        "Nov 29 19:29:11.126 09[IKE0] <a|1> IKE_SA a[1] established",
    )]
    assert [x.group for x in lines if LogFilter(groups=frozenset({"IKE"})).matches(x)] == ["IKE", "IKE"]
    assert [x.level for x in lines if LogFilter(max_level=1).matches(x)] == [1, 0]
    assert [x.message for x in lines if LogFilter(text="ESTABLISHED").matches(x)] == ["IKE_SA a[1] established"]


def test_buffer_keeps_at_most_its_capacity_and_tracks_the_trim() -> None:
    buffer = LogBuffer(capacity=100)
    for start in range(0, 10_000, 37):
        buffer.extend(parse_line(f"Nov 29 19:29:11.123 01[IKE1] line {n}") for n in range(start, start + 37))
    assert len(buffer.lines) == 100
    assert 100 <= len(buffer.view) <= 125
    assert buffer.view[-1].message == f"line {buffer.received - 1}"
    assert buffer.trimmed + len(buffer.view) == buffer.received


def test_a_paused_buffer_records_and_catches_up() -> None:
    buffer = LogBuffer(capacity=10)
    buffer.extend([parse_line("x 1")])
    buffer.extend([parse_line(f"y {n}") for n in range(5)], to_view=False)
    assert len(buffer.view) == 1
    buffer.rebuild()
    assert [x.raw for x in buffer.view] == ["x 1", "y 0", "y 1", "y 2", "y 3", "y 4"]


def test_memory_stays_bounded_however_many_lines_arrive() -> None:
    # bench/bench_tui.py measures a million lines; a quarter of that shows the bound here (tracemalloc is slow).
    buffer = LogBuffer(capacity=20_000)
    tracemalloc.start()
    try:
        batch = []
        for n in range(250_000):
            batch.append(parse_line(f"Nov 29 19:29:11.123 09[IKE2] <IPSec-IKEv2|{n % 50}> message number {n}"))
            if len(batch) == 5000:
                buffer.extend(batch)
                batch = []
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(buffer.lines) == 20_000
    # ~20-25k lines of ~200 bytes each, plus one batch in flight: far below the ~60 MB all lines would take.
    assert peak < 40 * 1024 * 1024, peak


def test_follower_waits_for_the_file_then_reads_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    follower = LogFollower(log)
    assert follower.poll() == [] and follower.error is not None and "waiting" in follower.error
    log.write_text("one\ntw")
    assert follower.poll() == ["one"]
    with log.open("a") as f:
        f.write("o\nthree\n")
    assert follower.poll() == ["two", "three"]
    assert follower.poll() == []
    follower.close()


def test_follower_survives_truncation_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_text("a\nb\n")
    follower = LogFollower(log)
    assert follower.poll() == ["a", "b"]
    log.write_text("c\n")  # truncated in place and rewritten (copytruncate)
    assert follower.poll() == ["c"]
    with log.open("a") as f:
        f.write("d\n")
    os.rename(log, tmp_path / "charon.log.1")  # rotated: the old file keeps its last lines
    with (tmp_path / "charon.log.1").open("a") as f:
        f.write("e\n")
    log.write_text("f\n")
    assert follower.poll() == ["d", "e"]
    assert follower.poll() == ["f"]
    follower.close()


def test_follower_starts_near_the_end_of_a_big_file(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_text("".join(f"line {n}\n" for n in range(100_000)))
    follower = LogFollower(log, backlog_bytes=1000)
    lines: list[str] = []
    while chunk := follower.poll():
        lines += chunk
    assert lines[-1] == "line 99999" and len(lines) < 150
    assert all(line.startswith("line ") for line in lines)  # the cut first line was dropped
    follower.close()


def test_a_runaway_line_is_cut_not_hoarded(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_bytes(b"x" * 200_000)
    follower = LogFollower(log, max_partial=1000, chunk_bytes=4096)
    seen = 0
    for _ in range(100):
        seen += len(follower.poll())
        assert len(follower._partial) <= 4096 + 1000
    assert seen > 0
    follower.close()
