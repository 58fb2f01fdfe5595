"""DID documents fetched and handles resolved in a child process, off the GIL of a busy one.

An appview's ingest process verifies thousands of commits a second on one core (the GIL); every
``#identity`` makes a DID document stale and asks for a handle check, and each of those HTTP
requests costs about half a millisecond of that core in httpx alone. A child process does them on
the other core: the parent writes one JSON line per request and reads back one line per answer,
the checked essentials of a document (handle, PDS, ``#atproto`` key, the document itself) or a DID.

The child runs the very same :class:`~atdata.network.identity.IdentityResolver` code in thread
mode (``fetch_document``, ``lookup_handle``, over ``http.client`` directly: ``direct_http``), so
every limit holds there: timeouts, the document size cap, the redirect policy, error messages
naming the host. It serves them from one thread while answers come quickly (threads handing the
GIL to one another cost more CPU than the requests), and from more, up to 16, while requests wait
behind one held by a slow host (see :class:`_Workers`). Caching, generations (nothing fetched
before an ``#identity`` is trusted after it) and the deadline of each wait stay in the parent. One
child serves every resolver of a process; it is started again if it dies (every request it held
fails with a NetworkError), and ends when its parent does (stdin closes).

Protocol, one JSON array per line. Parent to child: ``[id, kind, config, argument]`` with kind
``"document"`` (argument a DID) or ``"handle"`` (a normalized handle) and config
``[plc_url, pds_url, timeout, use_dns]``. Child to parent: ``[id, "ok", value]`` or
``[id, "error", class name, message]``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import IO, Any

from atdata.errors import AtdataError, IdentityError, NetworkError
from atdata.network.identity import Identity

log = logging.getLogger(__name__)

_STARTUP_WAIT = 30.0
_MAX_WORKERS = 16  # concurrent fetches in the child at most, as many as a thread-mode resolver's prefetch
# How long a request may run before it counts as held up by a slow host, and another worker starts
# for the requests waiting behind it: a quick network (answers in a millisecond) is served by one
# thread, without the GIL hand-overs between many that cost more CPU than the requests themselves.
_GROW_AFTER = 0.025
_ERRORS: dict[str, type[AtdataError]] = {
    "IdentityError": IdentityError,
    "NetworkError": NetworkError,
    "AtdataError": AtdataError,
}
Config = tuple[str, "str | None", float, bool]


class _Child:
    """One running child: its process, the requests it holds and the thread reading its answers."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "atdata.network.identity_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin: IO[bytes] = self.proc.stdin
        # Never blocks the caller (the ingest thread): a child too busy or stuck to read its pipe is
        # waited for up to a request's deadline, then stopped.
        self._fd = self._stdin.fileno()
        os.set_blocking(self._fd, False)
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self.pending: dict[int, tuple[Future[Any], str, str]] = {}  # id -> (future, kind, argument)
        self._next = 0
        self.alive = True
        self.pid = os.getpid()
        self.ready = threading.Event()
        reader = threading.Thread(
            target=self._read, args=(self.proc.stdout,), name="identity process", daemon=True
        )
        reader.start()
        # Its imports take a moment; waited for here so that the first request (the first batch of
        # an ingest) does not wait for them. A child that never gets ready is dealt with per request.
        self.ready.wait(_STARTUP_WAIT)

    def submit(self, kind: str, config: Config, args: list[str]) -> list[Future[Any]]:
        futures: list[Future[Any]] = [Future() for _ in args]
        with self._lock:
            if not self.alive:
                for future in futures:
                    future.set_exception(NetworkError("the identity process has ended; retry"))
                return futures
            first = self._next + 1
            self._next += len(args)
            for i, (future, arg) in enumerate(zip(futures, args)):
                self.pending[first + i] = (future, kind, arg)
        # One write for the lot: a batch's prefetch is one system call, not one per DID.
        conf = list(config)
        data = b"".join(
            json.dumps([first + i, kind, conf, arg]).encode() + b"\n" for i, arg in enumerate(args)
        )
        with self._write_lock:
            problem = self._write(data, deadline=time.monotonic() + config[2] * 2 + 1)
        if problem is not None:
            self._ended(problem)
            self.proc.kill()
        return futures

    def _write(self, line: bytes, deadline: float) -> str | None:
        """Write ``line`` whole; a child that reads nothing until ``deadline`` is stuck (the reason)."""
        view = memoryview(line)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([], [self._fd], [], remaining)[1]:
                    return "it read no request for too long, and was stopped"
            except OSError as e:
                return f"cannot write to it: {e}"
        return None

    def _read(self, stdout: IO[bytes]) -> None:
        with open(stdout.fileno(), "rb", closefd=False) as reader:  # buffered: many answers per read
            for line in reader:
                self._answer(line)
        self._ended(f"it exited with status {self.proc.wait()}")

    def _answer(self, line: bytes) -> None:
        try:
            rid, status, *rest = json.loads(line)
        except (ValueError, TypeError):
            log.error("the identity process wrote a malformed line: %r", line[:200])
            return
        if status == "ready":
            self.ready.set()
            return
        with self._lock:
            entry = self.pending.pop(rid, None) if isinstance(rid, int) else None
        if entry is None:
            return
        future, kind, arg = entry
        if not future.set_running_or_notify_cancel():
            return  # the waiter gave up on it
        try:
            if status != "ok":
                future.set_exception(_ERRORS.get(rest[0], AtdataError)(str(rest[1])))
            elif kind == "document":
                handle, pds, key, document = rest[0]
                future.set_result(Identity(arg, handle, pds, key, document))
            else:
                future.set_result(rest[0])
        except Exception as e:  # a malformed answer fails its request, not the reader
            future.set_exception(AtdataError(f"the identity process answered malformed: {e!r}"))

    def _ended(self, why: str) -> None:
        with self._lock:
            self.alive = False
            pending, self.pending = self.pending, {}
        self.ready.set()  # nobody waits for a child that has ended
        for future, _, _ in pending.values():
            if future.set_running_or_notify_cancel():
                future.set_exception(NetworkError(f"the identity process ended ({why}); retry"))

    def close(self) -> None:
        with self._lock:
            self.alive = False
        try:
            self._stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class IdentityProcess:
    """The child process of this process (started on first use, and again after it dies)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: _Child | None = None

    def _current(self) -> _Child:
        with self._lock:
            child = self._child
            # A forked parent does not own its parent's child (nor its reader thread).
            if child is None or not child.alive or child.pid != os.getpid():
                child = self._child = _Child()
            return child

    def start(self) -> bool:
        """Start the child unless it runs; whether it is ready (it answered its start-up line)."""
        child = self._current()
        return child.ready.is_set() and child.alive

    def pid(self) -> int:
        """The child's process id (starting it if it is not running)."""
        return self._current().proc.pid

    def submit(self, kind: str, config: Config, args: list[str]) -> list[Future[Any]]:
        """Ask the child for ``"document"``s (each an :class:`Identity`) or ``"handle"``s (a DID);
        a failure is the future's exception (IdentityError or NetworkError, naming the host)."""
        return self._current().submit(kind, config, args)

    def close(self) -> None:
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.close()


