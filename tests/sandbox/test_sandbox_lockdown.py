"""The worker's last line of defence: once locked down, a fully escaped lens still can't act.

A child interpreter runs the worker's own ``preload`` and ``lock_down``, then tries, as code that
got past every Python-level guard would, to open, write, connect, fork, exec, signal and raise its
limits. Every attempt must fail with EPERM from the seccomp filter and leave no trace.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_harness import LoopbackListener

PROBE = r"""
import errno, json, os, resource, socket, sys
from atdata.sandbox.worker import lock_down, preload

preload()
limits = {"cpu_seconds": 5, "memory_bytes": 1 << 30, "open_files": 64, "file_size": 0,
          "wall_seconds_per_batch": 5}
lock_down(limits, out_fd=1)
secret, sentinel, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
results = {}

def attempt(name, action):
    try:
        action()
        results[name] = "allowed"
    except OSError as e:
        results[name] = e.errno
    except ValueError as e:  # how CPython's setrlimit reports EPERM
        results[name] = errno.EPERM if "not allowed" in str(e) else repr(e)

def connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", port))

def fork():
    if os.fork() == 0:
        os._exit(0)

attempt("open-for-reading", lambda: open(secret).read())
attempt("open-for-writing", lambda: open(sentinel, "w"))
attempt("socket-connect", connect)
attempt("fork", fork)
attempt("execve", lambda: os.execv("/bin/sh", ["sh", "-c", "touch " + sentinel]))
attempt("signal-parent", lambda: os.kill(os.getppid(), 0))
attempt("raise-cpu-limit", lambda: resource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6)))
attempt("raise-priority", lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
attempt("unlink", lambda: os.unlink(secret))
attempt("mkdir", lambda: os.mkdir(sentinel))
attempt("pipe", lambda: os.pipe())
attempt("dup-stdout", lambda: os.dup(1))
attempt("write-to-other-fd", lambda: os.write(0, b"x"))
os.write(1, json.dumps(results).encode())
"""

ATTEMPTS = [
    "open-for-reading", "open-for-writing", "socket-connect", "fork", "execve", "signal-parent",
    "raise-cpu-limit", "raise-priority", "unlink", "mkdir", "pipe", "dup-stdout", "write-to-other-fd",
]  # fmt: skip


@pytest.fixture(scope="module")
def lockdown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, object], Path, Path, int]]:
    tmp = tmp_path_factory.mktemp("lockdown")
    tmp.chmod(0o777)  # so that only seccomp, not file modes, can be what stops the probe
    secret = tmp / "secret.txt"
    secret.write_text("s3cr3t")
    secret.chmod(0o666)
    sentinel = tmp / "sentinel"
    listener = LoopbackListener()
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", PROBE, str(secret), str(sentinel), str(listener.port)],
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        yield json.loads(proc.stdout), secret, sentinel, listener.connections
    finally:
        listener.close()


@pytest.mark.parametrize("name", ATTEMPTS)
def test_locked_down_worker_is_denied(name: str, lockdown: tuple[dict[str, object], Path, Path, int]) -> None:
    results, _, _, _ = lockdown
    assert results[name] == errno.EPERM


def test_locked_down_worker_left_no_trace(lockdown: tuple[dict[str, object], Path, Path, int]) -> None:
    _, secret, sentinel, connections = lockdown
    assert secret.read_text() == "s3cr3t"
    assert not sentinel.exists()
    assert connections == 0


def test_a_worker_runs_at_a_lower_scheduling_priority_than_its_host() -> None:
    from atdata.sandbox import LensStep, load_program
    from atdata.sandbox.worker import NICE

    code = "def get(source):\n    return {'y': source.x}\n"
    with load_program([LensStep(code, "id", "A", "B")], isolation="process") as program:
        pid = program.worker_pid  # type: ignore[union-attr]
        assert pid is not None
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)
