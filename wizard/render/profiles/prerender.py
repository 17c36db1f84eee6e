"""Many profiles rendered on two cores: the first apply of ten thousand clients renders some seventy thousand
files (plists, PowerShell, JSON, keyfiles, READMEs), serial work that left the second core idle once the keys
were made.

A child forked from this process shares the list with it, each taking the next chunk when free
(``wizard.system.halves``; the terminal UI, which has several threads, renders in place). Whatever the child
does not deliver, and every render that raised, is left to the caller, which renders it in place and handles
what it raises as it always has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from wizard.system import halves

# Below this many renders the fork costs more than it saves.
PARALLEL_FROM = 512

Job = tuple[Callable[[Any], bytes], Any]


def _try(job: Job) -> bytes | None:
    render, value = job
    try:
        return render(value)
    except Exception:  # the caller renders it again and reports it
        return None


def render_all(jobs: Sequence[Job]) -> list[bytes | None]:
    """Each job's bytes, in order; None for one the caller must render itself."""
    if len(jobs) < PARALLEL_FROM or not halves.can_fork():
        return [None] * len(jobs)
    return halves.in_two(jobs, _try, lambda v: type(v) is bytes).results
