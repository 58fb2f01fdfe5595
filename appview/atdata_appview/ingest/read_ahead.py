"""Reading a firehose ahead of verification, bounded in bytes as well as in frames.

Ingest wants big batches (per-transaction costs rule small ones), so frames must be read ahead while
the previous batch is verified. websockets bounds its own buffer only in frames, and a frame may be up
to ``HARD_FRAME_BYTES`` (64 MiB: an oversize frame must be read whole to learn its seq and skip it), so
a read-ahead of a batch of frames would let a hostile host park a thousand 64 MiB frames in the
appview's memory. Here websockets keeps its default 16 frames (in the receiving process, see
:mod:`relay_reader`), and a reader thread moves them into a buffer that holds at most ``batch_size``
frames and ``limit_bytes`` bytes (one frame always, however large); the verifier takes whatever is
buffered as its next batch. Waiting for room, the reader thread holds what its last read returned:
one frame, or from :mod:`relay_reader` the frames of one pipe read (a MiB at most, or one frame).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

READ_AHEAD_BYTES = 64 * 1024 * 1024
"""Bytes of frames buffered ahead of verification, at most (beyond one frame)."""
WEBSOCKET_QUEUE_FRAMES = 16
"""Frames websockets itself buffers (its default): the reader thread drains them as they arrive. Fewer
made websockets pause and resume its socket every few frames, which cost ~40% more CPU per event
(benchmarks/appview_ingest.py)."""


class _Receiving(Protocol):
    def recv(self) -> str | bytes: ...  # or also recv_many() -> list of frames, used when present


class FrameReadAhead:
    """Frames read from ``ws`` on a thread of their own, handed out in batches by :meth:`take`.

    An error of the connection (closed, too big a frame) is raised by :meth:`take` once the frames
    read before it have been taken, so none is lost and the order holds."""

    def __init__(self, ws: _Receiving, *, batch_size: int, limit_bytes: int = READ_AHEAD_BYTES) -> None:
        self._ws = ws
        self._batch_size = batch_size
        self._limit = limit_bytes
        self._frames: deque[bytes] = deque()
        self._bytes = 0
        self._error: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="firehose read-ahead", daemon=True)
        self._thread.start()

    @property
    def buffered_bytes(self) -> int:
        """Bytes of the frames read and not yet taken."""
        with self._cond:
            return self._bytes

    def _full(self, size: int) -> bool:
        # One frame is always let in, whatever its size: otherwise a frame above the limit could
        # never be read, and the stream would stall on it.
        if not self._frames:
            return False
        return len(self._frames) >= self._batch_size or self._bytes + size > self._limit

    def _read(self) -> None:
        # A connection that hands over several frames per call (relay_reader's) is woken, and takes
        # the lock, once per call rather than once per frame.
        many = getattr(self._ws, "recv_many", None)
        try:
            while True:
                messages = many() if many is not None else [self._ws.recv()]
                with self._cond:
                    for message in messages:
                        if not isinstance(message, bytes):
                            continue  # text frames carry nothing of the protocol
                        while not self._closed and self._full(len(message)):
                            self._cond.notify_all()  # the frames let in so far can be taken
                            self._cond.wait()
                        if self._closed:
                            return
                        self._frames.append(message)
                        self._bytes += len(message)
                    self._cond.notify_all()
        except BaseException as e:  # handed to the verifying thread, which reconnects
            with self._cond:
                self._error = e
                self._cond.notify_all()

    def take(self, timeout: float) -> list[bytes]:
        """The frames buffered now (waiting up to ``timeout`` seconds for a first one); an empty list
        when none came. Raises the connection's error once every frame before it was taken."""
        with self._cond:
            if not self._frames and self._error is None:
                self._cond.wait(timeout)
            if not self._frames:
                if self._error is not None:
                    raise self._error
                return []
            frames = list(self._frames)
            self._frames.clear()
            self._bytes = 0
            self._cond.notify_all()
            return frames

    def close(self) -> None:
        """Stop reading (the connection itself is closed by its owner, which ends a pending recv)."""
        with self._cond:
            self._closed = True
            self._frames.clear()
            self._bytes = 0
            self._cond.notify_all()
