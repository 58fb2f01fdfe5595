"""The host's handle on one lens worker process: its pipes, progress page and shared-memory arenas.

The worker (:mod:`atdata.sandbox.worker`) is a fresh interpreter, not a fork of the caller,
started with only the descriptors it needs and no secrets from the caller's environment. Arrays
cross in two shared-memory arenas of :data:`SLOTS` slots each, one slot per batch that may be in
flight: the host writes a batch's arrays into an input slot, which the worker maps read-only (its
descriptor is opened read-only, so the mapping cannot be made writable either), and the worker
writes its answer's arrays into the output slot of the same number. The host copies them out of
that slot alone, checking every offset and length the answer names against it
(:func:`atdata.sandbox.wire.decode`); a worker has no way to reach another worker's arenas.
Slots are used in turn, batch *k* of a worker in slot *k* mod :data:`SLOTS` on both sides, so
neither side ever names a slot to the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import select
import subprocess
import sys
import threading
from collections import deque
from typing import Any

from atdata.sandbox import wire
from atdata.sandbox.worker import PROGRESS, SLOTS

STDERR_CAP = 16 * 1024
_F_SETPIPE_SZ = 1031
# No secrets from the caller's environment reach lens code; one BLAS thread keeps memory bounded.
# glibc's malloc keeps up to 64 MiB of freed heap, and takes arrays below 32 MiB from the heap,
# instead of giving memory back at every batch's end and mapping each large array afresh: otherwise
# every batch faults in fresh pages for its arrays (a third of a worker's CPU on 64x64 images,
# two thirds on 512 KiB arrays). The address-space limit still bounds what it may hold.
_WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "LC_ALL": "C.UTF-8",
    "MALLOC_TRIM_THRESHOLD_": str(64 << 20),
    "MALLOC_TOP_PAD_": str(16 << 20),
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
}


def _arena(name: str, size: int) -> tuple[int, mmap.mmap]:
    fd = os.memfd_create(name)
    os.ftruncate(fd, size)
    return fd, mmap.mmap(fd, size)


def read_only_descriptor(fd: int) -> int:
    """A new descriptor of the same file, opened read-only: whoever maps it cannot write to it.

    A shared mapping of a read-only descriptor cannot be made writable later (``mprotect`` refuses),
    which is what keeps a worker out of the input arena the host keeps filling.
    """
    return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)


def _slots(arena: mmap.mmap, slot_bytes: int) -> list[memoryview]:
    whole = memoryview(arena)
    return [whole[i * slot_bytes : (i + 1) * slot_bytes] for i in range(SLOTS)]


class WorkerHandle:
    """One running worker process: start, send, receive, and kill it.

    ``slot_bytes`` is the size of each arena slot (array bytes that do not fit travel over the
    pipe). ``pending`` holds what the program has in flight here, in the order it was sent.
    """

    command: tuple[str, ...] = (sys.executable, "-I", "-m", "atdata.sandbox.worker")
    """What is started; the descriptors' numbers follow."""

    def __init__(self, slot_bytes: int) -> None:
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        for fd in (self.to_worker, self.from_worker):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
        progress_fd, self.progress = _arena("atdata-lens-progress", PROGRESS.size)
        PROGRESS.pack_into(self.progress, 0, -1, -1)
        in_fd, self._in_map = _arena("atdata-lens-arena-in", SLOTS * slot_bytes)
        out_fd, out_map = _arena("atdata-lens-arena-out", SLOTS * slot_bytes)
        out_map.close()
        # The host only ever reads the output arena: it maps it read-only.
        self._out_map = mmap.mmap(out_fd, SLOTS * slot_bytes, prot=mmap.PROT_READ)
        in_ro = read_only_descriptor(in_fd)
        os.close(in_fd)
        self.arena_in = _slots(self._in_map, slot_bytes)
        self.arena_out = _slots(self._out_map, slot_bytes)
        self.reader = wire.FrameReader(self.from_worker, timed=True)
        self._ready = select.poll()
        self._ready.register(self.from_worker, select.POLLIN | select.POLLHUP | select.POLLERR)
        passed = (to_worker_r, from_worker_w, progress_fd, in_ro, out_fd)
        try:
            self.proc = subprocess.Popen(
                [*self.command, *(str(fd) for fd in passed)],
                pass_fds=passed,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_WORKER_ENV,
                cwd="/",
                start_new_session=True,
            )
        finally:
            for fd in passed:
                os.close(fd)
        self.output = bytearray()
        self._drainer = threading.Thread(target=self._drain, name="atdata-lens-worker-output", daemon=True)
        self._drainer.start()
        self.cpu_left = float("inf")
        self.sent = 0  # batches sent; batch k uses slot k % SLOTS
        self.answered = 0
        self.last_answer_at = 0.0  # monotonic time the last answer arrived: the next batch started then
        self.pending: deque[Any] = deque()

    def _drain(self) -> None:
        # Keep the first few KiB of what the worker prints; read and drop the rest so it never blocks.
        stream = self.proc.stdout
        assert stream is not None
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            room = STDERR_CAP - len(self.output)
            if room > 0:
                self.output += chunk[:room]

    def send(self, message: dict[str, Any]) -> None:
        """Send a message that carries no arrays (loading the program)."""
        wire.write_frame(self.to_worker, wire.encode(message))

    def send_batch(self, message: dict[str, Any]) -> int:
        """Send one batch, its arrays through the next input slot; returns that slot."""
        slot = self.sent % SLOTS
        wire.write_frame(self.to_worker, wire.encode(message, arena=self.arena_in[slot]))
        self.sent += 1
        return slot

    def receive(self, deadline: float, limit: int, slot: int | None = None) -> Any:
        """The next answer; array bytes are read from output ``slot`` only, and copied out.

        Never more than the worker may hold: an answer past its memory limit was not made
        honestly. The structure part is capped lower, since decoding it makes many Python objects
        per byte.
        """
        reply = self.reader.read(
            deadline=deadline,
            max_data=limit,
            max_meta=max(1 << 20, limit // 8),
            max_total=limit,
            copy_arena=True,
            arena=None if slot is None else self.arena_out[slot],
        )
        if reply is None:
            raise wire.WireClosed("the lens worker closed its pipe")
        return reply

    def answer_ready(self) -> bool:
        """Whether an answer (or the end of the stream) can be read now without waiting."""
        return self.from_worker >= 0 and bool(self._ready.poll(0))

    def where(self) -> tuple[int, int]:
        """The step and item the worker last said it was working on (-1 when between batches)."""
        step, item = PROGRESS.unpack_from(self.progress, 0)
        return step, item

    def kill(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        code = self.proc.wait()
        self.close_pipes()
        return code

    def close(self) -> None:
        self.close_pipes()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def close_pipes(self) -> None:
        for fd in (self.to_worker, self.from_worker):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.to_worker = self.from_worker = -1
        self._drainer.join(timeout=2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stderr_text(self) -> str:
        text = self.output.decode("utf-8", "replace").strip()
        return text[-300:]
