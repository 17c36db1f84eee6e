"""libyaml's fast path reads a document exactly as the checked pure-Python composer does, or leaves it to it."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.model import yamlsource
from wizard.model.yamlsource import YamlProblem


@pytest.fixture(autouse=True)
def fast_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "FAST_FROM", 0)


def both(text: str) -> tuple[object, object]:
    """load() as it is, and load() with the fast path off: each a LoadedYaml's (data, lines) or the problem."""
    def one() -> object:
        try:
            loaded = yamlsource.load(text)
            return loaded.data, loaded.lines
        except YamlProblem as exc:
            return "problem", str(exc), exc.line

    fast = one()
    original, yamlsource._fast_data = yamlsource._fast_data, lambda _text: None  # type: ignore[assignment]
    try:
        slow = one()
    finally:
        yamlsource._fast_data = original
    return fast, slow


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=12))
documents = st.recursive(st.dictionaries(st.text(min_size=1, max_size=8), scalars, max_size=4),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)),
                         max_leaves=20)


@settings(max_examples=300)
@given(documents, st.sampled_from([None, False, True]))
def test_documents_read_the_same_either_way(data: object, flow: bool | None):
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    fast, slow = both(text)
    assert fast == slow


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("ab: -{}[],\n\"'&*!|>#%@`\t\u00e9\u2028\x07")), max_size=60))
def test_what_the_pure_reader_accepts_reads_the_same_and_no_alias_passes(text: str):
    data = yamlsource._fast_data(text)
    if data is not None:
        # libyaml may accept a corner the pure reader refuses (that is why small files never take this path),
        # but never an alias, an anchor, a tag or anything but a mapping.
        assert isinstance(data, dict)
        assert not any(isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None) or getattr(e, "tag", None)
                       for e in yaml.parse(text, Loader=yaml.CSafeLoader))
    fast, slow = both(text)
    if slow[0] != "problem":
        assert fast == slow


@pytest.mark.parametrize(("text", "says"), [
    ("a: &x 1\nb: *x\n", "anchors"),
    ("a: [&x 1]\n", "anchors"),
    ("a: 1\na: 2\n", "appears twice"),
    ("a: " + "[" * 40 + "]" * 40 + "\n", "nested more than"),
    ("", "empty"),
    ("a: 1\n---\nb: 2\n", "not valid YAML"),
    ("a: 1\n'a': 2\n", "appears twice"),
    ("? [a]\n: 1\n", "not valid YAML"),
])
def test_what_the_checks_refuse_is_refused_with_their_words(text: str, says: str):
    fast, slow = both(text)
    assert fast == slow and fast[0] == "problem" and says in str(fast[1])


@pytest.mark.parametrize("text", [
    "a: {<<: {b: 1}, c: 2}\n", "a: =\n", "=: 1\n", "a: !!str 1\n", "a: ! x\n", "- 1\n", "just text\n",
    "a: 2001-12-14t21:59:43.10-05:00\nb: 0o17\nc: 0x1F\nd: 1_000\ne: 190:20:30\nf: .inf\ng: ~\nh: yes\n",
    "a:\nb: ''\nc: \"\"\nd: |\n  block\ne: >-\n  folded\n  text\n1: int key\n'1': str key\n",
])
def test_scalars_and_corners_read_as_the_pure_reader_does(text: str):
    fast, slow = both(text)
    assert fast == slow


@settings(max_examples=100)
@given(documents)
def test_lines_are_found_on_demand_as_the_pure_reader_finds_them(data: object):
    text = yaml.safe_dump({"version": 1, "rest": data}, default_flow_style=False, allow_unicode=True, sort_keys=False)
    loaded = yamlsource.load(text)
    assert loaded.line_of(("rest",)) == 2


def test_the_fast_path_is_taken_for_an_ordinary_file():
    assert yaml.__with_libyaml__, "the venv's PyYAML is built with libyaml"
    assert yamlsource._fast_data("version: 1\nclients: [{name: a}]\n") == {"version": 1, "clients": [{"name": "a"}]}
    assert yamlsource._fast_data("a: &x 1\n") is None


def test_small_files_keep_the_pure_reader(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(yamlsource, "FAST_FROM", 64 * 1024)
    assert yamlsource._fast_data("version: 1\n") is None
    big = "version: 1\nclients:\n" + "".join(f"- {{name: c{i}@example.com}}\n" for i in range(12000))
    assert yamlsource._fast_data(big) is not None
