"""Free TCP ports on the loopback interface, for the local services atdata starts (the dev stack's
PDS and PLC, an appview) and for the tests and benchmarks that start them."""

from __future__ import annotations

import socket


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now.

    All are bound at once, so they differ; another process may still take one before the caller
    binds it, which callers that start a server survive by trying again.
    """
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """One port free on 127.0.0.1 now (see :func:`free_ports`)."""
    return free_ports(1)[0]
