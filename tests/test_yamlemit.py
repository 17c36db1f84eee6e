"""The event-by-event emitter writes exactly what yaml.dump writes for the same data, and reads back the same."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.model import yamlemit

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.text(max_size=16), st.sampled_from(["yes", "no", "on", "null", "~", "1.5", "0x1F", "1_000",
                                                           "2001-12-14", "<<", "=", "- a", "a: b", "#", "'", "\"",
                                                           "", " lead", "trail ", "\u2028", "\x85", "é"]))
keys = st.one_of(st.text(min_size=1, max_size=8), st.sampled_from(["name", "yes", "1", "null"]))
documents = st.recursive(st.dictionaries(keys, scalars, max_size=4),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(keys, inner, max_size=3)),
                         max_leaves=25)


# Answers-like documents: a top-level mapping with long lists of mappings, mostly of short words (written as
# text), some of anything (written by the emitter), and scalars between them.
words = st.one_of(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.@/+=:-]{0,30}", fullmatch=True),
                  st.sampled_from(["yes", "null", "1", "0x1F", "1.5", "a b", "'q'", "x" * 70, "é", "-", "a:b", "<<",
                                   "~", "2001-12-14", "=", "_", "@a", "a#b"]))
flat = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), words)
entries = st.dictionaries(words, st.one_of(flat, st.dictionaries(words, flat, max_size=5), st.lists(flat, max_size=6),
                                           st.lists(st.dictionaries(words, flat, max_size=2), max_size=2)),
                          max_size=5)
items = st.one_of(entries, entries, flat, st.lists(flat, max_size=2), st.lists(entries, max_size=2))
answers_like = st.dictionaries(words, st.one_of(flat, st.lists(items, max_size=6), st.lists(entries, max_size=6),
                                                st.dictionaries(words, flat, max_size=3), entries), max_size=5)


def reference(data: object) -> str:
    return yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=None, width=100)


@settings(max_examples=400)
@given(documents)
def test_the_same_text_as_yaml_dump(data: object) -> None:
    text = yamlemit.dump(data)
    assert text == reference(data)
    assert yaml.safe_load(text) == data


@settings(max_examples=600)
@given(answers_like)
def test_answers_like_documents_the_same_as_yaml_dump(data: object) -> None:
    assert yamlemit.dump(data) == reference(data)


@pytest.mark.parametrize("data", [{"a": 1.5}, {"a": {1, 2}}, {"when": __import__("datetime").date(2026, 1, 2)}])
def test_other_types_take_yaml_dump(data: object) -> None:
    assert yamlemit.dump(data) == reference(data)


def test_an_answers_file_of_many_clients() -> None:
    data = {"version": 1, "clients": [{"name": f"c{i}@example.com", "key": "ecdsa-p256", "lifetime_days": 730,
                                       "p12_password": {"generate": True}} for i in range(2000)]}
    assert yamlemit.dump(data) == reference(data)


@pytest.mark.parametrize("entry", [
    {"name": "a" * 60, "key": "b" * 60, "x": "c"},                                # flow past the width: wrapped
    {"name": "c", "p12_password": {"file": "/" + "d" * 50, "more": "e" * 50, "x": "f"}},  # inside a block entry
    {"name": "k" * 64, "key": "x"}, {"k" * 70: "x", "y": [1]},                  # long words, long keys
    {"name": "c", "notes": "two words"}, {"name": "c", "when": "2026-01-02"},   # quoted, for the emitter
])
def test_entries_the_text_path_must_leave_to_the_emitter(entry: dict[str, object]) -> None:
    data = {"version": 1, "clients": [entry, {"name": "plain", "key": "rsa-2048", "p12_password": {"generate": True}}]}
    assert yamlemit.dump(data) == reference(data)


@pytest.mark.parametrize("length", range(40, 64))
def test_flow_collections_wrap_where_the_emitter_wraps_them(length: int) -> None:
    """Around the width (100): a comma written at column 99, 100, 101 of an entry and of a value in one."""
    a, b = "a" * length, "b" * (length // 2)
    data = {"clients": [{"name": a, "key": b, "x": "y", "more": 1},
                        {"name": "c", "p12_password": {"file": a, "key": b, "x": "y"}, "list": [a, b, 1, a]}]}
    assert yamlemit.dump(data) == reference(data)
