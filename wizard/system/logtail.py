"""Following charon's log file: parse its lines, keep a bounded history, filter it.

The engine configures a filelog at ``/var/log/swan-wizard/charon.log`` (see ``render_strongswan``) with
``time_format = %b %e %T``, ``time_add_ms``, ``log_level`` and ``ike_name``, so a line reads::

    Nov 29 19:29:11.123 09[IKE2] <IPSec-IKEv2|1> received packet: from 198.18.0.2[500] ...

i.e. time, thread, subsystem with the level glued on, the IKE_SA's name and unique id when the line
belongs to one, then the message. vici's ``log`` event only carries levels 0-1 (strongswan.md §5.3), so
the level-2 detail the article's ``charondebug`` asks for has to come from this file.

Nothing here imports a UI toolkit: the live log pane drives these classes from a worker thread
(``LogFollower``, ``parse_line``) and from its message handlers (``LogBuffer``).
"""

from __future__ import annotations

import errno
import os
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

# Subsystems as charon prints them (upper case); "" stands for a line that did not parse.
SUBSYSTEMS = ("DMN", "MGR", "IKE", "CHD", "JOB", "CFG", "KNL", "NET", "ASN", "ENC", "TLS", "ESP", "LIB",
              "TNC", "IMC", "IMV", "PTS")
MAX_LEVEL = 4

# The time is either the engine's "%b %e %T" (%e pads the day with a space) or a bare "%T" (the test
# lab's own logger), each optionally with ".mmm"; the level digit is absent without log_level = yes.
_LINE = re.compile(
    r"(?:[A-Z][a-z]{2} [ \d]\d )?\d\d:\d\d:\d\d(?:\.\d+)? +"
    r"(?P<thread>\d+)\[(?P<group>[A-Z]{3})(?P<level>-?\d)?\] "
    r"(?:<(?P<ike>[^>|]*\|\d+)> )?"
)


class LogLine(NamedTuple):
    """One line of charon's log. A NamedTuple: millions are made, and tuples are the cheapest object."""

    raw: str
    group: str  # "IKE", "CFG"...; "" when the line did not parse (a continuation or foreign text)
    level: int  # 0..4; -1 when unknown
    ike: str  # "IPSec-IKEv2|3" or ""
    body: int  # index in raw where the message starts (after the prefix)

    @property
    def message(self) -> str:
        return self.raw[self.body:]


def parse_line(raw: str) -> LogLine:
    match = _LINE.match(raw)
    if match is None:
        return LogLine(raw, "", -1, "", 0)
    level = match.group("level")
    return LogLine(raw, match.group("group"), int(level) if level is not None else -1,
                   match.group("ike") or "", match.end())


@dataclass(frozen=True)
class LogFilter:
    """Which lines the pane shows: subsystems (None = all), the highest level, and a search text."""

    groups: frozenset[str] | None = None
    max_level: int = MAX_LEVEL
    text: str = ""

    def matches(self, line: LogLine) -> bool:
        if self.groups is not None and line.group not in self.groups:
            return False
        if line.level > self.max_level:
            return False
        return not self.text or self.text.lower() in line.raw.lower()

    @property
    def is_everything(self) -> bool:
        return self.groups is None and self.max_level >= MAX_LEVEL and not self.text


