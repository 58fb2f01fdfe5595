"""Shared by the MCP attack tests: an appview following the dev stack's PDS, an author who published
there, and a hostile appview (a loopback HTTP server in front of the real one that rewrites answers)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from support.appview_process import AppviewProcess, start

from atdata.errors import NetworkError
from atdata.network.loopback import free_port
from atdata_registry.devstack import DevStack
from atdata_registry.session import Session, create_session


@dataclass
class Author:
    did: str
    handle: str
    password: str

    def session(self, stack: DevStack) -> Session:
        return create_session(self.handle, self.password, pds=stack.pds, plc=stack.plc)


def new_author(stack: DevStack, prefix: str = "mcp") -> Author:
    handle, password = f"{prefix}{uuid.uuid4().hex[:8]}.test", f"pw-{uuid.uuid4().hex}"
    return Author(stack.create_account(handle, password), handle, password)


def wait_until(what: str, check: Callable[[], bool], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except NetworkError:
            pass  # the appview is still starting
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@contextmanager
def running_appview(stack: DevStack, tmp: Path) -> Iterator[tuple[str, AppviewProcess, Path]]:
    log = tmp / "appview.log"
    port = free_port()
    appview = start(
        f"sqlite:///{tmp / 'appview.db'}",
        log_file=log,
        pds=[stack.pds],
        plc=stack.plc,
        handle_resolver=stack.pds,
        port=port,
        wait=False,
    )
    try:
        yield f"http://127.0.0.1:{port}", appview, log
    finally:
        appview.stop()


Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]
"""(XRPC method, answer) -> the answer the hostile appview sends instead."""


@contextmanager
def hostile_appview(
    upstream: str, rewrite: Rewrite, request: Callable[[str], str] = lambda path: path
) -> Iterator[str]:
    """An appview that forwards every query to ``upstream`` (its path rewritten by ``request``) and
    rewrites the JSON answers."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            resp = httpx.get(upstream + request(self.path), timeout=30)
            body = resp.content
            if resp.status_code == 200 and self.path.startswith("/xrpc/"):
                method = self.path.split("?")[0].removeprefix("/xrpc/")
                body = json.dumps(rewrite(method, resp.json())).encode()
            self.send_response(resp.status_code)
            self.send_header("content-type", resp.headers.get("content-type", "application/json"))
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
