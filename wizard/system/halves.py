"""A long list of small jobs done on two cores: this process does the first half, a child forked from it the
second, and the child's results come back pickled through a pipe.

The child has everything already (the fork copies the process): nothing is sent to it. Only a process with a
single thread forks (forking a threaded one can deadlock the child; the terminal UI has several threads and
does its work in place), and the child is killed with its parent. What the child does not deliver (it died,
its result did not arrive whole, or ``accept`` refused it) comes back as None, like a job that returned None:
the caller does those itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Split(Generic[Result]):
    """Each item's result, in order (None: not done), and the pid the child had (None: nothing was forked)."""

    results: list[Result | None]
    child: int | None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return 1


def can_fork() -> bool:
    return cores() >= 2 and threading.active_count() == 1 and hasattr(os, "fork")


def in_two(items: Sequence[Item], job: Callable[[Item], Result | None],
           accept: Callable[[object], bool]) -> Split[Result]:
    """``job`` of every item, the second half in a forked child (the caller checks ``can_fork`` and whether the
    list is long enough to pay for a fork). ``job`` returns None for an item it could not do, never raises;
    ``accept`` says whether a value from the child is a result (its type), before it is used."""
    half = len(items) // 2
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: its half, sent back, then exit without running any of the parent's code
        code = 1
        try:
            os.close(read_fd)
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() == parent:
                data = pickle.dumps([job(item) for item in items[half:]], protocol=5)
                with os.fdopen(write_fd, "wb") as out:
                    out.write(data)
                code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb")
    try:
        mine = [job(item) for item in items[:half]]
        data = pipe.read()
    finally:
        pipe.close()  # (interrupted: the child's write fails and it exits)
        _, status = os.waitpid(pid, 0)
    theirs: list[Result | None] = [None] * (len(items) - half)
    if os.waitstatus_to_exitcode(status) == 0:
        try:
            got = pickle.loads(data)  # from our own child, over a pipe only it and this process hold
        except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError):
            got = None
        if isinstance(got, list) and len(got) == len(theirs) and all(v is None or accept(v) for v in got):
            theirs = got
    return Split(mine + theirs, pid)
