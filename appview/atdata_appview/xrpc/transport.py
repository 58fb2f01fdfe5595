"""The HTTP connection layer of ``atdata appview serve``: uvicorn's h11 protocol with limits on what
a client may make the server hold.

A request line longer than ``MAX_REQUEST_LINE`` answers 414 and a request head (line and headers)
longer than ``MAX_HEAD`` answers 431, both as JSON XRPC errors, instead of a reset; a connection that
has not sent a complete request head within ``HEAD_TIMEOUT`` seconds of being idle (a slowloris, or
a client that connected and went silent) is answered 408 and closed. Idle keep-alive connections
are closed by uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 32 * 1024
HEAD_TIMEOUT = 10.0
LINGER = 2.0  # seconds a refused connection is read (and dropped) before it is closed
# h11 itself gives up (with a bare 400) past this; ours must answer first.
H11_MAX_INCOMPLETE = 4 * MAX_HEAD

_REASONS = {408: b"Request Timeout", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


class GuardedH11Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = bytearray()
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request: read and dropped, so the answer is not reset
        waiting = self.conn.their_state is h11.IDLE
        if waiting:
            self._arm()
            self._head += data[: MAX_HEAD + 1 - len(self._head)]
            problem = self._head_problem()
            if problem is not None:
                self._refuse(*problem)
                return
        super().data_received(data)
        if waiting and self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is complete; the app and keep-alive timeout take over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._head.clear()

    def _head_problem(self) -> tuple[int, str, str] | None:
        end_of_line = self._head.find(b"\r\n")
        if (end_of_line == -1 and len(self._head) > MAX_REQUEST_LINE) or end_of_line > MAX_REQUEST_LINE:
            return 414, "UriTooLong", f"the request line is longer than {MAX_REQUEST_LINE} bytes"
        if len(self._head) > MAX_HEAD and b"\r\n\r\n" not in self._head:
            return 431, "RequestHeaderFieldsTooLarge", f"the request head is longer than {MAX_HEAD} bytes"
        return None

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head.clear()

    def _head_timeout(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._refuse(408, "RequestTimeout", f"no complete request within {HEAD_TIMEOUT:.0f} s")

    def _refuse(self, status: int, error: str, message: str) -> None:
        """Answer a JSON XRPC error outside h11 (whose state may be mid-request) and close."""
        self._disarm()
        if self.transport.is_closing():
            return
        body = json.dumps({"error": error, "message": message}).encode()
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % (status, _REASONS[status], len(body))
        )
        self.transport.write(head + body)
        # Half-close and keep reading (and dropping) briefly: closing with unread bytes would make
        # the kernel reset the connection, and the client might never see the answer.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)
