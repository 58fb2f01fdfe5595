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

In each worker the batch goes the other way through a feeder thread too, which needs the worker's
GIL while decoding the next batch holds it: measured, a batch often waited milliseconds (the
interpreter's switch interval) before it left, and meanwhile torch, delivering in order, sent no
worker its next index. There ``DirectPut`` writes a batch from the worker's own thread while the
pipe has room for it (under the write lock the workers share); else the feeder sends the bytes
already pickled, so a batch's shipment is made once.

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
import fcntl
import math
import multiprocessing.connection
import multiprocessing.queues
import os
import pickle
import queue
import select
import struct
import sys
import termios
from multiprocessing.reduction import ForkingPickler
from types import FrameType
from typing import Any, Literal

_SMALL = 512  # bytes: an index larger than this goes the usual way (a write below PIPE_BUF is atomic)
_DEPTH = 8  # frames between the unpickling and torch's _try_get_data
_RESULTS_LIMIT = 1 << 20  # a worker's result: written here if the pipe has room for it
_WORKER_MODULE = "torch.utils.data._utils.worker"
_LENGTH = struct.Struct("!i")  # multiprocessing.connection's frame header


class DirectPut:
    """``put`` for one queue: written straight to the pipe while its feeder thread is idle.

    ``limit``: the largest pickle written here (bytes). ``room``: write only while the pipe has room
    for it (several processes may write to it, and a full pipe would block this thread)."""

    __slots__ = ("limit", "queue", "room", "written")

    def __init__(self, q: multiprocessing.queues.Queue[Any], limit: int = _SMALL, room: bool = False) -> None:
        self.queue = q
        self.limit = limit
        self.room = room
        self.written = 0  # items written here rather than by the feeder thread

    def __call__(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        q: Any = self.queue
        if q._closed:
            raise ValueError(f"Queue {q!r} is closed")
        if not q._sem.acquire(block, timeout):
            raise queue.Full
        with q._notempty:
            # A waiter on the condition is the feeder, idle: it sent all it took and holds nothing.
            if q._thread is not None and not q._buffer and q._notempty._waiters:
                sent = _send(q, obj, self.limit, self.room)
                if sent is True:
                    self.written += 1
                    return
                if sent is not None:  # pickled, not written: the feeder sends it, not a 2nd pickle
                    obj = _Pickled(sent)
            if q._thread is None:
                q._start_thread()
            q._buffer.append(obj)
            q._notempty.notify()


class _Pickled:
    """An item pickled already (its reducers ran once): it pickles as the call that unpickles those
    bytes, so what arrives is what the first pickle made."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return (pickle.loads, (self.data,))


def _send(q: Any, obj: Any, limit: int, room: bool) -> Literal[True] | bytes | None:
    """Write ``obj``, pickled, to ``q``'s pipe: True if written; its pickle if too large or the pipe
    too full; None if it does not pickle (the feeder thread then meets that error the usual way).

    The frame is the one ``Connection.send_bytes`` writes (a 4-byte big-endian length, then the
    bytes). Under the queue's write lock no other process writes; at most ``PIPE_BUF`` bytes to a
    blocking pipe are written whole, and more while the pipe has room for them."""
    if type(obj) is tuple and len(obj) == 2 and type(obj[0]) is int and obj[1] is None:
        data = pickle.dumps(obj)  # torch's (n, None): what ForkingPickler gives, without copying its tables
    else:
        try:
            data = bytes(ForkingPickler.dumps(obj))
        except Exception:
            return None
    if len(data) > limit:
        return data
    frame = memoryview(_LENGTH.pack(len(data)) + data)
    lock = q._wlock
    # Where several processes write (``room``), one whose writer was preempted holding the lock
    # would stall this thread: it leaves the item to the feeder thread instead of waiting.
    if lock is not None and not lock.acquire(not room):
        return data
    try:
        fd = q._writer.fileno()
        if room and not _has_room(fd, len(frame)):
            return data
        while frame:
            frame = frame[os.write(fd, frame) :]
    except OSError:
        if len(frame) != len(data) + _LENGTH.size:  # pragma: no cover - the pipe broke mid-frame
            raise
        return data
    finally:
        if lock is not None:
            lock.release()
    return True


def _has_room(fd: int, size: int) -> bool:
    """Whether pipe ``fd`` holds so little that ``size`` more bytes go in without waiting (half its
    capacity kept free: small writes can each take a page of it)."""
    try:
        capacity = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
        waiting: int = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except (OSError, AttributeError):  # not Linux, or not a pipe: the feeder thread writes it
        return False
    return waiting + size <= capacity // 2


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


def worker_results(frame: FrameType | None) -> Any:
    """The result queue of torch's worker loop, a caller of ``frame`` (a worker starting to iterate
    its dataset), or None."""
    for _ in range(_DEPTH):
        if frame is None:
            return None
        if frame.f_code.co_name == "_worker_loop" and frame.f_globals.get("__name__") == _WORKER_MODULE:
            return frame.f_locals.get("data_queue")
        frame = frame.f_back
    return None


def results_written_directly(frame: FrameType | None) -> bool:
    """In a DataLoader worker: give the result queue of the worker loop calling ``frame`` a
    ``DirectPut``, if it fits; whether it has one now.

    The feeder thread that sends a worker's batches needs the worker's GIL, which decoding the next
    batch holds: it waited up to the interpreter's switch interval (5 ms, several batches) for it,
    and while a batch waits, torch (in order) sends no next index, so the workers stall in turn.
    Written by the worker's own thread, a batch leaves when it is made."""
    q = worker_results(frame)
    if not _fits(q):
        return False
    if not isinstance(vars(q).get("put"), DirectPut):
        q.put = DirectPut(q, limit=_RESULTS_LIMIT, room=True)
    return True


def installed_from_caller(dataset_type: type) -> bool:
    """From a batch's unpickling in the main process: ``install`` for the DataLoader that receives
    it, found from the calling frames."""
    return install(loader_iterator(sys._getframe(1)), dataset_type)
