"""Plain GETs over kept-alive connections of the standard library's ``http.client``.

The identity process (:mod:`atdata.network.identity_process`) asks a PLC directory and a PDS a
thousand small questions a second in a busy appview. httpx, and even httpcore beneath it, spend
about 200 us of CPU on each; ``http.client`` (the same HTTP/1.1 over a socket, less machinery) about
70 us. This keeps its connections open between requests: idle ones per origin, reused by whichever
thread asks next, closed after ``keep`` seconds idle and beyond ``max_idle`` in all (as httpx keeps
20: did:web hosts are anyone's, and a thousand of them must not hold a thousand sockets open), and
a request on a reused connection the host closed meanwhile is sent once more on a new one (a GET,
so asking twice is harmless).

What is asked and how its answer is read stays with the caller: timeouts are the socket's (connect
and each read), the body is read with :meth:`http.client.HTTPResponse.read1` (one read per chunk, so
a caller can hold a whole-answer deadline and a size cap between chunks). A connection whose answer
was not read to its end is closed, never reused.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

# What a request can raise: the connection's and the socket's errors (timeouts, refusals, TLS) and
# malformed answers (http.client.HTTPException: bad status line, too many or too long headers).
ERRORS = (OSError, http.client.HTTPException)
# A reused connection that fails this way before any answer was closed by its host while idle.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_Origin = tuple[str, str, int]


class KeepAlive:
    """Connections kept open per origin (thread-safe; each request uses one connection alone)."""

    def __init__(self, timeout: float, context: ssl.SSLContext, *, keep: float = 5.0, max_idle: int = 20):
        self.timeout = timeout
        self._context = context
        self._keep = keep
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._count = 0  # idle connections in all
        self._lock = threading.Lock()

    @contextmanager
    def get(self, url: str, headers: dict[str, str]) -> Iterator[http.client.HTTPResponse]:
        """The answer to ``GET url`` (an http or https URL), its body left to read; the connection
        goes back to the pool if the body was read to its end and the host keeps it open."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise http.client.InvalidURL(f"not an http(s) URL: {url!r}")
        origin = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn, reused = self._take(origin)
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
        except _STALE:
            conn.close()
            if not reused:
                raise
            conn = self._connect(origin)
            try:
                conn.request("GET", target, headers=headers)
                response = conn.getresponse()
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        try:
            yield response
        finally:
            if response.length == 0 and not response.isclosed():
                response.read()  # read1 leaves an answer read to its length open: this ends it
            if response.isclosed() and not response.will_close:
                self._give_back(origin, conn)
            else:
                conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self._count = self._idle, {}, 0
        for conns in idle.values():
            for _, conn in conns:
                conn.close()

    def _take(self, origin: _Origin) -> tuple[http.client.HTTPConnection, bool]:
        now = time.monotonic()
        stale: list[http.client.HTTPConnection] = []
        found = None
        with self._lock:
            conns = self._idle.get(origin, [])
            while conns:
                since, conn = conns.pop()
                self._count -= 1
                if now - since < self._keep:
                    found = conn
                    break
                stale.append(conn)
            if not conns:
                self._idle.pop(origin, None)
        for conn in stale:
            conn.close()
        return (found, True) if found is not None else (self._connect(origin), False)

    def _connect(self, origin: _Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._context)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _give_back(self, origin: _Origin, conn: http.client.HTTPConnection) -> None:
        now = time.monotonic()
        closing: list[http.client.HTTPConnection] = []
        with self._lock:
            if self._count >= self._max_idle:  # make room: the expired go, else the longest idle
                for key, conns in list(self._idle.items()):
                    kept = [(since, c) for since, c in conns if now - since < self._keep]
                    closing += [c for since, c in conns if now - since >= self._keep]
                    if kept:
                        self._idle[key] = kept
                    else:
                        del self._idle[key]
                self._count = sum(map(len, self._idle.values()))
                if self._count >= self._max_idle:
                    key = min(self._idle, key=lambda k: self._idle[k][0][0])
                    closing.append(self._idle[key].pop(0)[1])
                    self._count -= 1
                    if not self._idle[key]:
                        del self._idle[key]
            self._idle.setdefault(origin, []).append((now, conn))
            self._count += 1
        for old in closing:
            old.close()
