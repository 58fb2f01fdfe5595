"""A test's HTTP server on loopback: served on a daemon thread while the block runs, then shut down
and its socket closed, so no test leaves a listener behind."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve ``server`` (already bound, e.g. to ``("127.0.0.1", 0)``) and yield its port."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host_port = server.server_address
        assert isinstance(host_port, tuple), "serving() takes an AF_INET server"
        yield host_port[1]
    finally:
        server.shutdown()
        server.server_close()
