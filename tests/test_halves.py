"""Jobs shared with a forked child (wizard.system.halves): every result in its place, whoever did it; what the
child does not deliver is None, never a wrong result."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wizard.system import halves


def pid_and_square(n: int) -> tuple[int, int]:
    return os.getpid(), n * n


def slow_pid_and_square(n: int) -> tuple[int, int]:
    time.sleep(0.0005)  # long enough for the child to start before this process has taken every chunk
    return pid_and_square(n)


def is_pair(v: object) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and all(type(x) is int for x in v)


@given(st.integers(min_value=0, max_value=3000), st.integers(min_value=1, max_value=300))
def test_every_result_is_in_its_place(count: int, chunk: int) -> None:
    split = halves.in_two(list(range(count)), pid_and_square, is_pair, chunk=chunk)
    assert [r[1] if r else None for r in split.results] == [n * n for n in range(count)]
    assert split.child is not None and split.child != os.getpid()


def test_both_processes_take_chunks() -> None:
    split = halves.in_two(list(range(400)), slow_pid_and_square, is_pair, chunk=4)
    doers = {r[0] for r in split.results if r}
    assert doers == {os.getpid(), split.child}


def test_a_child_that_dies_leaves_its_chunks_undone_and_the_others_right() -> None:
    parent = os.getpid()

    def job(n: int) -> tuple[int, int]:
        if os.getpid() != parent and n % 7 == 3:
            os._exit(5)
        return slow_pid_and_square(n)

    split = halves.in_two(list(range(400)), job, is_pair, chunk=4)
    done = [(n, r) for n, r in enumerate(split.results) if r is not None]
    assert all(r == (parent, n * n) for n, r in done)  # only this process's results
    assert len(done) < 400


def test_results_the_caller_refuses_are_not_used() -> None:
    split = halves.in_two(list(range(400)), slow_pid_and_square, lambda v: False, chunk=4)
    assert all(r is None or r[0] == os.getpid() for r in split.results)
    assert any(r is None for r in split.results)


@pytest.mark.parametrize("count", [0, 1, 63, 64, 65, 100_000])
def test_long_lists_are_cut_into_chunks_that_fit_the_queue(count: int) -> None:
    split = halves.in_two(list(range(count)), lambda n: n, lambda v: type(v) is int)
    assert split.results == list(range(count))
