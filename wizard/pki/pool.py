"""Work spread over the cores: one process pool, and the in-process fallback whenever it cannot be used.

Key generation (``wizard.pki.keys``) and bulk client bundles (``wizard.pki.bundles``) both run here, so
there is one way to start workers safely from a threaded UI and one way to survive their failure.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import resource_tracker
from typing import TypeVar

from wizard.system import halves

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Wire = TypeVar("Wire")
Result = TypeVar("Result")

_PARENT_ENV = "SWAN_WIZARD_POOL_PARENT"  # wizard.system.worker_guard.PARENT_ENV (not imported here: see there)
# What the workers run: imported once by the forkserver instead of by each worker.
_PRELOAD = ["wizard.system.worker_guard", "wizard.pki.keys", "wizard.pki.bundles"]


def available_cpus() -> int:
    return halves.cores()


def _mp_context() -> multiprocessing.context.BaseContext:
    # The caller is typically a UI worker thread; forking a multi-threaded process can deadlock in the
    # child, so fork from the single-threaded forkserver instead (still much cheaper than spawn).
    context: multiprocessing.context.BaseContext
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # worker_guard first: the forkserver dies with this process (see wizard.system.worker_guard).
        os.environ[_PARENT_ENV] = str(os.getpid())
        context.set_forkserver_preload(_PRELOAD)
    else:
        context = multiprocessing.get_context()
    with _stderr_with_descriptor():
        resource_tracker.ensure_running()  # started here, so never later with the terminal UI's stderr
    return context


@contextlib.contextmanager
def _stderr_with_descriptor() -> Iterator[None]:
    """multiprocessing starts its resource tracker with sys.stderr's descriptor kept open for it; under the
    terminal UI sys.stderr is a capture whose fileno() is -1, and the start fails ("bad value(s) in
    fds_to_keep"). Meanwhile the tracker gets /dev/null: what it would say has no terminal to go to."""
    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = True  # an exception, unlike -1, multiprocessing handles itself
    if usable:
        yield
        return
    saved = sys.stderr
    with open(os.devnull, "w") as devnull:
        sys.stderr = devnull
        try:
            yield
        finally:
            sys.stderr = saved


def _worker_init() -> None:
    # Runs first in every worker: killed with its parent, so a killed run leaves no worker behind.
    from wizard.system import worker_guard

    worker_guard.worker_init()


def run_chunks(
    items: Sequence[Item],
    *,
    workers: int,
    chunk_size: int,
    remote: Callable[[list[Item]], list[Wire]],
    accept: Callable[[Wire], Result],
    local: Callable[[Item], Result],
    progress: Callable[[int, int], None] | None,
    what: str,
) -> list[Result]:
    """One result per item, in order.

    With ``workers`` >= 2, chunks of ``chunk_size`` items go to that many worker processes as
    ``remote(chunk)`` (a picklable top-level function: results cross as plain data, then ``accept`` turns
    each into the result in this process). Whatever the pool does not deliver (it cannot start, a worker is
    killed, no /dev/shm) is made here with ``local(item)``. progress(done, total) runs in the caller's thread.

    The workers come from a forkserver, which re-imports the program's main module like any non-fork
    multiprocessing: it must keep its work under ``if __name__ == "__main__"``, as console-script entry
    points and ``python -m`` do.
    """
    total = len(items)
    done: dict[int, Result] = {}

    def tick() -> None:
        if progress is not None:
            progress(len(done), total)

    if workers >= 2 and total:
        try:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_worker_init)
        except OSError as exc:
            log.warning("cannot start %s workers (%s); working in-process", what, exc)
        else:
            try:
                chunks = [list(range(start, min(start + chunk_size, total))) for start in range(0, total, chunk_size)]
                futures: dict[Future[list[Wire]], list[int]] = {
                    pool.submit(remote, [items[index] for index in chunk]): chunk for chunk in chunks
                }
                for future in as_completed(futures):
                    for index, wire in zip(futures[future], future.result(), strict=True):
                        done[index] = accept(wire)
                    tick()
            except (OSError, BrokenProcessPool) as exc:
                log.warning("%s workers failed (%r); doing the rest in-process", what, exc)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    for index, item in enumerate(items):
        if index not in done:
            done[index] = local(item)
            tick()
    return [done[index] for index in range(total)]
