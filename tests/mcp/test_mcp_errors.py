"""Tool errors: a failure becomes an ``is_error`` result saying what failed and what to do, and the
server keeps answering. Checked with the official ``mcp`` client, in memory and over stdio.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult

from atdata.config import reset_configuration
from atdata.errors import NetworkError
from atdata.mcp.server import build_server, tool_error_text

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture(autouse=True)
def no_user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ATDATA_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("ATDATA_APPVIEW", raising=False)
    reset_configuration()
    yield
    reset_configuration()


def text_of(result: CallToolResult) -> str:
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


def test_an_unreachable_appview_is_a_tool_error_and_the_server_keeps_serving() -> None:
    async def go() -> tuple[CallToolResult, int]:
        async with Client(build_server(UNREACHABLE)) as client:
            failed = await client.call_tool("explain_type", {"name_or_uri": "Frame"})
            return failed, len((await client.list_tools()).tools)

    failed, tools = anyio.run(go)
    text = text_of(failed)
    assert f"cannot reach the appview at {UNREACHABLE}" in text
    assert "atdata mcp --appview URL" in text
    assert tools == 9


def test_no_configured_appview_is_a_tool_error_saying_how_to_configure_one() -> None:
    async def go() -> CallToolResult:
        async with Client(build_server()) as client:
            return await client.call_tool("search_schemas", {"query": "frame"})

    assert "ATDATA_APPVIEW" in text_of(anyio.run(go))


def test_an_argument_outside_the_lexicon_is_a_tool_error_naming_it() -> None:
    async def go() -> CallToolResult:
        async with Client(build_server(UNREACHABLE)) as client:
            return await client.call_tool("find_lens_path", {"source": "at://x", "target": "at://y"})

    text = text_of(anyio.run(go))
    assert "dev.atdata.getSchema" in text and "$.uri" in text and "Fix the argument" in text


def test_shard_urls_without_their_type_are_a_tool_error_saying_what_to_pass() -> None:
    async def go() -> CallToolResult:
        async with Client(build_server(UNREACHABLE)) as client:
            return await client.call_tool("preview_samples", {"dataset": "/data/frames-0000.tar"})

    assert "pass schema=" in text_of(anyio.run(go))


@pytest.mark.integration
def test_over_stdio_an_unreachable_appview_is_a_tool_error() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "atdata.cli.main", "mcp", "--appview", UNREACHABLE]
    )

    async def go() -> CallToolResult:
        async with Client(params) as client:
            return await client.call_tool("get_schema", {"name_or_uri": "Frame"})

    assert f"cannot reach the appview at {UNREACHABLE}" in text_of(anyio.run(go))


def test_a_failure_of_another_service_is_not_blamed_on_the_appview() -> None:
    failure = NetworkError("cannot reach http://pds.example/xrpc/com.atproto.repo.getRecord: ConnectError")
    text = tool_error_text(failure, "http://127.0.0.1:8080")
    assert "pds.example" in text and "appview" not in text
