"""A torch DataLoader's per-batch index for a worker written by the main process itself, when it can.

For each batch the main process of a DataLoader puts the next index on a worker's
``multiprocessing.Queue``. ``Queue.put`` appends it to a buffer and wakes the queue's feeder
thread, which takes the GIL, pickles the index and writes it to the worker's pipe, then waits
again. Profiled beside two workers on two cores, those wake-ups cost the main process some tens of
microseconds a batch, a fifth or more of all its CPU per batch; and the main process's time per
batch is what a second worker cannot add (two workers and the main process share two cores).

An index is a few dozen bytes (``(n, None)`` for an iterable dataset). When the feeder thread is
idle (waiting, with nothing queued and nothing in hand), the main process pickles and writes it
itself, under the same locks the feeder takes, so the order of what reaches the worker is kept;
otherwise, or for anything larger, ``put`` goes the usual way. The pipe cannot fill: torch keeps
at most ``prefetch_factor`` indices outstanding per worker, and a write of at most ``PIPE_BUF``
bytes is whole or not at all.

This relies on torch's and ``multiprocessing``'s private layout: the iterator is found from the
frame that unpickles its batch (``_MultiProcessingDataLoaderIter._try_get_data``), its queues are
changed only if they are exactly ``multiprocessing.queues.Queue`` with every attribute used here,
and an index is framed as ``multiprocessing.connection`` frames what it sends (tests read it back
through ``Queue.get``). Anything else (another torch, a pin-memory thread receiving the batches, a user's
multiprocessing context) leaves them as they are. Only the index queues of a DataLoader iterating
an atdata dataset are changed, and only as an attribute of those queue objects.
"""

from __future__ import annotations

import collections
import multiprocessing.connection
import multiprocessing.queues
import os
import pickle
import queue
import struct
import sys
from multiprocessing.reduction import ForkingPickler
from types import FrameType
from typing import Any

_SMALL = 512  # bytes: an index larger than this goes the usual way (a write below PIPE_BUF is atomic)
_DEPTH = 8  # frames between the unpickling and torch's _try_get_data
_LENGTH = struct.Struct("!i")  # multiprocessing.connection's frame header


class DirectPut:
    """``put`` for one index queue: written straight to the pipe while its feeder thread is idle."""

    __slots__ = ("queue", "written")

    def __init__(self, q: multiprocessing.queues.Queue[Any]) -> None:
        self.queue = q
        self.written = 0  # indices written here rather than by the feeder thread

    def __call__(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        q: Any = self.queue
        if q._closed:
            raise ValueError(f"Queue {q!r} is closed")
        if not q._sem.acquire(block, timeout):
            raise queue.Full
        with q._notempty:
            # A waiter on the condition is the feeder, idle: it sent all it took and holds nothing.
            if q._thread is not None and not q._buffer and q._notempty._waiters and _write(q, obj):
                self.written += 1
                return
            if q._thread is None:
                q._start_thread()
            q._buffer.append(obj)
            q._notempty.notify()


def _write(q: Any, obj: Any) -> bool:
    """Write ``obj``, pickled, to ``q``'s pipe if it is small; whether it was. If not, the feeder
    thread sends it as usual, and meets any error (unpicklable, broken pipe) the usual way.

    The frame is the one ``Connection.send_bytes`` writes (a 4-byte big-endian length, then the
    bytes), in one ``os.write``: at most ``PIPE_BUF`` bytes to a blocking pipe are written whole."""
    data: bytes | memoryview
    if type(obj) is tuple and len(obj) == 2 and type(obj[0]) is int and obj[1] is None:
        data = pickle.dumps(obj)  # torch's (n, None): what ForkingPickler gives, without copying its tables
    else:
        try:
            data = ForkingPickler.dumps(obj)
        except Exception:
            return False
    if len(data) > _SMALL:
        return False
    frame = _LENGTH.pack(len(data)) + bytes(data)
    try:
        fd = q._writer.fileno()
        if q._wlock is None:
            written = os.write(fd, frame)
        else:
            with q._wlock:
                written = os.write(fd, frame)
    except OSError:
        return False
    if written != len(frame):  # pragma: no cover - POSIX writes up to PIPE_BUF to a pipe whole
        raise OSError(f"wrote {written} of {len(frame)} bytes of a DataLoader index to its worker's pipe")
    return True


def _fits(q: Any) -> bool:
    """Whether ``q`` is a plain ``multiprocessing`` queue with every part ``DirectPut`` uses."""
    return (
        type(q) is multiprocessing.queues.Queue
        and all(hasattr(q, name) for name in ("_closed", "_sem", "_thread", "_buffer", "_wlock"))
        and type(getattr(q, "_writer", None)) is multiprocessing.connection.Connection
        and callable(getattr(q, "_start_thread", None))
        and isinstance(getattr(getattr(q, "_notempty", None), "_waiters", None), collections.deque)
    )


def loader_iterator(frame: FrameType | None) -> Any:
    """The torch ``_MultiProcessingDataLoaderIter`` whose ``_try_get_data`` is a caller of ``frame``
    (the batch is being unpickled for it), or None."""
    try:
        from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter as Iterator
    except ImportError:  # pragma: no cover - another torch layout
        return None
    for _ in range(_DEPTH):
        if frame is None:
            return None
        if frame.f_code.co_name == "_try_get_data":
            found = frame.f_locals.get("self")
            return found if isinstance(found, Iterator) else None
        frame = frame.f_back
    return None


def write_directly(iterator: Any, dataset_type: type) -> bool:
    """Give the index queues of DataLoader ``iterator`` a ``DirectPut`` if it iterates a
    ``dataset_type`` and all of them fit; whether they have one now."""
    if not isinstance(getattr(iterator, "_dataset", None), dataset_type):
        return False
    queues = getattr(iterator, "_index_queues", None)
    if not isinstance(queues, list) or not queues or not all(map(_fits, queues)):
        return False
    for q in queues:
        if not isinstance(vars(q).get("put"), DirectPut):
            q.put = DirectPut(q)
    return True


def installed_from_caller(dataset_type: type) -> bool:
    """From a batch's unpickling in the main process: ``write_directly`` for the DataLoader that
    receives it, found from the calling frames."""
    return write_directly(loader_iterator(sys._getframe(1)), dataset_type)