_shared: IdentityProcess | None = None
_shared_lock = threading.Lock()


def shared() -> IdentityProcess | None:
    """The process-wide child (started now if it is not running), or None if it cannot start (then
    the caller fetches in its own process, with the same checks)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = IdentityProcess()
            atexit.register(_shared.close)
    if _shared.start():
        return _shared
    log.warning(
        "the identity process (%s -m atdata.network.identity_process) did not start; DID documents "
        "are fetched in this process",
        sys.executable,
    )
    return None


# --- the child --------------------------------------------------------------------------------


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    from atdata.network.identity import IdentityResolver

    resolvers: dict[tuple[Any, ...], IdentityResolver] = {}
    lock = threading.Lock()

    def resolver(config: list[Any]) -> IdentityResolver:
        plc_url, pds_url, timeout, use_dns = config
        key = (plc_url, pds_url, float(timeout), bool(use_dns))
        with lock:
            if key not in resolvers:
                resolvers[key] = IdentityResolver(
                    plc_url, pds_url=pds_url, timeout=float(timeout), use_dns=bool(use_dns), direct_http=True
                )
            return resolvers[key]

    def answer(message: list[Any]) -> None:
        line = json.dumps(message).encode() + b"\n"
        with lock:
            stdout.write(line)
            stdout.flush()

    def run(line: bytes) -> None:
        rid: Any = None
        try:
            rid, kind, config, arg = json.loads(line)
            r = resolver(config)
            if kind == "document":
                ident = r.fetch_document(arg)
                value: Any = [ident.handle, ident.pds, ident.signing_key, ident.document]
            elif kind == "handle":
                value = r.lookup_handle(arg)
            else:
                raise AtdataError(f"unknown request {kind!r}")
            message = [rid, "ok", value]
        except AtdataError as e:
            name = next((c.__name__ for c in type(e).__mro__ if c.__name__ in _ERRORS), "AtdataError")
            message = [rid, "error", name, str(e)]
        except Exception as e:  # a bug must answer its request, not leave the parent waiting
            message = [rid, "error", "AtdataError", f"identity process: {e!r}"]
        answer(message)

    workers = _Workers(run)
    answer([0, "ready"])
    for line in stdin:
        workers.put(line)
    workers.close()  # stdin closed (the parent ended): the requests under way finish first


class _Workers:
    """Requests served by as few threads as keep up with them: one that waits for work, and more,
    up to ``_MAX_WORKERS``, only while requests wait behind one running longer than ``_GROW_AFTER``
    (a slow host); those serve until nothing waits, then end."""

    def __init__(self, run: Callable[[bytes], None]) -> None:
        self._run = run
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # a request arrived, for an idle worker
        self._stalled = threading.Condition(lock)  # a request waits and every worker is busy
        self._queue: deque[bytes] = deque()
        self._running: dict[int, float] = {}  # request number -> when it began
        self._taken = 0
        self._idle = 0
        self._count = 0
        self._watcher_asleep = False  # waiting without a timeout: must be woken to see a stall
        self._closing = False
        self._threads: list[threading.Thread] = []
        with self._work:
            self._start(stays=True)
        self._watcher = threading.Thread(target=self._watch, name="identity workers", daemon=True)
        self._watcher.start()

    def put(self, line: bytes) -> None:
        with self._work:
            self._queue.append(line)
            if self._idle:
                self._work.notify()
            self._wake_watcher()

    def close(self) -> None:
        """Serve what is queued, then end every thread."""
        with self._work:
            self._closing = True
            self._work.notify_all()
            self._stalled.notify()
            threads = list(self._threads)
        for thread in threads:
            thread.join()
        self._watcher.join()

    def _wake_watcher(self) -> None:
        # With the lock held, after the queue or the idle count changed.
        if self._watcher_asleep and self._queue and not self._idle:
            self._watcher_asleep = False
            self._stalled.notify()

    def _start(self, *, stays: bool) -> None:
        # With the lock held.
        self._count += 1
        thread = threading.Thread(
            target=self._serve_queue, args=(stays,), name=f"identity {self._count}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _serve_queue(self, stays: bool) -> None:
        with self._work:
            while True:
                if not self._queue:
                    if not stays or self._closing:
                        self._count -= 1
                        return
                    self._idle += 1
                    self._work.wait()
                    self._idle -= 1
                    self._wake_watcher()
                    continue
                line = self._queue.popleft()
                self._taken += 1
                number = self._taken
                self._running[number] = time.monotonic()
                self._work.release()
                try:
                    self._run(line)
                finally:
                    self._work.acquire()
                    del self._running[number]

    def _watch(self) -> None:
        with self._work:
            while not self._closing:
                if not self._queue or self._idle:
                    self._watcher_asleep = True
                    self._stalled.wait()
                    self._watcher_asleep = False
                    continue
                now = time.monotonic()
                held = [now - began for began in self._running.values()]
                stuck = sum(ran >= _GROW_AFTER for ran in held)
                if stuck:
                    # The waiting requests are served beside the slow ones, by twice as many workers
                    # each time (a slow network gets its concurrency within a few rounds; one slow
                    # answer on a quick network, or a busy machine, adds a couple of threads, not 15).
                    wanted = min(_MAX_WORKERS, stuck + len(self._queue), 2 * stuck + 1)
                    for _ in range(wanted - self._count):
                        self._start(stays=False)
                young = [ran for ran in held if ran < _GROW_AFTER]
                self._stalled.wait(_GROW_AFTER - max(young) if young else _GROW_AFTER)


def main() -> None:
    # Only answers go to the real stdout; anything printed by a library goes to stderr.
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    # Imported, the TLS context made (its CA bundle takes ~40 ms) and an httpx client once (its
    # first costs ~15 ms of imports) before the first request, so that the first answer does not
    # wait for them, nor does the slowness of that one request count as a slow host's.
    import atproto_core.did_doc  # noqa: F401
    import httpx

    import atdata.network.identity  # noqa: F401
    from atdata.network.tls import ssl_context

    httpx.Client(verify=ssl_context()).close()

    _serve(sys.stdin.buffer, stdout)


if __name__ == "__main__":
    main()
