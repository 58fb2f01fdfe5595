"""The lens worker: ``python -I -m atdata.sandbox.worker IN OUT PROGRESS ARENA_IN ARENA_OUT``.

Started fresh by :mod:`atdata.sandbox.worker_handle` (never forked from the host). It imports what it
needs, then locks itself down before reading any lens code: resource limits (CPU, address space,
open files, file size, processes), a lower scheduling priority than the host's, an unprivileged
user when started as root, no-new-privileges
and a default-deny seccomp filter (no open, no fork/clone/exec, no sockets, writes only to its
own pipes). Then it validates and compiles the lens steps and answers run requests until its
input closes. It writes the step and item it is working on into the progress page so the host
can name the sample when it has to kill the worker.
"""

from __future__ import annotations

import errno
import mmap
import os
import resource
import signal
import struct
import sys
from typing import Any

PROGRESS = struct.Struct("<qq")
SLOTS = 2
"""Batches that may be in flight to one worker (arena slots per direction): it computes one while
the next waits in its slot."""
NOBODY = 65534
NICE = 5
"""How much lower the worker's scheduling priority is than its host's: the host's thread decodes the
next batch and is what a read waits on, so a worker woken with an answer to compute should not take
the host's core while another is free."""

# Everything the worker may do once locked down. Anything else fails with EPERM.
_ALLOWED_SYSCALLS = (
    "read", "readv", "pread64", "mmap", "munmap", "mremap", "brk", "madvise", "mprotect", "futex",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "exit", "exit_group",
    "clock_gettime", "clock_getres", "gettimeofday", "getrusage", "getpid", "gettid", "getrandom",
    "sched_yield", "sched_getaffinity", "close", "restart_syscall", "nanosleep", "clock_nanosleep",
)  # fmt: skip


