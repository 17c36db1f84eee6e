"""State files written with one entry changed keep every other entry's text as read, and come out byte for
byte as a full encoding would write them; a file in any other shape is encoded in full."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from wizard.certs import ledger
from wizard.fs import jsonstate, stamps
from wizard.render.profiles import cache

names = st.text(min_size=1, max_size=12)  # escapes, quotes, ": " and non-ASCII included
values = st.one_of(st.lists(st.text(max_size=6), max_size=3), st.integers(),
                   st.dictionaries(st.text(max_size=4), st.integers(), max_size=2), st.text(max_size=8))
HEAD = {"version": 1, "salt": "00" * 16}


@given(st.dictionaries(names, values, max_size=8), st.dictionaries(names, values, max_size=3))
def test_texts_as_read_give_the_bytes_a_full_encoding_gives(entries: dict[str, object],
                                                            changes: dict[str, object]) -> None:
    data = jsonstate.dumps(HEAD, "clients", entries)
    found = jsonstate.read_entries(data, "clients")
    texts = found[1] if found is not None else {}  # (a name with an escape: the file is read in full)
    assert set(texts) <= set(entries)
    assert all(json.loads(text) == entries[name] for name, text in texts.items())
    mixed = {**{name: texts.get(name, value) for name, value in entries.items()}, **changes}
    assert jsonstate.dumps(HEAD, "clients", mixed) == jsonstate.dumps(HEAD, "clients", {**entries, **changes})


def test_plain_names_are_all_reused_and_other_shapes_none() -> None:
    entries = {f"c{i}@example.com": [f"{i:064x}", "ab"] for i in range(50)}
    data = jsonstate.dumps(HEAD, "clients", entries)
    found = jsonstate.read_entries(data, "clients")
    assert found is not None and found[0] == HEAD and set(found[1]) == set(entries)
    for other in (json.dumps({**HEAD, "clients": entries}, indent=2).encode(),
                  json.dumps({**HEAD, "clients": entries}).encode(), data + b"\n"):
        assert jsonstate.read_entries(other, "clients") is None
    # Two entries joined on one line (a hand edit): the line is not split again, its text does not decode, so
    # the entry is missing (a miss costs a full check, never a wrong answer)
    joined = jsonstate.read_entries(data.replace(b",\n", b", ", 1), "clients")
    assert joined is not None and len(joined[1]) == 49
    lazy = jsonstate.Lazy(joined[1], lambda value: value)
    assert lazy.get("c0@example.com") is None and lazy["c2@example.com"] == entries["c2@example.com"]


def test_each_state_file_written_again_is_what_a_full_encoding_writes() -> None:
    when = datetime(2026, 1, 2, tzinfo=UTC)
    records = {f"c{i}": ledger.Record(f"{i:064x}", {"cert": "a", "key": "b", "p12": "c"}, i, when, when)
               for i in range(20)}
    book = ledger.parse(ledger.render(ledger.Ledger("00" * 16, records)))
    assert isinstance(book.records, jsonstate.Lazy) and len(book.records) == 20 and not book.records.decoded
    assert book.records["c5"] == records["c5"]  # decoded when asked for
    inputs = ledger.Inputs(b"ca", "c3", "ecdsa-p256", 30, "legacy", b"pw")
    contents = {"cert": b"x", "key": b"y", "p12": b"z"}
    changed = ledger.records_for(book, [(inputs, contents, 9, when, when)], [f"c{i}" for i in range(20)])
    assert not set(book.records.decoded) - {"c5"}
    full = ledger.Ledger(changed.salt, {name: changed.records[name] for name in changed.records})
    assert ledger.render(changed) == ledger.render(full)
    assert changed.records["c3"].serial == 9 and len(changed.records) == 20

    folders = {f"c{i}": stamps.FolderStamps(f"{i:064x}", "e" * 64) for i in range(20)}
    loaded = stamps.parse(stamps.render(folders))
    assert isinstance(loaded, jsonstate.Lazy) and len(loaded.texts) == 20 and not loaded.decoded
    now = {**loaded, "c3": stamps.FolderStamps("1" * 64, "2" * 64), "new": stamps.FolderStamps("3" * 64, "4" * 64)}
    assert stamps.render(now, loaded) == stamps.render(dict(now))

    profiles = cache.ProfileCache("00" * 16, {f"/etc/c{i}/p": cache.Entry(f"{i:064x}", "d" * 64) for i in range(20)})
    profiles.written = dict(profiles.entries)
    read = cache.parse(profiles.action("ctx").content or b"")
    assert isinstance(read.entries, jsonstate.Lazy) and len(read.entries) == 20 and not read.entries.decoded
    read.written = {**read.entries, "/etc/c3/p": cache.Entry("5" * 64, "6" * 64)}
    fresh = cache.ProfileCache(read.salt, read.entries, written=dict(read.written))
    assert read.action("ctx").content == fresh.action("ctx").content


def test_a_damaged_entry_is_a_missing_one_and_the_others_are_read() -> None:
    """One entry of the stamp record that is not a pair of digests: that folder has no record (it takes the
    full plan), every other keeps its own; iterating, comparing and writing back skip it."""
    good = {f"c{i}": stamps.FolderStamps(f"{i:064x}", "e" * 64) for i in range(10)}
    data = jsonstate.dumps({"version": stamps.VERSION}, "clients",
                           {**{n: [r.inputs, r.stamps] for n, r in good.items()}, "c7": jsonstate.Raw("[1, 2]")})
    loaded = stamps.parse(data)
    assert isinstance(loaded, jsonstate.Lazy)
    assert loaded.get("c7") is None and loaded.get("c3") == good["c3"]
    assert dict(loaded.items()) == {n: r for n, r in good.items() if n != "c7"}
    assert loaded == {n: r for n, r in good.items() if n != "c7"}
    assert b'"c7"' not in stamps.render(dict(loaded.items()), loaded)
