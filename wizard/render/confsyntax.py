"""Small serializers for strongSwan's configuration syntaxes.

Renderers build plain data (dicts, lists, strings) and these functions turn it into text, so the
output is deterministic: the same data always gives the same bytes, and a diff shows real changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from wizard.model import formats

# Values made only of these characters need no quotes in strongswan.conf / swanctl.conf syntax.
# fullmatch throughout: "$" would also match before a final line break, and "x\n" is no bare word.
_BARE_SETTINGS = re.compile(r"[A-Za-z0-9_.:/%@=+\-*\[\]]+")
_KEY = re.compile(r"[A-Za-z0-9_.\-]+")

Value = str | int | bool | Sequence[str]
Tree = Mapping[str, "Value | Tree"]


def settings_value(value: Value, field: str = "") -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if _BARE_SETTINGS.fullmatch(value) else formats.settings_string(value, field)
    items = [str(v) for v in value]
    if all(_BARE_SETTINGS.fullmatch(v) and "," not in v for v in items):
        return ", ".join(items)
    raise ValueError(f"list items must be bare words: {items!r}")


def render_settings(tree: Tree, indent: str = "   ", _level: int = 0) -> str:
    """strongswan.conf / swanctl.conf syntax: ``name { key = value }`` sections, insertion ordered."""
    lines: list[str] = []
    pad = indent * _level
    for key, value in tree.items():
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a valid settings key: {key!r}")
        if isinstance(value, Mapping):
            lines.append(f"{pad}{key} {{")
            body = render_settings(value, indent, _level + 1)
            if body:
                lines.append(body.rstrip("\n"))
            lines.append(f"{pad}}}")
        else:
            lines.append(f"{pad}{key} = {settings_value(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def ipsec_value(value: Value, field: str = "") -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return formats.ipsec_conf_value(value, field)
    return ipsec_value(",".join(str(v) for v in value), field)


def render_ipsec_conf(setup: Mapping[str, Value], conns: Sequence[tuple[str, Mapping[str, Value]]],
                      header: str = "") -> str:
    """ipsec.conf syntax: ``config setup`` then one ``conn NAME`` block per connection."""
    out = [header.rstrip("\n") + "\n"] if header else []
    out.append("config setup\n")
    out += [f"    {k}={ipsec_value(v)}\n" for k, v in setup.items()]
    for name, options in conns:
        if not _KEY.fullmatch(name) and name != "%default":
            raise ValueError(f"not a valid conn name: {name!r}")
        out.append(f"\nconn {name}\n")
        out += [f"    {k}={ipsec_value(v)}\n" for k, v in options.items()]
    return "".join(out)


def ipsec_secret(selectors: Sequence[tuple[str, str]], kind: str, value: str, quote: bool = True,
                 field: str = "") -> str:
    """One ipsec.secrets line: ``SELECTORS : KIND "secret"`` (key files and hex values are not quoted).

    ``selectors`` are (identity, field) pairs; ``field`` names the secret's answers field for a refusal."""
    text = formats.ipsec_secret_quoted(value, field) if quote else value
    left = "".join(f"{formats.ipsec_secret_selector(owner, where)} " for owner, where in selectors)
    return f"{left}: {kind} {text}\n"
