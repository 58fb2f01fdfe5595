"""Helpers for the sandbox tests: a world of observable side effects, and running lens code."""

from __future__ import annotations

import math
import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from atdata.errors import LensExecutionError, LensValidationError
from atdata.sandbox import LensStep, Limits, load_program

ISOLATIONS = ("inline", "process")


class LoopbackListener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def sandbox_workers() -> set[int]:
    """The process ids of the sandbox's own workers alive in this process's pools (started by the
    host, at times of its choosing: a pool of an earlier test starts its missing workers in the
    background). A process a lens started is not one: it is a worker's child, or not a worker."""
    import gc

    from atdata.sandbox.worker_handle import WorkerHandle

    return {o.proc.pid for o in gc.get_objects() if isinstance(o, WorkerHandle) and hasattr(o, "proc")}


def checker_child() -> int | None:
    """The process id of the dialect checker's child process, when one runs."""
    from atdata.sandbox import checker

    child = checker._CLIENT._child
    return None if child is None else child.proc.pid


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


@dataclass
class World:
    """Everything an escaping lens could touch, and a check that none of it changed."""

    tmp: Path
    listener: LoopbackListener
    secret: str = "s3cr3t-4b1d9e"
    image: np.ndarray = field(default_factory=lambda: np.arange(16, dtype=np.float32).reshape(4, 4))
    metadata: dict[str, Any] = field(
        default_factory=lambda: {"t": 1.5, "tags": ["a", "b"], "frame": {"i": 3}}
    )

    def __post_init__(self) -> None:
        self.secret_file = self.tmp / "secret.txt"
        self.secret_file.write_text(self.secret)
        self.sentinel = self.tmp / "sentinel"
        self._image_copy = self.image.copy()
        self._baseline = self._state()
        # Processes that other tests left running are not the lens's doing.
        self._processes_before = descendants(os.getpid())

    def placeholders(self) -> dict[str, str]:
        return {
            "SENTINEL": str(self.sentinel),
            "SECRET": str(self.secret_file),
            "PORT": str(self.listener.port),
        }

    def item(self) -> dict[str, Any]:
        return {"image": self.image, "label": "{0.__class__}", "metadata": self.metadata, "n": 7}

    @staticmethod
    def _state() -> dict[str, Any]:
        return {
            "np.pi": np.pi,
            "math.pi": math.pi,
            "float64": np.dtype("float64").type,
            "sctype": np.sctypeDict.get("float64"),
            "printoptions": np.get_printoptions(),
            "errstate": np.geterr(),
            "errcall": np.geterrcall(),
            "modules": {"os", "subprocess", "socket", "ctypes"} & set(sys.modules),
        }

    def assert_untouched(self, allowed_children: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        assert not self.sentinel.exists(), "a lens created a file"
        assert self.listener.connections == 0, "a lens opened a socket"
        assert self.secret_file.read_text() == self.secret
        assert np.array_equal(self.image, self._image_copy), "a lens changed the caller's array"
        assert self.image.flags.writeable
        assert self.metadata == {"t": 1.5, "tags": ["a", "b"], "frame": {"i": 3}}
        state = self._state()
        for key, value in self._baseline.items():
            if key == "modules":
                continue  # test modules import these; only the values below are lens-observable
            assert state[key] == value, f"{key} changed"
        started = descendants(os.getpid()) - self._processes_before
        # The dialect checker's own child and the sandbox's workers are the host's: the checker's
        # is replaced when its CPU allowance runs low, and a pool starts workers in the background,
        # whichever test that falls in.
        checker = checker_child()
        started -= {checker} if checker is not None else set()
        started -= sandbox_workers()
        assert started <= allowed_children, f"a lens started a process: {sorted(started)}"


@dataclass
class Outcome:
    stage: str  # "static", "runtime" or "ran"
    detail: str
    output: list[dict[str, Any]] | None = None


def attempt(
    code: str,
    isolation: str,
    items: list[dict[str, Any]],
    *,
    limits: Limits | None = None,
    world: World | None = None,
) -> Outcome:
    """Load and run lens code the way a consumer would, and report how it ended."""
    step = LensStep(code, "probe", "Frame", "Out")
    try:
        program = load_program([step], isolation=isolation, limits=limits)  # type: ignore[arg-type]
    except LensValidationError as e:
        return Outcome("static", str(e))
    except LensExecutionError as e:
        return Outcome("runtime", e.reason)
    try:
        pid = getattr(program, "worker_pid", None)
        try:
            out = program.run(items, [f"key-{i}" for i in range(len(items))])
        except LensExecutionError as e:
            assert e.lens == "probe"
            return Outcome("runtime", f"{e.key}|{e.reason}")
        finally:
            if world is not None:
                allowed = {pid} if pid else set()
                allowed |= getattr(program, "worker_pids", set())
                world.assert_untouched(allowed)
        return Outcome("ran", "", out)
    finally:
        program.close()
