"""What a value may contain in each file format Swan Wizard writes, and how it is spelled there.

Every value that ends up in a file passes through the function of that file's format at the place it
is written. Each function returns the value as the format spells it, or raises ``InvalidAnswers``
naming the answers field: a value a format cannot carry faithfully is refused, never altered (a
silently changed password or identity is worse than a clear error).

The answers model (``wizard.model.answers``) already refuses what no format can hold: control characters,
line and paragraph separators, invisible format characters and IPv6 scope ids. Secrets (from the
environment, a file or a generated-secret file) and facts read from the host do not pass the model,
so the per-format rules here are what keeps them in their place.
"""

from __future__ import annotations

import re

from wizard.problems import InvalidAnswers, Problem, char_name, unsafe_char, visible


def plain_text_problem(text: str) -> str | None:
    """Why ``text`` cannot stand in any file (the model's rule for every free-text field), or None."""
    ch = unsafe_char(text)
    return None if ch is None else f"holds the control or invisible character {char_name(ch)}; no file can carry it"


def _refuse(field: str, message: str) -> InvalidAnswers:
    return InvalidAnswers([Problem(message, field)])


def _plain(text: str, field: str, what: str) -> str:
    ch = unsafe_char(text)
    if ch is not None:
        raise _refuse(field, f"{what} cannot hold the control or invisible character {char_name(ch)}")
    return text


# ---------------------------------------------------------------------------------- one rule per format

def line_text(text: str, field: str, what: str = "a line of text") -> str:
    """Text on one line of a plain file (README.txt, a comment): no line breaks, no controls."""
    return _plain(text, field, what)


def settings_string(text: str, field: str) -> str:
    """strongswan.conf / swanctl.conf: a double-quoted string; its lexer knows \\\\ \\" \\n \\t escapes.

    Controls are refused rather than escaped: nobody types them into a client, and charon's log would show
    them raw."""
    _plain(text, field, "swanctl.conf / strongswan.conf")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_SECRETS_SELECTOR_BARE = re.compile(r"[^\s\"']+")


def ipsec_secret_quoted(text: str, field: str) -> str:
    """ipsec.secrets: a secret between double quotes. The file has no escapes: the value ends at the
    next ``"``, and a line ends the entry (charon then stops reading the file)."""
    _plain(text, field, "ipsec.secrets (layout: ipsec)")
    if '"' in text:
        raise _refuse(field, 'ipsec.secrets (layout: ipsec) has no escapes, so a secret there cannot hold a \'"\'; '
                             "choose a secret without it, or use layout: swanctl")
    return f'"{text}"'


def ipsec_secret_selector(text: str, field: str) -> str:
    """ipsec.secrets: one identity left of ``:``; charon splits the line at the first " : " and the
    identities at blanks, where a quoted one may hold blanks (but no quote)."""
    _plain(text, field, "ipsec.secrets (layout: ipsec)")
    if '"' in text or " : " in text or not text:
        raise _refuse(field, "ipsec.secrets (layout: ipsec) cannot hold an identity with a '\"' or ' : ' in it; "
                             "use layout: swanctl")
    return text if _SECRETS_SELECTOR_BARE.fullmatch(text) else f'"{text}"'


_IPSEC_BARE = re.compile(r"[A-Za-z0-9_.:/%@=+\-,!\[\]]+")


def ipsec_conf_value(text: str, field: str) -> str:
    """ipsec.conf: a bare word, or double-quoted text holding no quote or backslash (the starter's own
    escapes are not something to lean on)."""
    _plain(text, field, "ipsec.conf (layout: ipsec)")
    if _IPSEC_BARE.fullmatch(text):
        return text
    if '"' in text or "\\" in text:
        raise _refuse(field, "ipsec.conf (layout: ipsec) cannot hold a '\"' or '\\' in a value; use layout: swanctl")
    return f'"{text}"'


# FreeRADIUS expands ${...} and %{...} in double-quoted configuration strings and reads \\ escapes there.
_FREERADIUS_UNSAFE = re.compile(r'["\\$%]')


def freeradius_string(text: str, field: str) -> str:
    """A FreeRADIUS configuration string (clients.conf): double-quoted, refusing what FreeRADIUS would expand
    or unescape there (" \\ $ %), so the RADIUS host reads exactly the value the gateway sends."""
    _plain(text, field, "FreeRADIUS clients.conf")
    bad = _FREERADIUS_UNSAFE.search(text)
    if bad:
        raise _refuse(field, f"FreeRADIUS clients.conf reads '{bad[0]}' in a string as an escape or expansion; "
                             "choose a value without \" \\ $ %, or set radius.client_snippet: false")
    return f'"{text}"'


def chap_secret(text: str, field: str) -> str:
    """/etc/ppp/chap-secrets: a double-quoted word; pppd reads \\\\ and \\" in it, and a line ends the entry."""
    _plain(text, field, "/etc/ppp/chap-secrets")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# PowerShell takes the typographic single quotes as quotes too: each must be doubled to stay literal.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def powershell_literal(text: str, field: str) -> str:
    """A PowerShell single-quoted string: no expansion; every kind of single quote written twice."""
    _plain(text, field, "a PowerShell script")
    return "'" + "".join(ch * 2 if ch in _PS_QUOTES else ch for ch in text) + "'"


def xml_text(text: str, field: str) -> str:
    """Text for a plist / XML 1.0 document (plistlib escapes &, <, >; XML cannot carry controls)."""
    return _plain(text, field, "an Apple profile (XML)")


# Interface names as the kernel takes them (IFNAMSIZ 16 with the NUL), in the characters firewall rules
# and strongswan.conf hold unquoted.
IFNAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")


def interface_name(text: str, field: str) -> str:
    """A network interface name as nftables, iptables, ufw and strongswan.conf take it unquoted."""
    if not IFNAME.fullmatch(text) or text in (".", ".."):
        raise _refuse(field, f"'{visible(text)}' is not an interface name (at most 15 letters, digits, . _ - : @)")
    return text


def secret_text(value: bytes, field: str) -> str:
    """A password or key as text for the client profiles (plist, JSON, PowerShell, keyfile): UTF-8 without
    controls, the same rule the answers apply to every free-text field."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(field, "the secret is not UTF-8 text") from None
    return _plain(text, field, "the secret")
