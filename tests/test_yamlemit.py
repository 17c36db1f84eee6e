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


def reference(data: object) -> str:
    return yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=None, width=100)


@settings(max_examples=400)
@given(documents)
def test_the_same_text_as_yaml_dump(data: object) -> None:
    text = yamlemit.dump(data)
    assert text == reference(data)
    assert yaml.safe_load(text) == data


@pytest.mark.parametrize("data", [{"a": 1.5}, {"a": {1, 2}}, {"when": __import__("datetime").date(2026, 1, 2)}])
def test_other_types_take_yaml_dump(data: object) -> None:
    assert yamlemit.dump(data) == reference(data)


def test_an_answers_file_of_many_clients() -> None:
    data = {"version": 1, "clients": [{"name": f"c{i}@example.com", "key": "ecdsa-p256", "lifetime_days": 730,
                                       "p12_password": {"generate": True}} for i in range(2000)]}
    assert yamlemit.dump(data) == reference(data)
