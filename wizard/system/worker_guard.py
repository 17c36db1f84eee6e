"""Key generation helpers die with the run that started them (``kill -9`` included).

The worker processes of ``wizard.pki.pool`` fork from a forkserver, itself started by the run. Without
this, a killed run leaves the forkserver, its workers and the resource tracker behind for good.
Linux's PR_SET_PDEATHSIG makes the kernel send SIGKILL to a process when its parent dies:

- the forkserver imports this module (``set_forkserver_preload``): it then dies with the run;
- every worker calls :func:`die_with_parent` first (the pool's initializer): it dies with the forkserver;
- the resource tracker exits by itself once every process holding its pipe is gone.

Importing this module anywhere else would tie that process to its parent: only the forkserver does.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1
# The run that starts the forkserver names itself here (the forkserver inherits the environment), so
# the forkserver can tell whether that parent died before the death signal was armed.
PARENT_ENV = "SWAN_WIZARD_POOL_PARENT"


def _arm() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown is all there is
        return False


def die_with_parent(expected_parent: int | None) -> None:
    """Be killed when the parent dies; exit now if it already has (reparented before arming)."""
    _arm()
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def _parent_from_env() -> int | None:
    try:
        return int(os.environ.get(PARENT_ENV, ""))
    except ValueError:
        return None


# Imported by the forkserver only (see the module docstring): arm it, and remember its pid so each worker
# it forks can check that its parent is still this forkserver.
die_with_parent(_parent_from_env())
SERVER_PID = os.getpid()


def worker_init() -> None:
    """ProcessPoolExecutor initializer of every worker forked from the forkserver."""
    die_with_parent(SERVER_PID)
