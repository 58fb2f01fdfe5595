"""How lens code fails: the timeout it cannot catch, a step's failure, and its bounded wording.

Errors raised inside lens code hold values lens code chose; :func:`describe_exception` turns them
into a short text (type, bounded message, line in the lens) that is safe to put into the
caller's :class:`~atdata.errors.LensExecutionError`.
"""

from __future__ import annotations

import reprlib

from atdata.errors import AtdataError
from atdata.sandbox.lens_records import NotPlainData


class LensTimeout(BaseException):
    """Raised inside lens code when the batch's wall-clock budget is spent.

    A BaseException so that ``except Exception`` in lens code cannot swallow it.
    """


class StepFailure(AtdataError):
    """A lens step failed on one item: which step, which item, and why (already worded)."""

    def __init__(self, step: int, item: int | None, reason: str, *, limit: bool = False) -> None:
        super().__init__(reason)
        self.step = step
        self.item = item
        self.reason = reason
        self.limit = limit  # a resource limit stopped it (time, memory), not the code's own error


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 200


def _bounded_message(e: BaseException) -> str:
    # str() of an exception holding a value that repeats one list many levels deep never ends:
    # plain text arguments are shown as they are, anything else through a bounded repr.
    args = e.args
    plain = all(
        type(a) in (str, float, bool, type(None)) or (type(a) is int and a.bit_length() < 4096) for a in args
    )
    if plain and sum(len(a) for a in args if type(a) is str) < 4096:
        return str(e)
    return ", ".join(_REPR.repr(a) for a in args[:8])


def describe_exception(e: BaseException, filename: str) -> str:
    """``Type: message (line N)``, with the line in lens code where it was raised when known."""
    line = None
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(e, LensTimeout | NotPlainData):
        text = str(e)
    else:
        message = _bounded_message(e)
        text = f"{type(e).__name__}: {message}" if message else type(e).__name__
    if len(text) > 500:
        text = text[:497] + "..."
    return f"{text} (line {line})" if line is not None else text


def is_limit(e: BaseException) -> bool:
    """Whether ``e`` means a resource limit stopped the code (time, memory, depth)."""
    return isinstance(e, LensTimeout | MemoryError | RecursionError)
