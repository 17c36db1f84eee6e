"""Many profiles rendered on two cores: the first apply of ten thousand clients renders some seventy thousand
files (plists, PowerShell, JSON, keyfiles, READMEs), serial work that left the second core idle once the keys
were made.

A child forked from this process (it has every profile already: nothing is sent to it) renders the second half
of the list while this process renders the first; the child's bytes come back through a pipe. Only a process
with a single thread forks (the terminal UI has several: it renders in-process), and the child is killed with
its parent. Whatever the child does not deliver, and every render that raised, is left to the caller, which
renders it in place and handles what it raises as it always has.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

# Below this many renders the fork costs more than it saves.
PARALLEL_FROM = 512
_PR_SET_PDEATHSIG = 1

Job = tuple[Callable[[Any], bytes], Any]


def _try(render: Callable[[Any], bytes], value: Any) -> bytes | None:
    try:
        return render(value)
    except Exception:  # the caller renders it again and reports it
        return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return 1


def render_all(jobs: Sequence[Job]) -> list[bytes | None]:
    """Each job's bytes, in order; None for one the caller must render itself."""
    if len(jobs) < PARALLEL_FROM or _cores() < 2 or threading.active_count() > 1 or not hasattr(os, "fork"):
        return [None] * len(jobs)
    half = len(jobs) // 2
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: render the second half, send it, exit without running any of the parent's code
        code = 1
        try:
            os.close(read_fd)
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() == parent:
                data = pickle.dumps([_try(render, value) for render, value in jobs[half:]], protocol=5)
                with os.fdopen(write_fd, "wb") as out:
                    out.write(data)
                code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb")
    try:
        mine = [_try(render, value) for render, value in jobs[:half]]
        data = pipe.read()
    finally:
        pipe.close()  # (interrupted: the child's write fails and it exits)
        _, status = os.waitpid(pid, 0)
    theirs: list[bytes | None] = [None] * (len(jobs) - half)
    if os.waitstatus_to_exitcode(status) == 0:
        try:
            got = pickle.loads(data)  # from our own child, over a pipe only it and this process hold
        except (pickle.UnpicklingError, EOFError, ValueError):
            got = None
        if isinstance(got, list) and len(got) == len(theirs) and all(v is None or type(v) is bytes for v in got):
            theirs = got
    return mine + theirs
