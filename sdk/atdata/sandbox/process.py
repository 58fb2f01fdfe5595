"""The host side of process isolation: start, feed, time and, when needed, kill a lens worker.

The worker (:mod:`atdata.sandbox.worker`) is a fresh interpreter, not a fork of the caller. Items
go over a pipe in batches (:mod:`atdata.sandbox.wire`, no pickles); each batch has a wall-clock
deadline after which the worker is killed. A killed or crashed worker is replaced by a fresh one
on the next call; the caller only ever sees :class:`~atdata.errors.LensExecutionError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import mmap
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from atdata.errors import LensExecutionError, LensLimitError, LensValidationError, Violation
from atdata.sandbox import wire
from atdata.sandbox.dialect_check import check_source
from atdata.sandbox.spec import LensStep, Limits
from atdata.sandbox.worker import PROGRESS

# Python loops notice the budget themselves; the host kills only what does not stop in time.
KILL_GRACE_SECONDS = 2.0
STARTUP_SECONDS = 60.0
STDERR_CAP = 16 * 1024
MAX_BATCH_ITEMS = 4096
MAX_BATCH_BYTES = 32 << 20
MIN_SPLIT_ITEMS = 16  # a batch is spread over several workers only if each gets this many items
_F_SETPIPE_SZ = 1031
# No secrets from the caller's environment reach lens code; one BLAS thread keeps memory bounded.
_WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "LC_ALL": "C.UTF-8",
}


class _Worker:
    """One running worker process, its pipes, its progress page and its shared-memory arena.

    The arena's first half carries array bytes to the worker, the second half back; each side
    writes its half only while the other is not reading it (one batch in flight per worker).
    """

    def __init__(self, arena_half: int) -> None:
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        for fd in (self.to_worker, self.from_worker):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
        progress_fd = os.memfd_create("atdata-lens-progress")
        os.ftruncate(progress_fd, PROGRESS.size)
        self.progress = mmap.mmap(progress_fd, PROGRESS.size)
        PROGRESS.pack_into(self.progress, 0, -1, -1)
        arena_fd = os.memfd_create("atdata-lens-arena")
        os.ftruncate(arena_fd, 2 * arena_half)
        self._arena_map = mmap.mmap(arena_fd, 2 * arena_half)
        whole = memoryview(self._arena_map)
        self.arena_in, self.arena_out = whole[:arena_half], whole[arena_half:]
        self.reader = wire.FrameReader(self.from_worker, arena=self.arena_out, timed=True)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "atdata.sandbox.worker",
                 str(to_worker_r), str(from_worker_w), str(progress_fd), str(arena_fd)],
                pass_fds=(to_worker_r, from_worker_w, progress_fd, arena_fd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_WORKER_ENV,
                cwd="/",
                start_new_session=True,
            )  # fmt: skip
        finally:
            for fd in (to_worker_r, from_worker_w, progress_fd, arena_fd):
                os.close(fd)
        self.output = bytearray()
        self._drainer = threading.Thread(target=self._drain, name="atdata-lens-worker-output", daemon=True)
        self._drainer.start()
        self.cpu_left = float("inf")

    def _drain(self) -> None:
        # Keep the first few KiB of what the worker prints; read and drop the rest so it never blocks.
        stream = self.proc.stdout
        assert stream is not None
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            room = STDERR_CAP - len(self.output)
            if room > 0:
                self.output += chunk[:room]

    def send(self, message: dict[str, Any]) -> None:
        wire.write_frame(self.to_worker, wire.encode(message, arena=self.arena_in))

    def receive(self, deadline: float, limit: int) -> Any:
        # Arena arrays are copied out: the worker reuses its half for the next batch. Never more
        # than the worker may hold: an answer past its memory limit was not made honestly. The
        # structure part is capped lower, since decoding it makes many Python objects per byte.
        reply = self.reader.read(
            deadline=deadline,
            max_data=limit,
            max_meta=max(1 << 20, limit // 8),
            max_total=limit,
            copy_arena=True,
        )
        if reply is None:
            raise wire.WireError("the lens worker closed its pipe")
        return reply

    def where(self) -> tuple[int, int]:
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


def _shutdown(worker_box: list[_Worker | None]) -> None:
    worker = worker_box[0]
    if worker is not None:
        worker_box[0] = None
        worker.kill()


def _step_wire(step: LensStep) -> dict[str, Any]:
    return {
        "source": step.source,
        "name": step.name,
        "source_type": step.source_type,
        "target_type": step.target_type,
        "direction": step.direction,
        "source_shape": None if step.source_shape is None else step.source_shape.to_wire(),
        "target_shape": None if step.target_shape is None else step.target_shape.to_wire(),
        "ops": step.ops,
    }


def _batches(n: int, items: Sequence[dict[str, Any]], limit_bytes: int) -> list[tuple[int, int]]:
    """Index ranges of the batches to send: bounded in items and in array bytes."""
    out: list[tuple[int, int]] = []
    start = 0
    size = 0
    for i in range(n):
        item_bytes = sum(v.nbytes for v in items[i].values() if type(v) is np.ndarray)
        if i > start and (i - start >= MAX_BATCH_ITEMS or size + item_bytes > limit_bytes):
            out.append((start, i))
            start, size = i, 0
        size += item_bytes
    if start < n:
        out.append((start, n))
    return out


class ProcessProgram:
    """Lens steps running in sandboxed worker processes; see :func:`atdata.sandbox.load_program`.

    One worker starts at load time (so that bad code fails there); a run of several batches
    starts up to ``workers`` of them and spreads the batches over them.
    """

    def __init__(self, steps: Sequence[LensStep], limits: Limits, *, workers: int = 1) -> None:
        for step in steps:  # refuse bad code before starting anything; the worker checks again
            if step.ops is None:
                check_source(step.source, filename=f"<lens {step.name}>")
        self._steps = list(steps)
        self._limits = limits
        self._box: list[_Worker | None] = [None] * max(1, workers)
        self._slot_locks = [threading.Lock() for _ in self._box]
        self._closed = False
        self._unstartable: set[int] = set()
        self._finalizer = weakref.finalize(self, _shutdown, self._box)
        self._batch_bytes = max(1 << 20, min(MAX_BATCH_BYTES, limits.memory_bytes // 8))
        self._worker(0)

    def __enter__(self) -> ProcessProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        for slot, lock in enumerate(self._slot_locks):
            with lock:  # waits for a worker being started in the background
                worker, self._box[slot] = self._box[slot], None
            if worker is not None:
                worker.close()
        self._finalizer.detach()

    @property
    def worker_pid(self) -> int | None:
        """The first worker's process id (None when it is not running)."""
        worker = self._box[0]
        return None if worker is None else worker.proc.pid

    @property
    def worker_pids(self) -> set[int]:
        """The process ids of every running worker."""
        return {w.proc.pid for w in self._box if w is not None}

    def run(self, items: Sequence[dict[str, Any]], keys: Sequence[str | None]) -> list[dict[str, Any]]:
        if len(items) != len(keys):
            raise ValueError(f"{len(items)} items but {len(keys)} keys")
        batches = self._split(_batches(len(items), items, self._batch_bytes))
        return self._call([({"op": "run", "items": list(items[lo:hi])}, keys[lo:hi]) for lo, hi in batches])

    def run_put(
        self,
        views: Sequence[dict[str, Any]],
        sources: Sequence[dict[str, Any]],
        keys: Sequence[str | None],
        *,
        step: int | None = None,
    ) -> list[dict[str, Any]]:
        if not len(views) == len(sources) == len(keys):
            raise ValueError(f"{len(views)} views, {len(sources)} sources and {len(keys)} keys")
        puts = [i for i, s in enumerate(self._steps) if s.direction == "put"]
        if step is None and len(puts) != 1:
            raise ValueError(f"the program has {len(puts)} put steps; pass step= to choose one")
        if step is not None and step not in puts:
            raise ValueError(f"step {step} is not a put step of this program")
        batches = self._split(_batches(len(views), views, self._batch_bytes // 2))
        return self._call(
            [
                ({"op": "put", "views": list(views[lo:hi]), "sources": list(sources[lo:hi]), "step": step},
                 keys[lo:hi])
                for lo, hi in batches
            ]
        )  # fmt: skip

    # --- talking to the workers ---------------------------------------------------------------

    def _worker(self, slot: int) -> _Worker:
        with self._slot_locks[slot]:
            return self._start(slot)

    def _start(self, slot: int) -> _Worker:
        if self._closed:
            raise LensExecutionError(self._chain_name(), "the lens program is closed")
        worker = self._box[slot]
        if worker is not None and worker.cpu_left < self._limits.cpu_seconds:
            worker.close()  # its lifetime CPU limit could cut the next batch short: start afresh
            worker = self._box[slot] = None
        if worker is None:
            worker = _Worker(self._batch_bytes + (4 << 20))
            self._box[slot] = worker
            limits = {
                "cpu_seconds": self._limits.cpu_seconds,
                "memory_bytes": self._limits.memory_bytes,
                "open_files": self._limits.open_files,
                "file_size": self._limits.file_size,
                "wall_seconds_per_batch": self._limits.wall_seconds_per_batch,
            }
            message = {"op": "load", "steps": [_step_wire(s) for s in self._steps], "limits": limits}
            deadline = time.monotonic() + STARTUP_SECONDS + self._limits.wall_seconds_per_batch
            self._guard(worker, [None], worker.send, message)
            reply = self._receive(worker, deadline, [None])
            if not reply.get("ok"):
                self._discard(worker)
                self._raise_for(reply, [None])
        return worker

    def _call(self, batches: list[tuple[dict[str, Any], Sequence[str | None]]]) -> list[dict[str, Any]]:
        """Send the batches on feeder threads (one per worker) and read the answers in order.

        Each worker computes while the caller encodes and decodes; a failure anywhere replaces
        every worker that still had batches queued.
        """
        if not batches:
            return []
        ready = self._ready_slots()
        if len(batches) <= len(ready):
            return self._call_direct(batches, ready)
        feeders = [_Feeder(self, slot, batches) for slot in range(min(len(self._box), len(batches)))]
        shared = _Queue(len(batches))
        for feeder in feeders:
            feeder.start(shared)
        out: list[dict[str, Any]] = []
        done = False
        try:
            for n, (_, keys) in enumerate(batches):
                worker, feeder = shared.owner_of(n, feeders)
                deadline = time.monotonic() + self._limits.wall_seconds_per_batch + KILL_GRACE_SECONDS
                reply = self._receive(worker, deadline, keys)
                feeder.answered()
                out.extend(self._items_of(reply, keys))
            done = True
        finally:
            shared.stop()
            if not done:  # kill first: a feeder may be blocked writing to a worker nobody reads
                self._discard_busy(feeders)
            for feeder in feeders:
                feeder.join()
            if not done:  # a batch may have been sent between the check above and the join
                self._discard_busy(feeders)
        return out

    def _call_direct(
        self, batches: list[tuple[dict[str, Any], Sequence[str | None]]], ready: list[int]
    ) -> list[dict[str, Any]]:
        """One batch per running worker: send them all, then read the answers in order."""
        workers = [self._worker(slot) for slot in ready[: len(batches)]]
        sent = answered = 0
        try:
            for worker, (message, keys) in zip(workers, batches):
                PROGRESS.pack_into(worker.progress, 0, -1, -1)
                self._guard(worker, keys, worker.send, message)
                sent += 1
            out: list[dict[str, Any]] = []
            for worker, (_, keys) in zip(workers, batches):
                deadline = time.monotonic() + self._limits.wall_seconds_per_batch + KILL_GRACE_SECONDS
                reply = self._receive(worker, deadline, keys)
                answered += 1
                out.extend(self._items_of(reply, keys))
            return out
        finally:
            for worker in workers[answered:sent]:
                self._discard(worker)  # it holds a batch whose answer nobody will read

    def _items_of(self, reply: dict[str, Any], keys: Sequence[str | None]) -> list[dict[str, Any]]:
        if not reply.get("ok"):
            self._raise_for(reply, keys)
        items = reply.get("items")
        if not _well_formed(items, len(keys)):
            raise LensExecutionError(self._chain_name(), "the lens worker sent a malformed answer")
        return items  # type: ignore[return-value]

    def _ready_slots(self, *, warm: bool = False) -> list[int]:
        """Slots with a running worker; slot 0 is always included (started on demand).

        With ``warm``, idle slots get a worker started in the background for later calls.
        """
        ready = [0]
        for slot in range(1, len(self._box)):
            if self._box[slot] is not None and not self._slot_locks[slot].locked():
                ready.append(slot)
            elif warm and not self._slot_locks[slot].locked() and slot not in self._unstartable:
                # Start it in the background, for the next calls: this one won't wait for it.
                threading.Thread(
                    target=self._warm, args=(slot,), name=f"atdata-lens-start-{slot}", daemon=True
                ).start()
        return ready

    def _warm(self, slot: int) -> None:
        try:
            self._worker(slot)
        except BaseException:
            self._unstartable.add(slot)  # slot 0 still serves; don't retry on every call

    def _split(self, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Spread one batch over the running workers when it is big enough to be worth it."""
        if len(ranges) != 1 or len(self._box) == 1:
            return ranges
        lo, hi = ranges[0]
        if (hi - lo) // MIN_SPLIT_ITEMS < 2:
            return ranges
        parts = min(len(self._ready_slots(warm=True)), (hi - lo) // MIN_SPLIT_ITEMS)
        if parts < 2:
            return ranges
        cuts = [lo + (hi - lo) * k // parts for k in range(parts + 1)]
        return list(itertools.pairwise(cuts))

    def _discard_busy(self, feeders: list[_Feeder]) -> None:
        for feeder in feeders:
            if feeder.worker is not None and feeder.in_flight():
                self._discard(feeder.worker)  # it holds batches whose answers nobody will read

    def _receive(self, worker: _Worker, deadline: float, keys: Sequence[str | None]) -> dict[str, Any]:
        reply = self._guard(worker, keys, worker.receive, deadline, self._limits.memory_bytes)
        if type(reply) is not dict:
            self._discard(worker)
            raise LensExecutionError(self._chain_name(), "the lens worker sent a malformed answer")
        cpu_left = reply.get("cpu_left")
        worker.cpu_left = float(cpu_left) if isinstance(cpu_left, int | float) else 0.0
        return reply

    def _guard(self, worker: _Worker, keys: Sequence[str | None], action: Any, *args: Any) -> Any:
        """Run one pipe operation; a timeout or a dead worker becomes a LensExecutionError."""
        try:
            return action(*args)
        except wire.WireTooLarge as e:
            step, item = worker.where()
            self._discard(worker)
            limit = self._limits.memory_bytes
            why = f"the lens worker's answer is larger than its memory limit of {limit} bytes: {e}"
            raise LensLimitError(self._step_name(step), why, key=_key(keys, item)) from None
        except wire.WireTimeout:
            step, item = worker.where()
            self._discard(worker)
            why = (
                f"ran longer than the wall-clock limit of {self._limits.wall_seconds_per_batch:g} s per batch"
            )
            raise LensLimitError(self._step_name(step), why, key=_key(keys, item)) from None
        except (wire.WireError, OSError):
            step, item = worker.where()
            code = self._discard(worker)
            kind = LensLimitError if code < 0 else LensExecutionError  # killed: CPU, memory or the host
            raise kind(
                self._step_name(step), self._death_reason(code, worker), key=_key(keys, item)
            ) from None

    def _discard(self, worker: _Worker) -> int:
        for slot, current in enumerate(self._box):
            if current is worker:
                self._box[slot] = None
        return worker.kill()

    def _death_reason(self, code: int, worker: _Worker) -> str:
        if code == -signal.SIGXCPU or (code == -signal.SIGKILL and worker.cpu_left <= 0):
            why = f"exceeded the CPU limit of {self._limits.cpu_seconds:g} s"
        elif code < 0:
            why = f"the lens worker was killed by {signal.Signals(-code).name} (out of memory?)"
        else:
            why = f"the lens worker exited unexpectedly (status {code})"
        detail = worker.stderr_text()
        return f"{why}; worker output: {detail}" if detail else why

    def _raise_for(self, reply: dict[str, Any], keys: Sequence[str | None]) -> None:
        if reply.get("kind") == "validation":
            violations = [
                Violation(int(line), int(col), str(reason)[:500])
                for line, col, reason in reply.get("violations", [])[:200]
            ]
            raise LensValidationError(str(reply.get("where", "<lens>"))[:200], violations)
        step = reply.get("step")
        item = reply.get("item")
        reason = str(reply.get("reason", "unknown failure"))[:1000]
        kind = LensLimitError if reply.get("limit") is True else LensExecutionError
        raise kind(
            self._step_name(step if isinstance(step, int) else -1),
            reason,
            key=_key(keys, item if isinstance(item, int) else None),
        )

    def _step_name(self, step: int) -> str:
        if 0 <= step < len(self._steps):
            return self._steps[step].name
        return self._chain_name()

    def _chain_name(self) -> str:
        return " | ".join(s.name for s in self._steps)


class _Queue:
    """Hands out batch numbers to feeders and tells the reader which worker got each one."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._next = 0
        self._lock = threading.Lock()
        self._owner: list[tuple[_Worker, _Feeder] | None] = [None] * n
        self._taken = threading.Condition(self._lock)
        self.stopped = False

    def take(self) -> int | None:
        with self._lock:
            if self.stopped or self._next >= self.n:
                return None
            self._next += 1
            return self._next - 1

    def assign(self, n: int, worker: _Worker, feeder: _Feeder) -> None:
        with self._taken:
            self._owner[n] = (worker, feeder)
            self._taken.notify_all()

    def owner_of(self, n: int, feeders: list[_Feeder]) -> tuple[_Worker, _Feeder]:
        with self._taken:
            while self._owner[n] is None:
                if not any(f.alive() for f in feeders):
                    errors = [f.error for f in feeders if f.error is not None]
                    if errors:
                        raise errors[0]
                    raise LensExecutionError("lens", "no lens worker took the batch")
                self._taken.wait(0.05)
            owner = self._owner[n]
            assert owner is not None
            return owner

    def stop(self) -> None:
        with self._lock:
            self.stopped = True


class _Feeder:
    """Starts one worker if needed and sends it a batch whenever its previous one was answered."""

    def __init__(self, program: ProcessProgram, slot: int, batches: list[tuple[dict[str, Any], Any]]) -> None:
        self.program = program
        self.slot = slot
        self.batches = batches
        self.worker: _Worker | None = None
        self.error: BaseException | None = None
        self._credit = threading.Semaphore(1)  # one batch in flight: the arena holds one
        self._sent = 0
        self._answered = 0
        self._thread = threading.Thread(target=self._run, name=f"atdata-lens-feeder-{slot}", daemon=True)
        self._queue: _Queue | None = None

    def start(self, queue: _Queue) -> None:
        self._queue = queue
        if self.slot == 0:
            try:  # the first worker is started (or restarted) right here, so its errors surface
                self.worker = self.program._worker(0)
                PROGRESS.pack_into(self.worker.progress, 0, -1, -1)
            except BaseException as e:
                self.error = e
                return
        self._thread.start()

    def _run(self) -> None:
        queue = self._queue
        assert queue is not None
        try:
            if self.worker is None:
                self.worker = self.program._worker(self.slot)
                PROGRESS.pack_into(self.worker.progress, 0, -1, -1)
            while True:
                self._credit.acquire()
                n = queue.take()
                if n is None:
                    return
                queue.assign(n, self.worker, self)
                self._sent += 1
                self.worker.send(self.batches[n][0])
        except (OSError, ValueError):
            return  # the worker died: the reader finds out and says why
        except BaseException as e:
            self.error = e

    def answered(self) -> None:
        self._answered += 1
        self._credit.release()

    def in_flight(self) -> bool:
        return self._sent > self._answered

    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> None:
        self._credit.release()  # wake it if it waits for credit; it then sees the queue stopped
        if self._thread.ident is not None:
            self._thread.join()


def _well_formed(items: Any, n: int) -> bool:
    return type(items) is list and len(items) == n and all(type(i) is dict for i in items)


def _key(keys: Sequence[str | None], item: int | None) -> str | None:
    if item is None or not 0 <= item < len(keys):
        return None
    return keys[item]
