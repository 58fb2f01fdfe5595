"""Process isolation: lens steps run in sandboxed worker processes, batches pipelined through them.

:class:`ProcessProgram` keeps up to ``workers`` locked-down worker processes for one program
(:mod:`atdata.sandbox.worker_handle`) and reuses them for every batch until one breaks a limit or
the program is closed. :meth:`ProcessProgram.submit` sends a batch and returns at once; its
:class:`Pending` answer is read when asked for, so the caller prepares the next batch while the
workers compute. A worker holds up to :data:`~atdata.sandbox.worker.SLOTS` batches and answers
them in order; a second batch is queued behind a running one only when its worker's lifetime CPU
limit leaves both their full ``cpu_seconds``, and only when its frame fits the pipe without
waiting for the worker (so neither side can block writing while the other does too).

Each batch has a wall-clock deadline from the moment its worker starts it, after which the worker
is killed; a killed or crashed worker is replaced by a fresh one, and batches it held behind the
failing one are sent again to another. The caller only ever sees
:class:`~atdata.errors.LensExecutionError` (and :class:`~atdata.errors.LensValidationError` for
code the worker's own check refuses).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

from atdata.errors import AtdataError, LensExecutionError, LensLimitError
from atdata.sandbox import wire
from atdata.sandbox.batching import MAX_BATCH_BYTES, batch_ranges, spread
from atdata.sandbox.columns import Batch, unpack
from atdata.sandbox.dialect_check import check_source
from atdata.sandbox.spec import LensStep, Limits
from atdata.sandbox.worker import SLOTS
from atdata.sandbox.worker_errors import death_reason, failure_of, key_at
from atdata.sandbox.worker_handle import WorkerHandle

# Python loops notice the budget themselves; the host kills only what does not stop in time.
KILL_GRACE_SECONDS = 2.0
STARTUP_SECONDS = 60.0
QUEUED_FRAME_BYTES = 64 << 10
"""A batch is queued behind a running one only if its frame fits a pipe's smallest buffer."""
MAX_RESENDS = 2


class _Sent:
    """One batch sent to a worker, and its answer once read."""

    __slots__ = ("error", "keys", "message", "parked", "resends", "sent_at", "slot", "value", "worker")

    def __init__(self, message: dict[str, Any], keys: Sequence[str | None]) -> None:
        self.message = message
        self.keys = keys
        self.worker: WorkerHandle | None = None
        self.slot = 0
        self.sent_at = 0.0
        self.value: list[dict[str, Any]] | None = None
        self.error: AtdataError | None = None
        self.resends = 0
        self.parked = False  # waiting in the program's queue for a worker with room

    @property
    def done(self) -> bool:
        return self.value is not None or self.error is not None


