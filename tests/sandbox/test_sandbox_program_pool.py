"""Process programs are kept between uses, keyed by their steps and limits, a few idle at most."""

from __future__ import annotations

import os
import time

from atdata.sandbox import LensStep, Limits, program_pool


def _steps(n: int) -> list[LensStep]:
    return [LensStep(f"def get(source):\n    return {{'y': source.x + {n}}}\n", f"add{n}", "A", "B")]


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_program_given_back_is_handed_to_the_next_caller_of_the_same_steps_and_limits() -> None:
    program_pool.clear()
    first = program_pool.checkout(_steps(1), Limits(), workers=1)
    assert first.run([{"x": 1}], ["k"]) == [{"y": 2}]
    program_pool.checkin(first)
    assert program_pool.checkout(_steps(1), Limits(), workers=1) is first
    other = program_pool.checkout(_steps(1), Limits(cpu_seconds=3), workers=1)  # other limits
    assert other is not first
    for p in (first, other):
        p.close()


def test_idle_programs_beyond_the_limit_are_closed_least_recently_used_first() -> None:
    program_pool.clear()
    programs = [
        program_pool.checkout(_steps(n), Limits(), workers=1) for n in range(program_pool.MAX_IDLE + 1)
    ]
    oldest_pid = programs[0].worker_pid
    assert oldest_pid is not None
    for program in programs:
        program_pool.checkin(program)
    assert programs[0].closed and not any(p.closed for p in programs[1:])
    assert _gone(oldest_pid)
    program_pool.clear()
    assert all(p.closed for p in programs)
