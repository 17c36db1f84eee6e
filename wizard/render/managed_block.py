"""A block of lines Swan Wizard owns inside a file that belongs to someone else.

Used where a distribution file must mention Swan Wizard (the nftables include, ufw's before.rules,
pppd's chap-secrets): everything outside the markers is left exactly as it was.
"""

from __future__ import annotations

BEGIN = "# BEGIN swan-wizard (managed block: edits inside are replaced on the next apply)"
END = "# END swan-wizard"


def block(lines: list[str], begin: str = BEGIN, end: str = END) -> str:
    return "\n".join([begin, *lines, end]) + "\n"


def strip(text: str, begin: str = BEGIN, end: str = END) -> str:
    """``text`` without the managed block (and without the newline that ended it)."""
    start = text.find(begin)
    stop = text.find(end, start + 1) if start != -1 else -1
    if start == -1 or stop == -1:
        return text
    after = text[stop + len(end):]
    return text[:start] + (after[1:] if after.startswith("\n") else after)


def contains(text: str | None, begin: str = BEGIN) -> bool:
    return bool(text) and begin in (text or "")


def put(existing: str | None, new_block: str | None, *, before: str | None = None, at_start: bool = False,
        begin: str = BEGIN, end: str = END) -> str:
    """``existing`` with the managed block replaced by ``new_block`` (None: removed).

    A new block goes where it was, else before the last line equal to ``before``, else at the start
    or the end of the file.
    """
    text = existing or ""
    start = text.find(begin)
    if start != -1 and text.find(end, start + 1) != -1:
        rest = strip(text, begin, end)
        return rest if new_block is None else rest[:start] + new_block + rest[start:]
    if new_block is None:
        return text
    if before is not None:
        lines = text.splitlines(keepends=True)
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].strip() == before:
                return "".join(lines[:i]) + new_block + "".join(lines[i:])
    if at_start:
        return new_block + text
    if text and not text.endswith("\n"):
        text += "\n"
    return text + new_block
