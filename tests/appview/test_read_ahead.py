"""The firehose read-ahead holds at most a batch of frames and a byte budget, over a real websocket:
a host sending frames near the size limit cannot park a batch of them in the appview's memory. The
connection held by a receiving process hands over every frame whole and in order, and its failures."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.sync.server import ServerConnection, serve

from atdata_appview.ingest.frames import HARD_FRAME_BYTES
from atdata_appview.ingest.read_ahead import WEBSOCKET_QUEUE_FRAMES, FrameReadAhead
from atdata_appview.ingest.relay_reader import ERROR, ERROR_TEXT_BYTES, FRAME, ChildConnection, ConnectionLost

MIB = 1024 * 1024


@contextlib.contextmanager
def host_sending(frames: list[bytes], *, then_close: bool = False) -> Iterator[ClientConnection]:
    """A websocket host on loopback that sends ``frames`` to its client, and a client connected to it
    as the appview connects (its own buffer of a few frames)."""
    with (
        host_url(frames, then_close=then_close) as url,
        connect(url, max_size=HARD_FRAME_BYTES, max_queue=WEBSOCKET_QUEUE_FRAMES, compression=None) as ws,
    ):
        yield ws


def frame(i: int, size: int) -> bytes:
    return i.to_bytes(4, "big") + bytes(size - 4)


def take_all(reader: FrameReadAhead, n: int) -> list[list[bytes]]:
    batches: list[list[bytes]] = []
    deadline = time.monotonic() + 60
    while sum(map(len, batches)) < n:
        assert time.monotonic() < deadline, "timed out"
        batch = reader.take(timeout=1.0)
        if batch:
            batches.append(batch)
    return batches


def wait_for_buffer(reader: FrameReadAhead, settle: float = 0.5) -> int:
    """The reader's buffered bytes once they stopped growing."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < settle:
        now = reader.buffered_bytes
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.02)
    return last


def test_a_stalled_verifier_lets_no_more_than_the_byte_budget_pile_up() -> None:
    frames = [frame(i, 3 * MIB) for i in range(40)]  # 120 MiB on offer
    with host_sending(frames) as ws:
        reader = FrameReadAhead(ws, batch_size=1000, limit_bytes=8 * MIB)
        try:
            held = wait_for_buffer(reader)  # nobody takes: the reader must stop reading
            assert 0 < held <= 8 * MIB
            batches = take_all(reader, len(frames))
        finally:
            reader.close()
    assert all(sum(map(len, b)) <= 8 * MIB for b in batches)
    assert [int.from_bytes(f[:4], "big") for b in batches for f in b] == list(range(40))


def test_a_frame_larger_than_the_budget_is_still_read_alone() -> None:
    frames = [frame(0, 100), frame(1, 6 * MIB), frame(2, 100)]
    with host_sending(frames) as ws:
        reader = FrameReadAhead(ws, batch_size=1000, limit_bytes=1 * MIB)
        try:
            batches = take_all(reader, len(frames))
        finally:
            reader.close()
    assert [int.from_bytes(f[:4], "big") for b in batches for f in b] == [0, 1, 2]
    assert [len(b) for b in batches if any(len(f) > MIB for f in b)] == [1]  # it came alone


def test_batches_hold_at_most_batch_size_frames() -> None:
    frames = [frame(i, 64) for i in range(500)]
    with host_sending(frames) as ws:
        reader = FrameReadAhead(ws, batch_size=32)
        try:
            wait_for_buffer(reader)
            batches = take_all(reader, len(frames))
        finally:
            reader.close()
    assert max(map(len, batches)) == 32
    assert [int.from_bytes(f[:4], "big") for b in batches for f in b] == list(range(500))


def test_a_closed_connection_is_raised_after_the_frames_before_it() -> None:
    frames = [frame(i, 64) for i in range(10)]
    with host_sending(frames, then_close=True) as ws:
        reader = FrameReadAhead(ws, batch_size=1000)
        try:
            got = take_all(reader, len(frames))
            with pytest.raises(ConnectionClosed):
                for _ in range(10):
                    reader.take(timeout=1.0)
        finally:
            reader.close()
    assert [int.from_bytes(f[:4], "big") for b in got for f in b] == list(range(10))


# --- the connection held by a receiving process (relay_reader) ------------------------------------


