"""What the caller sees when lens code in a worker fails: the worker's answer or its death, worded.

A worker answers a failure with the step, the item and the reason (all bounded here: the answer
is the worker's, so it is checked like any other input); a worker that died or was killed is
described from its exit status and the first lines it printed. Either way the caller gets a
:class:`~atdata.errors.LensExecutionError` (a :class:`~atdata.errors.LensLimitError` when a
resource limit stopped it) naming the lens and the sample key.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Any

from atdata.errors import LensExecutionError, LensLimitError, LensValidationError, Violation


def key_at(keys: Sequence[str | None], item: int | None) -> str | None:
    """The key of item ``item`` of a batch, None when the index is not one of the batch's."""
    if item is None or not 0 <= item < len(keys):
        return None
    return keys[item]


def failure_of(
    reply: dict[str, Any], keys: Sequence[str | None], step_name: Callable[[int], str]
) -> LensValidationError | LensExecutionError:
    """The error a worker's failure answer stands for."""
    if reply.get("kind") == "validation":
        raw = reply.get("violations")
        violations = [
            Violation(int(v[0]), int(v[1]), str(v[2])[:500])
            for v in (raw if type(raw) is list else [])[:200]
            if type(v) is list and len(v) == 3 and type(v[0]) is int and type(v[1]) is int
        ]
        return LensValidationError(str(reply.get("where", "<lens>"))[:200], violations)
    step = reply.get("step")
    item = reply.get("item")
    reason = str(reply.get("reason", "unknown failure"))[:1000]
    kind = LensLimitError if reply.get("limit") is True else LensExecutionError
    return kind(
        step_name(step if type(step) is int else -1),
        reason,
        key=key_at(keys, item if type(item) is int else None),
    )


def death_reason(code: int, cpu_left: float, cpu_seconds: float, output: str) -> str:
    """Why a worker that exited with status ``code`` died, with what it printed."""
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and cpu_left <= 0):
        why = f"exceeded the CPU limit of {cpu_seconds:g} s"
    elif code < 0:
        why = f"the lens worker was killed by {signal.Signals(-code).name} (out of memory?)"
    else:
        why = f"the lens worker exited unexpectedly (status {code})"
    return f"{why}; worker output: {output}" if output else why
