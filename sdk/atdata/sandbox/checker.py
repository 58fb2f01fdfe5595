"""The dialect check's child process: libcst parses lens code where a crash costs nothing.

Parsers are part of the attack surface: libcst's native parser has crashed a process with SIGSEGV
and run for minutes on crafted input. Lens source passes the lexical gate
(:mod:`atdata.sandbox.gate`) first, and the tree check then runs here, in a long-lived child
(:func:`main`) locked down like a lens worker (address
space, CPU and file limits, no-new-privileges, seccomp) with a wall-clock deadline per check. A
crash or a timeout becomes a violation that refuses the code, naming the reason; the caller keeps
running and the next check starts a fresh child. Inside a lens worker (already the sandbox, and
unable to start processes) the check runs in-process.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from atdata.errors import Violation
from atdata.sandbox import wire

CHECK_WALL_SECONDS = 15.0
CHECK_CPU_SECONDS = 5.0
CHECK_MEMORY_BYTES = 1 << 30
STARTUP_SECONDS = 60.0
MAX_REPLY_BYTES = 4 << 20
MAX_VIOLATIONS = 1000
# Run as -c, not -m: a module run as __main__ would be a second copy of this one.
_ENTRY = "import sys; from atdata.sandbox.checker import main; sys.exit(main(sys.argv[1:]))"
_ENV = {"LC_ALL": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

# Set in processes that are themselves the sandbox (the checker child, lens workers).
_in_child = False


def mark_child() -> None:
    """Run tree checks in this process from now on (it is a locked-down child)."""
    global _in_child
    _in_child = True


def tree_violations(source: str) -> list[Violation]:
    """The libcst and CPython parse check of gated ``source``, run where a crash is harmless."""
    if _in_child:
        from atdata.sandbox.dialect_tree import tree_violations_here

        return tree_violations_here(source)
    return _CLIENT.check(source)


def prestart() -> None:
    """Start the checker child now, if none runs, so that it starts up (imports libcst) while the
    caller does other work, such as fetching the lens records it is about to check."""
    if not _in_child:
        _CLIENT.prestart()


class _Child:
    def __init__(self) -> None:
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _ENTRY, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=_ENV,
                cwd="/",
                start_new_session=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.reader = wire.FrameReader(self.from_child, timed=True)
        self.pid = os.getpid()
        self.cpu_left = float("inf")
        self.answered = False

    def ask(self, message: dict[str, Any], deadline: float) -> Any:
        wire.write_frame(self.to_child, wire.encode(message))
        reply = self.reader.read(deadline=deadline, max_data=0, max_meta=MAX_REPLY_BYTES)
        if type(reply) is not dict:
            raise wire.WireError("the dialect checker sent a malformed answer")
        return reply

    def kill(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        code = self.proc.wait()
        for fd in (self.to_child, self.from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        return code


class _Client:
    """One checker child per host process, one check at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: _Child | None = None

    def prestart(self) -> None:
        with self._lock:
            if self._child is None:
                with contextlib.suppress(OSError):  # the check itself then reports it
                    self._child = _Child()

    def check(self, source: str) -> list[Violation]:
        with self._lock:
            child = self._child
            if child is not None and (child.pid != os.getpid() or child.cpu_left < CHECK_CPU_SECONDS):
                if child.pid == os.getpid():
                    child.kill()  # its lifetime CPU limit could cut the next check short
                child = self._child = None
            try:
                if child is None:
                    child = self._child = _Child()
                # A child that has not answered yet may still be starting up (also when prestarted).
                started = not child.answered
                deadline = time.monotonic() + CHECK_WALL_SECONDS + (STARTUP_SECONDS if started else 0)
                reply = child.ask({"source": source}, deadline)
                child.answered = True
            except wire.WireTimeout:
                self._drop()
                return [Violation(1, 0, f"the dialect check ran longer than {CHECK_WALL_SECONDS:g} s; "
                                        "the code is refused")]  # fmt: skip
            except (wire.WireError, OSError) as e:
                code = self._drop()
                why = f"the dialect check crashed ({_death(code, e)}); the code is refused"
                return [Violation(1, 0, why)]
            cpu_left = reply.get("cpu_left")
            child.cpu_left = float(cpu_left) if isinstance(cpu_left, int | float) else 0.0
            return _violations(reply.get("violations"))

    def _drop(self) -> int | None:
        child, self._child = self._child, None
        return None if child is None else child.kill()

    def close(self) -> None:
        with self._lock:
            if self._child is not None and self._child.pid == os.getpid():
                self._drop()


def _death(code: int | None, e: BaseException) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        cpu = -code in (signal.SIGXCPU, signal.SIGKILL)
        return f"killed by {name}" + (", out of CPU time" if cpu else "")
    return str(e) or type(e).__name__


def _violations(raw: Any) -> list[Violation]:
    if type(raw) is not list:
        return [Violation(1, 0, "the dialect checker sent a malformed answer; the code is refused")]
    out: list[Violation] = []
    for entry in raw[:MAX_VIOLATIONS]:
        if type(entry) is list and len(entry) == 3:
            line, col, reason = entry
            if type(line) is int and type(col) is int and type(reason) is str:
                out.append(Violation(line, col, reason[:500]))
                continue
        return [Violation(1, 0, "the dialect checker sent a malformed answer; the code is refused")]
    return out


_CLIENT = _Client()


def close() -> None:
    """Stop this process's checker child (it is started again on the next check)."""
    _CLIENT.close()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    in_fd, out_fd = int(argv[0]), int(argv[1])
    import pyprctl  # noqa: F401  (loaded now: nothing can be imported once locked down)
    import pyseccomp  # noqa: F401

    from atdata.sandbox import worker
    from atdata.sandbox.dialect_tree import tree_violations_here

    mark_child()

    # Load what libcst imports lazily, while files can still be opened.
    tree_violations_here("def get(source):\n    return {'x': f'{source.a!r:>{3}}'}\n")
    limits = {"cpu_seconds": CHECK_CPU_SECONDS, "memory_bytes": CHECK_MEMORY_BYTES, "open_files": 16,
              "file_size": 0}  # fmt: skip
    cpu_limit = worker.lock_down(limits, out_fd)
    reader = wire.FrameReader(in_fd)
    while True:
        request = reader.read(max_data=0)
        if request is None:
            return 0
        source = request.get("source") if type(request) is dict else None
        if type(source) is not str:
            violations = [[1, 0, "malformed check request"]]
        else:
            try:
                violations = [[v.line, v.column, v.reason] for v in tree_violations_here(source)]
            except (RecursionError, MemoryError):
                violations = [[1, 0, "code is too deeply nested or too large to check"]]
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_left = cpu_limit - (used.ru_utime + used.ru_stime)
        wire.write_frame(out_fd, wire.encode({"violations": violations, "cpu_left": cpu_left}))
