"""The main process's side of a torch DataLoader's worker queues, with less of its time per batch.

Two workers and the main process share two cores: the main process's CPU per batch is what a
second worker cannot add. Per batch, torch's main process puts the next index on a worker's
``multiprocessing.Queue`` and gets the batch from the result queue. Profiled, two parts of that
were ours to spare:

* ``Queue.put`` appends the index to a buffer and wakes the queue's feeder thread, which takes the
  GIL, pickles the index and writes it, then waits again: some tens of microseconds a batch, a
  fifth or more of the main process's CPU. An index is a few dozen bytes (``(n, None)`` for an
  iterable dataset); when the feeder thread is idle (waiting, nothing queued, nothing in hand),
  ``DirectPut`` pickles and writes it in the main process, under the locks the feeder takes, so the
  order of what reaches the worker is kept; otherwise, or for anything larger, ``put`` goes the
  usual way. The pipe cannot fill: torch keeps at most ``prefetch_factor`` indices outstanding per
  worker, and a write of at most ``PIPE_BUF`` bytes is whole or not at all.
* ``Queue.get(timeout=...)`` waits through ``multiprocessing.connection.wait``, which builds,
  fills and closes a selector on every call; ``ReadyPoll`` keeps one ``select.poll`` for the
  result pipe instead.

This relies on torch's and ``multiprocessing``'s private layout: the iterator is found from the
frame that unpickles its batch (``_MultiProcessingDataLoaderIter._try_get_data``), its queues are
changed only if they are exactly ``multiprocessing.queues.Queue`` with every attribute used here,
and an index is framed as ``multiprocessing.connection`` frames what it sends (tests read it back
through ``Queue.get``). Anything else (another torch, a pin-memory thread receiving the batches, a
user's multiprocessing context) leaves them as they are. Only the queues of a DataLoader iterating
an atdata dataset are changed, and only as attributes of those queue objects (a forked child's
queues go back to their own methods).
"""

from __future__ import annotations

import collections
import math
import multiprocessing.connection
import multiprocessing.queues
import os
import pickle
import queue
import select
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


class ReadyPoll:
    """``_poll`` for a queue's reader: one ``select.poll`` kept for its pipe, not a selector per call."""

    __slots__ = ("poller", "reader", "usual")

    def __init__(self, reader: multiprocessing.connection.Connection) -> None:
        self.reader = reader
        self.usual = reader.poll
        self.poller = select.poll()
        self.poller.register(reader.fileno(), select.POLLIN)

    def __call__(self, timeout: float | None = 0.0) -> bool:
        if self.reader.closed:  # its descriptor may be another file's now: the usual error
            return self.usual(timeout)
        wait = None if timeout is None else 0 if timeout <= 0 else math.ceil(timeout * 1000)
        try:
            return bool(self.poller.poll(wait))  # readable, or the other end gone (as Connection.poll)
        except RuntimeError:  # another thread polls it at the same moment
            return self.usual(timeout)


def _polls(q: Any) -> bool:
    """Whether ``q`` is a plain ``multiprocessing`` queue that polls its reader the usual way."""
    reader = getattr(q, "_reader", None)
    return (
        type(q) is multiprocessing.queues.Queue
        and type(reader) is multiprocessing.connection.Connection
        and getattr(q, "_poll", None) == reader.poll
    )


def install(iterator: Any, dataset_type: type) -> bool:
    """Give DataLoader ``iterator``'s index queues a ``DirectPut`` and its result queue a
    ``ReadyPoll``, if it iterates a ``dataset_type`` and they all fit; whether it has them now."""
    if not isinstance(getattr(iterator, "_dataset", None), dataset_type):
        return False
    queues = getattr(iterator, "_index_queues", None)
    if not isinstance(queues, list) or not queues or not all(map(_fits, queues)):
        return False
    for q in queues:
        if not isinstance(vars(q).get("put"), DirectPut):
            q.put = DirectPut(q)
    results = getattr(iterator, "_data_queue", None)  # torch's own result queue (no pin-memory thread)
    if results is getattr(iterator, "_worker_result_queue", None) and _polls(results):
        _poll_ready(results)
    return True


def _poll_ready(q: Any) -> None:
    q._poll = ReadyPoll(q._reader)


def installed_from_caller(dataset_type: type) -> bool:
    """From a batch's unpickling in the main process: ``install`` for the DataLoader that receives
    it, found from the calling frames."""
    return install(loader_iterator(sys._getframe(1)), dataset_type)