class Pending:
    """Batches sent to workers: :meth:`result` waits for their items, in order (or raises)."""

    def __init__(self, program: ProcessProgram, sent: list[_Sent]) -> None:
        self._program = program
        self._sent = sent

    def result(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        self._program.dispatch()  # workers with room take queued batches before we wait
        for sent in self._sent:
            out.extend(self._program._wait(sent))
        return out


def _shutdown(workers: list[WorkerHandle | None]) -> None:
    for i, worker in enumerate(workers):
        workers[i] = None
        if worker is not None:
            worker.kill()


def step_message(step: LensStep) -> dict[str, Any]:
    """A step as plain data, as the worker receives it."""
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


class ProcessProgram:
    """Lens steps running in sandboxed worker processes; see :func:`atdata.sandbox.load_program`.

    One worker starts at load time (so that bad code fails there); the others start in the
    background at the first run and take batches once they are up. Not meant to be shared
    between threads.
    """

    def __init__(self, steps: Sequence[LensStep], limits: Limits, *, workers: int = 1) -> None:
        for step in steps:  # refuse bad code before starting anything; the worker checks again
            if step.ops is None:
                check_source(step.source, filename=f"<lens {step.name}>")
        self._steps = list(steps)
        self._limits = limits
        self._workers: list[WorkerHandle | None] = [None] * max(1, workers)
        self._starting: set[int] = set()
        self._unstartable: set[int] = set()
        self._lock = threading.Lock()  # the background starters publish their workers under it
        self._closed = False
        self._turn = 0
        self._parked: deque[_Sent] = deque()  # submitted, not yet sent: every worker was full
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)
        self._batch_bytes = max(1 << 20, min(MAX_BATCH_BYTES, limits.memory_bytes // 8))
        self._workers[0] = self._start()

    def __enter__(self) -> ProcessProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = [w for w in self._workers if w is not None]
            self._workers[:] = [None] * len(self._workers)
        for worker in workers:
            worker.close()
        self._finalizer.detach()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def worker_pid(self) -> int | None:
        """The first worker's process id (None when it is not running)."""
        worker = self._workers[0]
        return None if worker is None else worker.proc.pid

    @property
    def worker_pids(self) -> set[int]:
        """The process ids of every running worker."""
        return {w.proc.pid for w in self._workers if w is not None}

    @property
    def depth(self) -> int:
        """How many batches may usefully be in flight at once (workers times slots)."""
        return len(self._workers) * SLOTS

    # --- the public calls -----------------------------------------------------------------------

    def submit(self, items: Sequence[dict[str, Any]] | Batch, keys: Sequence[str | None]) -> Pending:
        """Send ``items`` through the ``get`` steps; the answer is read by ``result()``."""
        batch = self._batch(items, keys)
        ranges = batch_ranges(batch, self._batch_bytes)
        return self._submit(
            [({"op": "run", "items": batch.packed(lo, hi)}, keys[lo:hi]) for lo, hi in ranges]
        )

    def run(
        self, items: Sequence[dict[str, Any]] | Batch, keys: Sequence[str | None]
    ) -> list[dict[str, Any]]:
        """The ``get`` steps applied to each item, a big batch spread over the running workers."""
        batch = self._batch(items, keys)
        ranges = spread(batch_ranges(batch, self._batch_bytes), self._running())
        return self._submit(
            [({"op": "run", "items": batch.packed(lo, hi)}, keys[lo:hi]) for lo, hi in ranges]
        ).result()

    @staticmethod
    def _batch(items: Sequence[dict[str, Any]] | Batch, keys: Sequence[str | None]) -> Batch:
        if len(items) != len(keys):
            raise ValueError(f"{len(items)} items but {len(keys)} keys")
        return items if isinstance(items, Batch) else Batch.of_dicts(items)

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
        view_batch, source_batch = Batch.of_dicts(views), Batch.of_dicts(sources)
        ranges = spread(batch_ranges(view_batch, self._batch_bytes // 2), self._running())
        return self._submit(
            [
                ({"op": "put", "views": view_batch.packed(lo, hi), "sources": source_batch.packed(lo, hi),
                  "step": step}, keys[lo:hi])
                for lo, hi in ranges
            ]
        ).result()  # fmt: skip

    # --- workers ------------------------------------------------------------------------------

    def _start(self) -> WorkerHandle:
        """A fresh worker with the program loaded. Raises what loading it raised."""
        if self._closed:
            raise LensExecutionError(self._chain_name(), "the lens program is closed")
        worker = WorkerHandle(self._batch_bytes + (4 << 20))
        limits = {
            "cpu_seconds": self._limits.cpu_seconds,
            "memory_bytes": self._limits.memory_bytes,
            "open_files": self._limits.open_files,
            "file_size": self._limits.file_size,
            "wall_seconds_per_batch": self._limits.wall_seconds_per_batch,
        }
        message = {"op": "load", "steps": [step_message(s) for s in self._steps], "limits": limits}
        deadline = time.monotonic() + STARTUP_SECONDS + self._limits.wall_seconds_per_batch
        try:
            worker.send(message)
            reply = worker.receive(deadline, self._limits.memory_bytes)
        except (wire.WireError, OSError) as e:
            raise self._death(worker, e, [None]) from None
        if type(reply) is not dict or not reply.get("ok"):
            worker.kill()
            raise failure_of(reply if type(reply) is dict else {}, [None], self._step_name)
        self._note_cpu(worker, reply)
        return worker

    def _start_in_background(self, index: int) -> None:
        def start() -> None:
            try:
                worker = self._start()
            except BaseException:
                with self._lock:
                    self._unstartable.add(index)  # another worker serves; don't retry on every call
                    self._starting.discard(index)
                return
            with self._lock:
                self._starting.discard(index)
                if self._closed:
                    worker.close()
                else:
                    self._workers[index] = worker

        self._starting.add(index)
        threading.Thread(target=start, name=f"atdata-lens-start-{index}", daemon=True).start()

    def _running(self) -> int:
        """How many workers are up now; while one serves, the missing ones start in the background."""
        with self._lock:
            if any(self._workers):
                for index in range(len(self._workers)):
                    if self._workers[index] is None and index not in self._starting | self._unstartable:
                        self._start_in_background(index)
            return sum(1 for w in self._workers if w is not None) or 1

    def _first(self) -> None:
        """No worker serves: wait for one starting in the background, else start one here."""
        while not any(self._workers):
            with self._lock:
                idle = [i for i in range(len(self._workers)) if i not in self._starting]
                if idle:
                    self._starting.add(idle[0])  # so that nothing starts it twice
            if not idle:
                time.sleep(0.005)  # every slot is starting in the background
                continue
            try:
                worker = self._start()
            finally:
                with self._lock:
                    self._starting.discard(idle[0])
            with self._lock:
                self._workers[idle[0]] = worker

    def _choose(self) -> WorkerHandle | None:
        """A worker that can take a batch now, or None when every running one is full."""
        if not any(self._workers):
            self._first()
        self._running()
        cpu = self._limits.cpu_seconds
        best: WorkerHandle | None = None
        n = len(self._workers)
        for k in range(n):
            index = (self._turn + k) % n
            worker = self._workers[index]
            if worker is None:
                continue
            queued = len(worker.pending)
            if queued == 0 and worker.cpu_left < cpu:
                # Its lifetime CPU limit could cut the next batch short: start afresh.
                self._replace(index)
                worker = self._workers[index]
                if worker is None:
                    continue
            # A queued batch must find its full CPU allowance too (its frame size is checked on sending).
            if queued >= SLOTS or (queued and worker.cpu_left < (queued + 1) * cpu):
                continue
            if best is None or queued < len(best.pending):
                best = worker
        if best is not None:
            self._turn = (self._workers.index(best) + 1) % n
        return best

    def _replace(self, index: int) -> None:
        """Stop worker ``index``; its successor starts in the background while another serves."""
        worker = self._workers[index]
        self._workers[index] = None
        if worker is not None:
            worker.close()
        if not any(self._workers):
            self._first()

    def _discard(self, worker: WorkerHandle) -> int:
        """Kill ``worker``; batches it still held behind the failing one are to be sent again."""
        with self._lock:
            for index, current in enumerate(self._workers):
                if current is worker:
                    self._workers[index] = None
        for sent in worker.pending:
            sent.worker = None
        worker.pending.clear()
        return worker.kill()

    # --- sending and reading ---------------------------------------------------------------

    def _submit(self, batches: list[tuple[dict[str, Any], Sequence[str | None]]]) -> Pending:
        """Send each batch to a worker with room; the rest wait in the queue, in order.

        Nothing here waits for a worker: the caller goes on (decoding the next batch) and queued
        batches are sent at its next call, or when their answer is asked for.
        """
        self._reap()
        self._send_parked()
        sent = [_Sent(message, keys) for message, keys in batches]
        for s in sent:
            if self._parked or not self._try_send(s, block=False):
                s.parked = True
                self._parked.append(s)
        return Pending(self, sent)

    def _try_send(self, sent: _Sent, *, block: bool) -> bool:
        """:meth:`_send`, a failure to send kept as the batch's answer (raised when it is asked for)."""
        try:
            return self._send(sent, block=block)
        except AtdataError as e:
            sent.error = e
            return True

    def dispatch(self) -> None:
        """Read the answers that have arrived, then send queued batches to workers with room.

        Never waits; a caller with other work (decoding the next batch) may call it between steps.
        """
        if self._parked:
            self._reap()
            self._send_parked()

    def _reap(self) -> None:
        """Read every answer that has arrived (a worker that answered has room again)."""
        for worker in self._workers:
            while worker is not None and worker.pending and worker.answer_ready():
                self._collect(worker)

    def _send_parked(self) -> None:
        while self._parked:
            head = self._parked[0]
            if not self._try_send(head, block=False):
                return
            head.parked = False
            self._parked.popleft()

    def _send(self, sent: _Sent, *, block: bool = True) -> bool:
        """Send ``sent`` to a worker; without ``block``, False when every worker is full."""
        failures = 0
        while True:
            worker = self._choose()
            if worker is None:
                if not block:
                    return False
                self._collect_oldest()
                continue
            slot = worker.sent % SLOTS
            buffers = wire.encode(sent.message, arena=worker.arena_in[slot])
            frame_bytes = sum(memoryview(b).nbytes for b in buffers)
            if worker.pending and frame_bytes > QUEUED_FRAME_BYTES:
                # Too big to queue behind a running batch: read that batch's answer first.
                while worker.pending:
                    self._collect(worker)
                if self._workers.count(worker) == 0:
                    continue  # it died answering; the arena slot went with it
            try:
                wire.write_frame(worker.to_worker, buffers)
            except OSError as e:
                # It died: its running batch (if any) learns why; an idle one is replaced.
                if worker.pending:
                    self._collect(worker)
                else:
                    error = self._death(worker, e, sent.keys)
                    failures += 1
                    if failures > MAX_RESENDS:
                        raise error from None
                continue
            worker.sent += 1
            sent.worker, sent.slot, sent.sent_at = worker, slot, time.monotonic()
            worker.pending.append(sent)
            return True

    def _collect_oldest(self) -> None:
        busy = [w for w in self._workers if w is not None and w.pending]
        if not busy:
            return
        self._collect(min(busy, key=lambda w: w.pending[0].sent_at))

    def _wait(self, sent: _Sent) -> list[dict[str, Any]]:
        while not sent.done:
            if sent.parked:
                # Queued: it and the batches queued before it go out as workers free up.
                while sent.parked:
                    head = self._parked.popleft()
                    head.parked = False
                    self._try_send(head, block=True)
            elif sent.worker is None:
                if sent.resends >= MAX_RESENDS:
                    raise LensExecutionError(
                        self._chain_name(), "lens workers kept dying before this batch ran"
                    )
                sent.resends += 1
                self._send(sent)  # its worker died on an earlier batch: send it again
            else:
                self._collect(sent.worker)
        if sent.error is not None:
            raise sent.error
        assert sent.value is not None
        return sent.value

    def _collect(self, worker: WorkerHandle) -> None:
        """Read ``worker``'s next answer into the batch it answers (the oldest it holds)."""
        head = worker.pending[0]
        started = max(head.sent_at, worker.last_answer_at)
        deadline = started + self._limits.wall_seconds_per_batch + KILL_GRACE_SECONDS
        try:
            reply = worker.receive(deadline, self._limits.memory_bytes, head.slot)
        except (wire.WireError, OSError) as e:
            worker.pending.popleft()
            head.error = self._death(worker, e, head.keys)
            return
        worker.pending.popleft()
        worker.last_answer_at = time.monotonic()
        if type(reply) is not dict:
            self._discard(worker)
            head.error = LensExecutionError(self._chain_name(), "the lens worker sent a malformed answer")
            return
        self._note_cpu(worker, reply)
        if not reply.get("ok"):
            head.error = failure_of(reply, head.keys, self._step_name)
            return
        try:
            head.value = unpack(reply.get("items"), len(head.keys))
        except ValueError as e:
            self._discard(worker)
            head.error = LensExecutionError(
                self._chain_name(), f"the lens worker sent a malformed answer: {e}"
            )

    def _death(self, worker: WorkerHandle, e: BaseException, keys: Sequence[str | None]) -> AtdataError:
        """Kill ``worker`` after ``e`` and say why, naming the sample it was working on."""
        step, item = worker.where()
        alive = worker.proc.poll() is None
        code = self._discard(worker)
        name, key = self._step_name(step), key_at(keys, item)
        if isinstance(e, wire.WireTooLarge):
            limit = self._limits.memory_bytes
            why = f"the lens worker's answer is larger than its memory limit of {limit} bytes: {e}"
            return LensLimitError(name, why, key=key)
        if isinstance(e, wire.WireTimeout):
            why = (
                f"ran longer than the wall-clock limit of {self._limits.wall_seconds_per_batch:g} s per batch"
            )
            return LensLimitError(name, why, key=key)
        if alive and isinstance(e, wire.WireError) and not isinstance(e, wire.WireClosed):
            return LensExecutionError(name, f"the lens worker sent a malformed answer: {e}", key=key)
        kind = LensLimitError if code < 0 else LensExecutionError  # killed: CPU, memory or the host
        why = death_reason(code, worker.cpu_left, self._limits.cpu_seconds, worker.stderr_text())
        return kind(name, why, key=key)

    @staticmethod
    def _note_cpu(worker: WorkerHandle, reply: dict[str, Any]) -> None:
        cpu_left = reply.get("cpu_left")
        worker.cpu_left = float(cpu_left) if isinstance(cpu_left, int | float) else 0.0

    def _step_name(self, step: int) -> str:
        if 0 <= step < len(self._steps):
            return self._steps[step].name
        return self._chain_name()

    def _chain_name(self) -> str:
        return " | ".join(s.name for s in self._steps)