def preload() -> None:
    """Import and warm up everything lens code can reach, while files can still be opened."""
    import encodings.ascii
    import encodings.latin_1
    import encodings.utf_8
    import encodings.utf_16
    import encodings.utf_32  # noqa: F401

    import numpy as np
    import numpy.ma  # imported lazily by median, percentile, unique, ...: after seccomp it can't be
    import pyprctl  # noqa: F401  (loaded now: nothing can be imported once locked down)
    import pyseccomp  # noqa: F401

    from atdata.lenses import declarative
    from atdata.sandbox.dialect_check import validate_source
    from atdata.sandbox.module_proxies import module_proxy

    module_proxy("numpy")
    module_proxy("math")
    declarative.Ops.parse([{"op": "dtypeCast", "field": "x", "dtype": "float32"}]).get({"x": np.ones(1)})
    validate_source("import numpy as np\ndef get(s):\n    return {'x': np.zeros(1)}\n")
    np.linalg.norm(np.ones(2))
    np.fft.fft(np.ones(2))
    np.median(np.ones(3)), np.unique(np.ones(3)), np.histogram(np.ones(3), bins="auto")
    np.ones((2, 2)).dot(np.ones((2, 2)))
    str(np.float32(1.5)), repr(np.ones(2))


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def lock_down(limits: dict[str, Any], out_fd: int) -> int:
    """Apply every limit and the seccomp filter; returns the CPU-seconds limit set."""
    cpu_used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_now = cpu_used.ru_utime + cpu_used.ru_stime
    cpu_limit = int(cpu_now + 2 * float(limits["cpu_seconds"])) + 1
    address_space = _vm_size() + int(limits["memory_bytes"])
    os.nice(NICE)  # lower only, relative to the host: allowed to anyone, never undone by lens code
    for which, value in (
        (resource.RLIMIT_CPU, (cpu_limit, cpu_limit + 1)),
        (resource.RLIMIT_AS, (address_space, address_space)),
        (resource.RLIMIT_NOFILE, (int(limits["open_files"]),) * 2),
        (resource.RLIMIT_FSIZE, (int(limits["file_size"]),) * 2),
        (resource.RLIMIT_NPROC, (0, 0)),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(which, value)
    if os.geteuid() == 0:
        # Root ignores RLIMIT_NPROC and may raise its own limits; nobody can do neither.
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    import pyprctl

    pyprctl.set_no_new_privs()
    _install_seccomp(out_fd)
    return cpu_limit


def _install_seccomp(out_fd: int) -> None:
    import pyseccomp as seccomp

    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in _ALLOWED_SYSCALLS:
        f.add_rule(seccomp.ALLOW, name)
    for fd in (1, 2, out_fd):
        f.add_rule(seccomp.ALLOW, "write", seccomp.Arg(0, seccomp.EQ, fd))
        f.add_rule(seccomp.ALLOW, "writev", seccomp.Arg(0, seccomp.EQ, fd))
    f.load()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the host to handle
    in_fd, out_fd, progress_fd, arena_in_fd, arena_out_fd = (int(a) for a in argv[:5])
    from atdata.sandbox.checker import mark_child

    mark_child()  # this process is the sandbox: the dialect check runs here, not in another child
    preload()

    from atdata.errors import LensValidationError
    from atdata.sandbox import columns, wire
    from atdata.sandbox.engine import Engine
    from atdata.sandbox.failures import StepFailure
    from atdata.sandbox.lens_records import RecordShape
    from atdata.sandbox.spec import LensStep

    page = mmap.mmap(progress_fd, PROGRESS.size)
    os.close(progress_fd)
    # The input arena's descriptor is read-only: this mapping can never be made writable.
    in_size = os.fstat(arena_in_fd).st_size
    in_map = memoryview(mmap.mmap(arena_in_fd, in_size, prot=mmap.PROT_READ))
    os.close(arena_in_fd)
    out_size = os.fstat(arena_out_fd).st_size
    out_map = memoryview(mmap.mmap(arena_out_fd, out_size))
    os.close(arena_out_fd)
    slot_in, slot_out = in_size // SLOTS, out_size // SLOTS
    arena_in = [in_map[i * slot_in : (i + 1) * slot_in] for i in range(SLOTS)]
    arena_out = [out_map[i * slot_out : (i + 1) * slot_out] for i in range(SLOTS)]
    batches = 0  # batch k's arrays are in input slot k % SLOTS, its answer's go to output slot k % SLOTS

    def progress(step: int, item: int) -> None:
        PROGRESS.pack_into(page, 0, step, item)

    reader = wire.FrameReader(in_fd, reuse=True)
    request = reader.read()
    if request is None or request.get("op") != "load":
        return 2
    limits = request["limits"]
    cpu_limit = lock_down(limits, out_fd)
    wall = float(limits["wall_seconds_per_batch"])

    def reply(message: dict[str, Any], arena: memoryview | None = None) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_left = cpu_limit - (usage.ru_utime + usage.ru_stime)
        try:
            if "items" in message:
                message = {**message, "items": columns.pack(message["items"])}
            frame = wire.encode({**message, "cpu_left": cpu_left}, arena=arena)
        except (
            wire.WireError,
            OverflowError,
            ValueError,
            TypeError,
            MemoryError,
        ) as e:  # e.g. an int beyond 64 bits
            why = f"the lens returned a value that can't be sent back: {e}"
            frame = wire.encode({"ok": False, "kind": "failure", "step": 0, "item": None, "reason": why,
                                 "cpu_left": cpu_left})  # fmt: skip
        wire.write_frame(out_fd, frame)

    steps = [
        LensStep(
            source=s["source"],
            name=s["name"],
            source_type=s["source_type"],
            target_type=s["target_type"],
            direction=s["direction"],
            source_shape=None if s["source_shape"] is None else RecordShape.from_wire(s["source_shape"]),
            target_shape=None if s["target_shape"] is None else RecordShape.from_wire(s["target_shape"]),
            ops=s.get("ops"),
        )
        for s in request["steps"]
    ]
    engine = Engine(steps, private_inputs=False)
    engine.progress = progress
    try:
        engine.load(wall)
    except LensValidationError as e:
        violations = [[v.line, v.column, v.reason] for v in e.violations]
        reply({"ok": False, "kind": "validation", "where": e.where, "violations": violations})
        return 0
    except StepFailure as e:
        reply({"ok": False, "kind": "failure", "step": e.step, "item": e.item, "reason": e.reason})
        return 0
    reply({"ok": True})

    while True:
        slot = batches % SLOTS
        request = reader.read(readonly=True, arena=arena_in[slot])  # inputs are read-only, as inline
        if request is None:
            return 0
        batches += 1
        PROGRESS.pack_into(page, 0, -1, -1)  # a death before the first item names no sample
        reply(_answer(engine, request, wall), arena_out[slot])
        del request  # drop every view into the read buffer, so that it can be reused


def _answer(engine: Any, request: dict[str, Any], wall: float) -> dict[str, Any]:
    from atdata.sandbox import columns
    from atdata.sandbox.failures import StepFailure

    try:
        if request["op"] == "run":
            result = engine.run(columns.unpack(request["items"]), wall)
        else:
            views, sources = columns.unpack(request["views"]), columns.unpack(request["sources"])
            result = engine.run_put(views, sources, request["step"], wall)
    except StepFailure as e:
        return {"ok": False, "kind": "failure", "step": e.step, "item": e.item, "reason": e.reason,
                "limit": e.limit}  # fmt: skip
    except Exception as e:  # a malformed request: answer instead of dying
        return {"ok": False, "kind": "failure", "step": 0, "item": None, "reason": f"bad request: {e}"}
    return {"ok": True, "items": result}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
