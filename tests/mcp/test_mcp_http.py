"""``atdata mcp --http PORT``: the same tools over streamable HTTP on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from atdata.network.loopback import free_port


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "mcp.log"
    cmd = [
        sys.executable,
        "-m",
        "atdata.cli.main",
        "mcp",
        "--http",
        str(port),
        "--appview",
        "http://127.0.0.1:9",
    ]
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.integration
def test_the_http_transport_serves_every_tool_with_an_output_schema(http_server: str) -> None:
    async def go() -> dict[str, object]:
        async with Client(http_server) as client:
            return {t.name: t.output_schema for t in (await client.list_tools()).tools}

    tools = anyio.run(go)
    assert sorted(tools) == [
        "explain_type",
        "find_datasets",
        "find_lens_path",
        "get_schema",
        "get_type_source",
        "list_datasets",
        "plan_load",
        "preview_samples",
        "search_schemas",
    ]
    assert all(schema is not None for schema in tools.values())
