"""YAML text of plain data (mappings, lists, strings, integers, booleans, None), byte for byte what
``yaml.dump(data, Dumper=CSafeDumper, sort_keys=False, default_flow_style=None)`` writes, in a third of the time.

PyYAML's representer builds a node per value through a chain of Python calls before libyaml's emitter sees it;
an answers file of ten thousand clients spent most of a second there on every `client add`. Here the events
go to the emitter directly: a collection of scalars only is written in flow style (what default_flow_style=None
chooses), and a string is left plain only where reading it back gives the same string (the resolver's
judgement, asked once per distinct text). Anything else (a float, a date, a set) takes yaml.dump itself.
"""

from __future__ import annotations

from typing import Any

import yaml

_STR = "tag:yaml.org,2002:str"
_RESOLVER = yaml.SafeLoader("")


class _Unsupported(Exception):
    pass


def _events(data: Any) -> list[yaml.Event]:
    out: list[yaml.Event] = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=False)]
    plain_ok: dict[str, bool] = {}

    def scalar(value: Any) -> None:
        kind = type(value)
        if kind is str:
            ok = plain_ok.get(value)
            if ok is None:
                ok = plain_ok[value] = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR
            out.append(yaml.ScalarEvent(None, None, (ok, True), value))
        elif kind is bool:
            out.append(yaml.ScalarEvent(None, None, (True, False), "true" if value else "false"))
        elif value is None:
            out.append(yaml.ScalarEvent(None, None, (True, False), "null"))
        elif kind is int:
            out.append(yaml.ScalarEvent(None, None, (True, False), str(value)))
        else:
            raise _Unsupported(kind.__name__)

    def walk(value: Any) -> None:
        kind = type(value)
        if kind is dict:
            flow = not any(type(v) is dict or type(v) is list for v in value.values())
            out.append(yaml.MappingStartEvent(None, None, True, flow_style=flow))
            for key, item in value.items():
                scalar(key)
                walk(item)
            out.append(yaml.MappingEndEvent())
        elif kind is list:
            flow = not any(type(v) is dict or type(v) is list for v in value)
            out.append(yaml.SequenceStartEvent(None, None, True, flow_style=flow))
            for item in value:
                walk(item)
            out.append(yaml.SequenceEndEvent())
        else:
            scalar(value)

    walk(data)
    out += [yaml.DocumentEndEvent(explicit=False), yaml.StreamEndEvent()]
    return out


def dump(data: Any, width: int = 100) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    try:
        events = _events(data)
    except _Unsupported:
        return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=None, width=width)
    return yaml.emit(events, Dumper=dumper, width=width)
