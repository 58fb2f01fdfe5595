"""The sha-256 of local shards, computed on a few shared threads while samples are decoded.

hashlib drops the GIL while it hashes, so a digest costs the decoding thread nothing but a core.
One thread per shard, started when the shard is opened, made the decoder wait at the end of every
shard whenever hashing was the slower of the two (SHA-256 runs at ~1.7 GB/s, about as fast as a
typed sample is decoded): then only one of the process's threads ran. Here digests are queued to
up to ``THREADS`` long-lived workers in the order they are asked for, and
:class:`atdata.shards.reader.ReadAhead` asks for the next shards' digests before they are read, so
hashing keeps running (on two threads, where there are two cores) while the decoder reads. Every
byte is still hashed, and a shard is still only verified once its digest matches.

Workers are daemon threads (a digest in progress never holds up the interpreter's exit) and are
started afresh in a forked child (a DataLoader worker), where the parent's threads do not exist.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading

CHUNK = 64 << 20
"""Bytes per hashlib call: the worker takes the GIL back (up to a switch interval behind the
decoder) after each, so few, large calls; a stopped digest ends at the next chunk."""


def _threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


THREADS = _threads()


class Digest:
    """The sha-256 of one buffer, being computed on a worker thread."""

    def __init__(self, data: memoryview) -> None:
        self._data: memoryview | None = data
        self._done = threading.Event()
        self._state = threading.Lock()
        self._started = self._stopped = False
        self._hex: str | None = None

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> str:
        """The hex digest, once every byte has been hashed (waits for it)."""
        self._done.wait()
        if self._hex is None:
            raise RuntimeError("the digest was stopped before it finished")
        return self._hex

    def stop(self) -> None:
        """Stop at the next chunk (:meth:`result` then raises); once this returns, the buffer is let go."""
        with self._state:
            self._stopped = True
            if not self._started:  # still queued: the worker will skip it
                self._data = None
                self._done.set()
                return
        self._done.wait()

    def _run(self) -> None:
        with self._state:
            if self._stopped:
                return
            self._started = True
        data = self._data if self._data is not None else memoryview(b"")
        try:
            h = hashlib.sha256()
            for start in range(0, len(data), CHUNK):
                if self._stopped:
                    return
                h.update(data[start : start + CHUNK])
            self._hex = h.hexdigest()
        finally:
            del data
            self._data = None
            self._done.set()


_queue: queue.SimpleQueue[Digest] = queue.SimpleQueue()
_workers = 0
_lock = threading.Lock()


def _work() -> None:
    while True:
        _queue.get()._run()


def start(data: memoryview) -> Digest:
    """Queue the sha-256 of ``data``; digests start in the order they were queued."""
    global _workers
    digest = Digest(data)
    _queue.put(digest)
    if _workers < THREADS:
        with _lock:
            if _workers < THREADS:
                _workers += 1
                threading.Thread(target=_work, name="atdata-shard-sha256", daemon=True).start()
    return digest


def _after_fork() -> None:
    global _queue, _workers, _lock
    _queue, _workers, _lock = queue.SimpleQueue(), 0, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