class LogBuffer:
    """The last ``capacity`` lines, and the ones among them that pass the filter.

    ``view`` is a plain list (O(1) indexing for rendering the visible rows) trimmed from the front in
    chunks, so appending stays amortised O(1); ``trimmed`` counts the lines ever cut off its front, which
    lets a scrolled-back pane keep its place while new lines push old ones out.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.lines: deque[LogLine] = deque(maxlen=capacity)
        self.view: list[LogLine] = []
        self.filter = LogFilter()
        self.trimmed = 0
        self.received = 0  # lines ever added (the ring forgets, this does not)

    def extend(self, lines: Iterable[LogLine], *, to_view: bool = True) -> int:
        """Add lines; returns how many joined the view. ``to_view=False`` (a paused pane) only records them."""
        batch = list(lines)
        self.received += len(batch)
        self.lines.extend(batch)
        if not to_view:
            return 0
        if len(batch) > self.capacity:
            batch = batch[-self.capacity:]
        keep = self.filter.matches
        added = batch if self.filter.is_everything else [line for line in batch if keep(line)]
        self.view.extend(added)
        self._trim()
        return len(added)

    def _trim(self) -> None:
        # Trim by a quarter of the capacity at a time: deleting from a list's front is O(n).
        excess = len(self.view) - self.capacity
        if excess > self.capacity // 4 or (excess > 0 and self.capacity < 8):
            del self.view[:excess]
            self.trimmed += excess

    def set_filter(self, new: LogFilter) -> None:
        self.filter = new
        self.rebuild()

    def rebuild(self) -> None:
        """The view afresh from the ring (after a filter change or when a paused pane resumes)."""
        keep = self.filter.matches
        self.trimmed += len(self.view)
        self.view = list(self.lines) if self.filter.is_everything else [line for line in self.lines if keep(line)]

    def clear(self) -> None:
        self.lines.clear()
        self.trimmed += len(self.view)
        self.view = []


@dataclass
class LogFollower:
    """Reads whole new lines from a growing file, like ``tail -F``: survives the file being absent,
    truncated or replaced (log rotation), and never holds more than ``max_partial`` bytes of an
    unfinished line. Not thread-safe: one reader thread owns it.
    """

    path: Path
    backlog_bytes: int = 256 * 1024  # on first open, start this far before the end (recent history)
    chunk_bytes: int = 1024 * 1024  # at most this much per poll, so one poll never stalls for long
    max_partial: int = 64 * 1024
    _fd: int | None = field(default=None, init=False)
    _inode: tuple[int, int] | None = field(default=None, init=False)
    _offset: int = field(default=0, init=False)
    _partial: bytes = field(default=b"", init=False)
    _opened_once: bool = field(default=False, init=False)
    _skip_to_newline: bool = field(default=False, init=False)
    error: str | None = field(default=None, init=False)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.error = (f"waiting for {self.path}" if exc.errno == errno.ENOENT
                          else f"cannot read {self.path}: {exc.strerror}")
            return False
        st = os.fstat(fd)
        self._fd, self._inode, self.error = fd, (st.st_dev, st.st_ino), None
        self._partial = b""
        if not self._opened_once and st.st_size > self.backlog_bytes:
            # Start at a line boundary inside the backlog: the first, cut line is dropped below.
            self._offset = st.st_size - self.backlog_bytes
            self._skip_to_newline = True
        else:
            self._offset = 0
            self._skip_to_newline = False
        self._opened_once = True
        return True

    def _replaced(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # gone for now: keep draining the open file
        return (st.st_dev, st.st_ino) != self._inode

    def poll(self) -> list[str]:
        """New complete lines since the last call (possibly none)."""
        if self._fd is None and not self._open():
            return []
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size < self._offset:  # truncated in place (copytruncate rotation): start over
            self._offset, self._partial = 0, b""
        data = os.pread(self._fd, self.chunk_bytes, self._offset) if size > self._offset else b""
        self._offset += len(data)
        if not data:
            if self._replaced():
                # The old file is drained; a new one took its name. Emit an unfinished last line first.
                rest = [self._partial.decode("utf-8", "replace")] if self._partial else []
                self.close()
                self._open()
                return rest + self.poll() if self._fd is not None else rest
            return []
        data = self._partial + data
        if self._skip_to_newline:
            cut = data.find(b"\n")
            if cut < 0:
                self._partial = data[-self.max_partial:]
                return []
            data = data[cut + 1:]
            self._skip_to_newline = False
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self.max_partial:
            # A "line" this long is not charon's; show it cut rather than hold it forever.
            lines.append(self._partial)
            self._partial = b""
        return [line.decode("utf-8", "replace") for line in lines]
