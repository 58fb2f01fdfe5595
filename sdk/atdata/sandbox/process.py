"""The host side of process isolation: start, feed, time and, when needed, kill a lens worker.

The worker (:mod:`atdata.sandbox.worker`) is a fresh interpreter, not a fork of the caller. Items
go over a pipe in batches (:mod:`atdata.sandbox.wire`, no pickles); each batch has a wall-clock
deadline after which the worker is killed. A killed or crashed worker is replaced by a fresh one
on the next call; the caller only ever sees :class:`~atdata.errors.LensExecutionError`.
"""

from __future__ import annotations

import contextlib
import fcntl
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

from atdata.errors import LensExecutionError, LensValidationError, Violation
from atdata.sandbox import wire
from atdata.sandbox.runtime import Limits, LensStep
from atdata.sandbox.worker import PROGRESS

# Python loops notice the budget themselves; the host kills only what does not stop in time.
KILL_GRACE_SECONDS = 2.0
STARTUP_SECONDS = 60.0
STDERR_CAP = 16 * 1024
MAX_BATCH_ITEMS = 4096
MAX_BATCH_BYTES = 32 << 20
_F_SETPIPE_SZ = 1031
# No secrets from the caller's environment reach lens code; one BLAS thread keeps memory bounded.
_WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LC_ALL": "C.UTF-8"}