@contextlib.contextmanager
def host_url(frames: list[bytes], *, then_close: bool = False) -> Iterator[str]:
    """A websocket host on loopback sending ``frames`` to each client; its URL."""

    def handle(ws: ServerConnection) -> None:
        for f in frames:
            ws.send(f)
        if then_close:
            return
        with contextlib.suppress(Exception):
            ws.recv()

    server = serve(handle, "127.0.0.1", 0, max_size=None, compression=None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()


def child(url: str, max_size: int = HARD_FRAME_BYTES) -> ChildConnection:
    return ChildConnection(url, max_size=max_size, max_queue=WEBSOCKET_QUEUE_FRAMES)


def test_frames_received_by_the_child_process_arrive_whole_and_in_order() -> None:
    frames = [frame(i, 64 + 997 * (i % 7)) for i in range(500)] + [frame(500, 3 * MIB)]
    with host_url(frames) as url, child(url) as ws:
        reader = FrameReadAhead(ws, batch_size=1000)
        try:
            got = [f for batch in take_all(reader, len(frames)) for f in batch]
        finally:
            reader.close()
    assert got == frames


def test_the_end_of_a_childs_connection_is_raised_after_the_frames_before_it() -> None:
    frames = [frame(i, 64) for i in range(10)]
    with host_url(frames, then_close=True) as url, child(url) as ws:
        reader = FrameReadAhead(ws, batch_size=1000)
        try:
            got = take_all(reader, len(frames))
            with pytest.raises(ConnectionLost, match="ConnectionClosed"):
                for _ in range(10):
                    reader.take(timeout=1.0)
        finally:
            reader.close()
    assert [int.from_bytes(f[:4], "big") for b in got for f in b] == list(range(10))


def test_a_frame_above_the_size_limit_ends_the_childs_connection() -> None:
    with host_url([frame(0, 64), frame(1, 2 * MIB)]) as url, child(url, max_size=MIB) as ws:
        assert ws.recv() == frame(0, 64)
        with pytest.raises(ConnectionLost, match="ConnectionClosed"):
            ws.recv()


def test_a_host_that_cannot_be_reached_fails_the_childs_connect() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ConnectionLost, match="ConnectionRefusedError"), child(f"ws://127.0.0.1:{port}"):
            pass


def test_the_receiving_process_ends_when_the_ingest_process_is_killed() -> None:
    script = (
        "import sys, time\n"
        "from atdata_appview.ingest.relay_reader import ChildConnection\n"
        "c = ChildConnection(sys.argv[1], max_size=1 << 20, max_queue=16).__enter__()\n"
        "print(c._proc.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with host_url([]) as url:  # a quiet host: the child would wait on it forever
        ingest = subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, text=True)
        assert ingest.stdout is not None
        pid = int(ingest.stdout.readline())
        ingest.kill()
        ingest.wait()
        deadline = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < deadline, "the receiving process outlived the ingest"
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by init) has ended too.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"
    return True


# --- recv_many's reading of the receiving process's records, over a real pipe ----------------------


def records(*frames: bytes) -> bytes:
    return b"".join(FRAME + len(f).to_bytes(4, "big") + f for f in frames)


@contextlib.contextmanager
def pipe_reader(writes: list[bytes], max_size: int = HARD_FRAME_BYTES) -> Iterator[ChildConnection]:
    """A ChildConnection reading a real pipe, into which a thread writes ``writes`` one write each
    (a pause between them, so that they arrive in separate reads), then closes it."""
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb", buffering=0) as out:
            for chunk in writes:
                out.write(chunk)
                time.sleep(0.05)

    writer = threading.Thread(target=write, daemon=True)
    conn = child("ws://127.0.0.1:9", max_size=max_size)
    conn._out = os.fdopen(r, "rb", buffering=1 << 20)
    writer.start()
    try:
        yield conn
    finally:
        writer.join()
        conn._out.close()


def test_frames_that_arrived_together_are_handed_over_in_one_call() -> None:
    frames = [frame(i, 100) for i in range(200)]
    with pipe_reader([records(*frames)]) as conn:
        assert conn.recv_many() == frames


def test_a_record_cut_across_pipe_reads_is_handed_over_whole_and_in_order() -> None:
    frames = [frame(0, 64), frame(1, 3 * MIB), frame(2, 64)]
    data = records(*frames)
    cuts = [0, 3, 70, 5000, 2 * MIB, len(data) - 2, len(data)]  # inside a header, a body, the last one
    with pipe_reader([data[a:b] for a, b in itertools.pairwise(cuts)]) as conn:
        got: list[bytes] = []
        while len(got) < 3:
            got += conn.recv_many()
        with pytest.raises(ConnectionLost, match="receiving process ended"):
            conn.recv_many()
    assert got == frames


def test_an_unknown_record_is_raised_after_the_frames_before_it() -> None:
    with pipe_reader([records(frame(0, 64)) + b"X\x00\x00\x00\x01!"]) as conn:
        assert conn.recv_many() == [frame(0, 64)]
        with pytest.raises(ConnectionLost, match="sent b'X'"):
            conn.recv_many()


def test_a_frame_above_the_size_limit_is_refused_by_its_header() -> None:
    huge = FRAME + (2 * MIB).to_bytes(4, "big")  # its body is never sent: the header is enough
    with pipe_reader([records(frame(0, 64)) + huge], max_size=MIB) as conn:
        assert conn.recv_many() == [frame(0, 64)]
        with pytest.raises(ConnectionLost, match="above"):
            conn.recv_many()


def test_an_error_report_longer_than_its_bound_is_refused_unread() -> None:
    report = ERROR + (ERROR_TEXT_BYTES + 1).to_bytes(4, "big")  # its text is never sent
    with (
        pipe_reader([report]) as conn,
        pytest.raises(ConnectionLost, match="an error report of 4097 bytes"),
    ):
        conn.recv_many()


def test_an_error_report_ends_the_connection_after_the_frames_before_it() -> None:
    text = b"ConnectionClosedError: gone"
    with pipe_reader([records(frame(0, 64)) + ERROR + len(text).to_bytes(4, "big") + text]) as conn:
        assert conn.recv() == frame(0, 64)
        with pytest.raises(ConnectionLost, match="ConnectionClosedError: gone"):
            conn.recv()
