"""Receiving a firehose in a process of its own, which hands the frames to the ingest over a pipe.

websockets parses frames in Python: receiving alone cost the ingest process 9-14 µs of CPU per frame
(~10% of it), under the GIL that verifying and applying need. Here a child process connects and
receives with websockets as before (same size limit, same 16-frame queue, no compression), and writes
each binary frame to its stdout as a record; the ingest process reads a record with two buffered reads.

Bounds are unchanged: the child holds websockets' queue, the pipe 64 KiB, and the ingest's
:class:`~atdata_appview.ingest.read_ahead.FrameReadAhead` at most a batch and its byte budget; when
that is full, nothing reads the pipe, the child stops reading its socket, and TCP pushes back.

Records: ``C`` once connected; ``F`` + 4-byte big-endian length + a frame; ``E`` + length + UTF-8 text
when the connection failed or ended (the last record). The child ends when its connection does or when
the ingest closes the pipe. :meth:`ChildConnection.recv_many` hands over every frame that arrived
whole in one read of the pipe (up to a MiB): the reading thread then wakes and takes its lock once per
read, not once per frame.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from typing import IO

from atdata.errors import NetworkError

CONNECTED, FRAME, ERROR = b"C", b"F", b"E"
ERROR_TEXT_BYTES = 4096  # an error report's text, at most
# Bytes asked of the pipe per read by recv_many (a frame larger than this is read in several).
PIPE_READ = 1 << 20


class ConnectionLost(NetworkError):
    """The firehose connection failed or ended (as the receiving process reported it)."""


class ChildConnection:
    """A firehose connection held by a child process; :meth:`recv` returns its frames in order.

    Entering connects (raising :class:`ConnectionLost` if that fails); leaving ends the child."""

    def __init__(self, url: str, *, max_size: int, max_queue: int, open_timeout: float = 10.0) -> None:
        self.url = url
        self._max_size = max_size
        self._args = [url, str(max_size), str(max_queue), str(open_timeout)]
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self._rest = b""  # what recv_many read past the frames it returned
        self._ready: deque[bytes] = deque()  # frames recv_many returned that recv has not yet
        self._failed: ConnectionLost | None = None  # what recv_many raises once they are taken

    def __enter__(self) -> ChildConnection:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "atdata_appview.ingest.relay_reader", *self._args],
            stdin=subprocess.PIPE,  # never written: its end tells the child the ingest is gone
            stdout=subprocess.PIPE,
            bufsize=1 << 20,
        )
        self._out = self._proc.stdout
        try:
            kind = self._read(1)
            if kind == ERROR:
                raise ConnectionLost(f"{self.url}: {self._text()}")
            if kind != CONNECTED:
                raise ConnectionLost(f"{self.url}: the receiving process sent {kind!r} before connecting")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recv(self) -> bytes:
        """The next frame; :class:`ConnectionLost` once the connection ended."""
        if not self._ready:
            self._ready.extend(self.recv_many())
        return self._ready.popleft()

    def recv_many(self) -> list[bytes]:
        """Every frame that has arrived whole, in order, and at least one (waiting for it), with
        ``recv``'s checks; an error is raised only once the frames before it have been returned."""
        frames: list[bytes] = []
        data, self._rest = self._rest, b""
        while self._failed is None:
            pos, end = 0, len(data)
            while end - pos >= 5 and self._failed is None:
                kind, size = data[pos : pos + 1], int.from_bytes(data[pos + 1 : pos + 5], "big")
                if kind not in (FRAME, ERROR):
                    self._failed = ConnectionLost(f"{self.url}: the receiving process sent {kind!r}")
                elif kind == ERROR and size > ERROR_TEXT_BYTES:
                    self._failed = ConnectionLost(f"{self.url}: an error report of {size} bytes")
                elif kind == FRAME and size > self._max_size:  # the child enforces it too
                    self._failed = ConnectionLost(
                        f"{self.url}: a frame of {size} bytes, above {self._max_size}"
                    )
                elif end - pos - 5 < size and frames:
                    break  # the frames before this record go now; it is read whole next time
                else:
                    if end - pos - 5 < size:  # the rest of this record is on its way: read just it
                        data = data[pos:] + self._read(size - (end - pos - 5))
                        pos, end = 0, len(data)
                    body, pos = data[pos + 5 : pos + 5 + size], pos + 5 + size
                    if kind == ERROR:
                        self._failed = ConnectionLost(f"{self.url}: {body.decode('utf-8', 'replace')}")
                    else:
                        frames.append(body)
            if frames:
                self._rest = data[pos:] if self._failed is None else b""
                return frames
            if self._failed is None:
                data = data[pos:] + self._read_some()
        raise self._failed

    def _read_some(self) -> bytes:
        """What the pipe holds now, up to :data:`PIPE_READ` bytes (waiting for at least one)."""
        out = self._out
        data = out.read1(PIPE_READ) if out is not None else b""  # type: ignore[attr-defined]
        if not data:
            code = self._proc.poll() if self._proc is not None else None
            raise ConnectionLost(f"{self.url}: the receiving process ended (exit code {code})")
        return data

    def _text(self) -> str:
        size = int.from_bytes(self._read(4), "big")
        return self._read(min(size, ERROR_TEXT_BYTES)).decode("utf-8", "replace")

    def _read(self, n: int) -> bytes:
        out = self._out
        data = out.read(n) if out is not None else b""
        if len(data) != n:
            code = self._proc.poll() if self._proc is not None else None
            raise ConnectionLost(f"{self.url}: the receiving process ended (exit code {code})")
        return data

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def _exit_when_the_ingest_is_gone() -> None:
    # Even killed at once, the ingest process closes its end of our stdin: a child blocked on a quiet
    # connection must not outlive it.
    sys.stdin.buffer.read()
    os._exit(0)


def _child(url: str, max_size: int, max_queue: int, open_timeout: float) -> None:
    import threading

    from websockets.sync.client import connect

    threading.Thread(target=_exit_when_the_ingest_is_gone, daemon=True).start()

    out = os.fdopen(1, "wb", buffering=1 << 20, closefd=False)

    def frame(message: str | bytes) -> None:
        if isinstance(message, bytes):  # text frames carry nothing of the protocol
            out.write(FRAME + len(message).to_bytes(4, "big"))
            out.write(message)

    try:
        try:
            # No permessage-deflate: CBOR and CAR bytes barely compress, and inflating costs CPU.
            with connect(
                url,
                max_size=max_size,
                max_queue=max_queue,
                open_timeout=open_timeout,
                close_timeout=2,
                compression=None,
            ) as ws:
                out.write(CONNECTED)
                out.flush()
                while True:
                    frame(ws.recv())
                    # What websockets already holds goes in the same write to the pipe.
                    while True:
                        try:
                            frame(ws.recv(timeout=0))
                        except TimeoutError:
                            break
                    out.flush()
        except BrokenPipeError:
            raise
        except BaseException as e:  # reported to the ingest, which logs it and reconnects
            text = f"{type(e).__name__}: {e}".encode()[:ERROR_TEXT_BYTES]
            out.write(ERROR + len(text).to_bytes(4, "big") + text)
            out.flush()
    except BrokenPipeError:  # the ingest closed its end: nothing is waiting for frames
        os._exit(0)  # without flushing the rest into the closed pipe at exit


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