class _Worker:
    """One running worker process and its pipes."""

    def __init__(self) -> None:
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        for fd in (self.to_worker, self.from_worker):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
        progress_fd = os.memfd_create("atdata-lens-progress")
        os.ftruncate(progress_fd, PROGRESS.size)
        self.progress = mmap.mmap(progress_fd, PROGRESS.size)
        PROGRESS.pack_into(self.progress, 0, -1, -1)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "atdata.sandbox.worker",
                 str(to_worker_r), str(from_worker_w), str(progress_fd)],
                pass_fds=(to_worker_r, from_worker_w, progress_fd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_WORKER_ENV,
                cwd="/",
                start_new_session=True,
            )  # fmt: skip
        finally:
            for fd in (to_worker_r, from_worker_w, progress_fd):
                os.close(fd)
        self.output = bytearray()
        self._drainer = threading.Thread(target=self._drain, name="atdata-lens-worker-output", daemon=True)
        self._drainer.start()
        self.cpu_left = float("inf")

    def _drain(self) -> None:
        # Keep the first few KiB of what the worker prints; read and drop the rest so it never blocks.
        stream = self.proc.stdout
        assert stream is not None
        while chunk := stream.read1(65536):
            room = STDERR_CAP - len(self.output)
            if room > 0:
                self.output += chunk[:room]

    def send(self, message: dict[str, Any]) -> None:
        wire.write_frame(self.to_worker, wire.encode(message))

    def send_all(self, messages: list[dict[str, Any]]) -> None:
        """Send batches one after another (on a thread, while replies are read)."""
        try:
            for message in messages:
                self.send(message)
        except (OSError, ValueError):
            pass  # the worker died or was killed: the reader reports why

    def receive(self, deadline: float, max_data: int) -> Any:
        reply = wire.read_frame(self.from_worker, deadline=deadline, max_data=max_data)
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
    """Lens steps running in a sandboxed worker process; see :func:`atdata.sandbox.load_program`."""

    def __init__(self, steps: Sequence[LensStep], limits: Limits) -> None:
        self._steps = list(steps)
        self._limits = limits
        self._box: list[_Worker | None] = [None]
        self._finalizer = weakref.finalize(self, _shutdown, self._box)
        self._batch_bytes = max(1 << 20, min(MAX_BATCH_BYTES, limits.memory_bytes // 8))
        self._worker()  # start now, so that bad code fails at load time

    def __enter__(self) -> ProcessProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        worker = self._box[0]
        self._box[0] = None
        if worker is not None:
            worker.close()
        self._finalizer.detach()

    @property
    def worker_pid(self) -> int | None:
        """The current worker's process id (None when none is running)."""
        worker = self._box[0]
        return None if worker is None else worker.proc.pid

    def run(self, items: Sequence[dict[str, Any]], keys: Sequence[str | None]) -> list[dict[str, Any]]:
        if len(items) != len(keys):
            raise ValueError(f"{len(items)} items but {len(keys)} keys")
        batches = _batches(len(items), items, self._batch_bytes)
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
        batches = _batches(len(views), views, self._batch_bytes // 2)
        return self._call(
            [
                ({"op": "put", "views": list(views[lo:hi]), "sources": list(sources[lo:hi]), "step": step},
                 keys[lo:hi])
                for lo, hi in batches
            ]
        )  # fmt: skip

    # --- talking to the worker ----------------------------------------------------------------

    def _worker(self) -> _Worker:
        worker = self._box[0]
        if worker is not None and worker.cpu_left < self._limits.cpu_seconds:
            worker.close()  # its lifetime CPU limit could cut the next batch short: start afresh
            worker = self._box[0] = None
        if worker is None:
            worker = _Worker()
            self._box[0] = worker
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
                self._box[0] = None
                worker.close()
                self._raise_for(reply, [None])
        return worker

    def _call(self, batches: list[tuple[dict[str, Any], Sequence[str | None]]]) -> list[dict[str, Any]]:
        """Send every batch (on a thread, so the worker computes while we encode and decode)."""
        if not batches:
            return []
        worker = self._worker()
        PROGRESS.pack_into(worker.progress, 0, -1, -1)
        sender = None
        if len(batches) == 1:
            self._guard(worker, batches[0][1], worker.send, batches[0][0])
        else:
            sender = threading.Thread(
                target=worker.send_all, args=([m for m, _ in batches],), name="atdata-lens-sender", daemon=True
            )
            sender.start()
        out: list[dict[str, Any]] = []
        try:
            for n, (_, keys) in enumerate(batches):
                deadline = time.monotonic() + self._limits.wall_seconds_per_batch + KILL_GRACE_SECONDS
                reply = self._receive(worker, deadline, keys)
                if not reply.get("ok"):
                    if n < len(batches) - 1:
                        self._discard(worker)  # it still has batches queued: start afresh next time
                    self._raise_for(reply, keys)
                items = reply.get("items")
                if type(items) is not list or len(items) != len(keys) or not all(type(i) is dict for i in items):
                    self._discard(worker)
                    raise LensExecutionError(self._chain_name(), "the lens worker sent a malformed answer")
                out.extend(items)
        finally:
            if sender is not None:
                sender.join()
        return out

    def _receive(self, worker: _Worker, deadline: float, keys: Sequence[str | None]) -> dict[str, Any]:
        reply = self._guard(worker, keys, worker.receive, deadline, self._limits.memory_bytes + (1 << 30))
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
        except wire.WireTimeout:
            step, item = worker.where()
            self._discard(worker)
            why = f"ran longer than the wall-clock limit of {self._limits.wall_seconds_per_batch:g} s per batch"
            raise LensExecutionError(self._step_name(step), why, key=_key(keys, item)) from None
        except (wire.WireError, OSError):
            step, item = worker.where()
            code = self._discard(worker)
            raise LensExecutionError(
                self._step_name(step), self._death_reason(code, worker), key=_key(keys, item)
            ) from None

    def _discard(self, worker: _Worker) -> int:
        if self._box[0] is worker:
            self._box[0] = None
        return worker.kill()

    def _death_reason(self, code: int, worker: _Worker) -> str:
        if code == -signal.SIGXCPU or code == -signal.SIGKILL and worker.cpu_left <= 0:
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
        raise LensExecutionError(
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


def _key(keys: Sequence[str | None], item: int | None) -> str | None:
    if item is None or not 0 <= item < len(keys):
        return None
    return keys[item]
