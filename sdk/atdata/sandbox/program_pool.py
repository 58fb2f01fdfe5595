"""Process programs kept between uses, keyed by what they run and under which limits.

Starting a worker costs about a second of CPU (a fresh interpreter importing numpy and locking
itself down), so a lens chain's workers should outlive one batch, one epoch, one ``as_type`` call
and one ``Lens`` object. :func:`checkout` hands out an idle program loaded with the same steps,
limits and worker count when there is one, else loads a new one; :func:`checkin` keeps it for the
next caller, up to :data:`MAX_IDLE` programs, closing the least recently used beyond that. A
program is held by one caller at a time (a program is not shared between threads); idle workers
are stopped when the interpreter exits.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence

from atdata.sandbox.process import ProcessProgram, step_message
from atdata.sandbox.spec import LensStep, Limits

MAX_IDLE = 2
"""Idle programs kept; each holds its running workers."""

_idle: OrderedDict[str, list[ProcessProgram]] = OrderedDict()
_keys: dict[int, str] = {}
_lock = threading.Lock()


def _key(steps: Sequence[LensStep], limits: Limits, workers: int) -> str:
    what = [[step_message(s) for s in steps], dataclasses.asdict(limits), workers]
    return json.dumps(what, sort_keys=True, default=repr)


def checkout(steps: Sequence[LensStep], limits: Limits, *, workers: int) -> ProcessProgram:
    """A program running ``steps`` under ``limits`` in up to ``workers`` workers, for this caller alone."""
    key = _key(steps, limits, workers)
    with _lock:
        programs = _idle.get(key)
        if programs:
            program = programs.pop()
            if not programs:
                del _idle[key]
            return program
    program = ProcessProgram(steps, limits, workers=workers)
    with _lock:
        _keys[id(program)] = key
    return program


def checkin(program: ProcessProgram) -> None:
    """Give ``program`` back for the next caller of the same steps (or close it if not kept)."""
    with _lock:
        key = _keys.get(id(program))
        if key is None or program.closed:
            _keys.pop(id(program), None)
            program.close()
            return
        _idle.setdefault(key, []).append(program)
        _idle.move_to_end(key)
        evicted: list[ProcessProgram] = []
        while sum(len(p) for p in _idle.values()) > MAX_IDLE:
            oldest = next(iter(_idle))
            evicted.append(_idle[oldest].pop(0))
            if not _idle[oldest]:
                del _idle[oldest]
        for old in evicted:
            _keys.pop(id(old), None)
    for old in evicted:
        old.close()


def clear() -> None:
    """Close every idle program (their workers stop)."""
    with _lock:
        programs = [p for ps in _idle.values() for p in ps]
        _idle.clear()
        for p in programs:
            _keys.pop(id(p), None)
    for p in programs:
        p.close()
