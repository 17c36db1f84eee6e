"""A long list of small jobs done on two cores: this process and a child forked from it share the list, and the
child's results come back pickled through a pipe.

The child has everything already (the fork copies the process): nothing is sent to it. The list is cut into
chunks whose numbers wait in a pipe; each process takes the next number when it is free, so both finish
together even when some chunks cost more (private keys get an owner set, profiles are larger) or the child
is slowed by copying the pages it touches. Only a process with a single thread forks (forking a threaded
one can deadlock the child; the terminal UI has several threads and does its work in place), and the child
is killed with its parent. What the child does not deliver (it died, its result did not arrive whole, or
``accept`` refused it) comes back as None, like a job that returned None: the caller does those itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import signal
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_PR_SET_PDEATHSIG = 1
_NUMBER = struct.Struct("<I")
# Chunk numbers are written to the pipe at once, before the fork: they must fit in its buffer (64 KiB on Linux,
# at least 4 KiB anywhere), which bounds how many chunks a list is cut into.
_MAX_CHUNKS = 1024


@dataclass(frozen=True)
class Split(Generic[Result]):
    """Each item's result, in order (None: not done), and the pid the child had (None: nothing was forked)."""

    results: list[Result | None]
    child: int | None


def cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    return cores() >= 2 and threading.active_count() == 1 and hasattr(os, "fork")


def _taken(queue: int) -> Iterator[int]:
    """The chunk numbers this process takes from ``queue`` until none is left (a read of one number from a
    pipe is never split between two readers)."""
    while len(data := os.read(queue, _NUMBER.size)) == _NUMBER.size:
        yield _NUMBER.unpack(data)[0]


def in_two(items: Sequence[Item], job: Callable[[Item], Result | None],
           accept: Callable[[object], bool], chunk: int = 64) -> Split[Result]:
    """``job`` of every item, shared with a forked child (the caller checks ``can_fork`` and whether the list
    is long enough to pay for a fork). ``job`` returns None for an item it could not do, never raises;
    ``accept`` says whether a value from the child is a result (its type), before it is used."""
    size = max(chunk, -(-len(items) // _MAX_CHUNKS))
    starts = range(0, len(items), size)
    queue, feed = os.pipe()
    try:
        os.write(feed, b"".join(_NUMBER.pack(n) for n in range(len(starts))))
    finally:
        os.close(feed)  # emptied, the queue reads as ended
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: chunks until none is left, sent back, then exit without running the parent's code
        code = 1
        try:
            # No collection here: one would walk (and so copy, page by page) every object of the parent's heap.
            gc.disable()
            os.close(read_fd)
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() == parent:
                done = {n: [job(item) for item in items[starts[n]:starts[n] + size]] for n in _taken(queue)}
                with os.fdopen(write_fd, "wb") as out:
                    out.write(pickle.dumps(done, protocol=5))
                code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb")
    results: list[Result | None] = [None] * len(items)
    try:
        for n in _taken(queue):
            results[starts[n]:starts[n] + size] = [job(item) for item in items[starts[n]:starts[n] + size]]
        data = pipe.read()
    finally:
        pipe.close()  # (interrupted: the child's write fails and it exits)
        os.close(queue)
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        try:
            got = pickle.loads(data)  # from our own child, over a pipe only it and this process hold
        except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError):
            got = None
        if isinstance(got, dict) and all(_fits(n, part, starts, size, len(items), accept) for n, part in got.items()):
            for n, part in got.items():
                results[starts[n]:starts[n] + len(part)] = part
    return Split(results, pid)


def _fits(n: object, part: object, starts: range, size: int, total: int, accept: Callable[[object], bool]) -> bool:
    """Whether the child's ``part`` is the results of its chunk ``n``, one per item, each a result or None."""
    return (type(n) is int and 0 <= n < len(starts) and isinstance(part, list)
            and len(part) == min(size, total - starts[n]) and all(v is None or accept(v) for v in part))
