"""The MCP tools for choosing data for a task (find_datasets, get_type_source, plan_load), through the
official ``mcp`` client against the dev stack's PDS and PLC and a real appview process.

An author publishes the starter catalog's three-hop path Frame -> ImagingFrame ->
AstrocyteRecordingFrame -> BathApplicationFrame, a dataset of 4 Frames and a dataset of 4
BathApplicationFrames (whose description tries to smuggle code into whatever an agent writes).
The agent's task needs BathApplicationFrame data.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult
from support.appview_process import start

import atdata
from atdata.catalog import Frame, openastrocytes
from atdata.catalog.examples import bath_application_frames
from atdata.config import reset_configuration
from atdata.errors import NetworkError
from atdata.mcp.server import build_server
from atdata.network.appview_client import AppviewClient
from atdata.network.loopback import free_port
from atdata.schema import content_hash, schema_of
from atdata_registry.devstack import DevStack
from atdata_registry.publish import Publisher
from atdata_registry.session import create_session

pytestmark = pytest.mark.integration

SMUGGLED = "import os; os.system('touch /tmp/pwned')"
THREE_HOPS = [
    "frame_to_imaging_frame@1.0.0",
    "imaging_to_recording_frame@1.0.0",
    "recording_to_bath_application@1.0.0",
]


@dataclass(frozen=True)
class Task:
    appview: str
    did: str
    handle: str
    bath_schema: str
    frames: str
    baths: str
    env: dict[str, str]


def _wait_until(what: str, check: Callable[[], bool], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except NetworkError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def task(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Task]:
    tmp = tmp_path_factory.mktemp("mcp-hive")
    log = tmp / "appview.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "ATDATA_CONFIG_DIR": str(tmp / "config"),
        "ATDATA_CACHE_DIR": str(tmp / "cache"),
        "ATDATA_PLC": dev_stack.plc,
        "ATDATA_PDS": dev_stack.pds,
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.setenv("ATDATA_APPVIEW", url)
        reset_configuration()
        appview = start(
            f"sqlite:///{tmp / 'appview.db'}",
            log_file=log,
            pds=[dev_stack.pds],
            plc=dev_stack.plc,
            handle_resolver=dev_stack.pds,
            port=port,
        )
        client = AppviewClient(url)
        try:
            handle, password = f"hive{uuid.uuid4().hex[:8]}.test", f"pw-{uuid.uuid4().hex}"
            did = dev_stack.create_account(handle, password)
            with create_session(handle, password, pds=dev_stack.pds, plc=dev_stack.plc) as session:
                publisher = Publisher(session, progress=False)
                for lens in (
                    openastrocytes.frame_to_imaging_frame,
                    openastrocytes.imaging_to_recording_frame,
                    openastrocytes.recording_to_bath_application,
                ):
                    publisher.publish_lens(lens)
                frames = list(bath_application_frames(movies=1, frames_per_movie=4, size=8))
                with atdata.ShardWriter(str(tmp / "frames-%04d.tar"), maxcount=100) as sink:
                    for i, f in enumerate(frames):
                        sink.write(f, key=f"f{i}")
                with atdata.ShardWriter(str(tmp / "baths-%04d.tar"), maxcount=100) as sink:
                    for i, f in enumerate(frames):
                        sink.write(openastrocytes.frame_to_bath_application(f), key=f"b{i}")
                frames_uri = publisher.publish_dataset(
                    name="bath-frames", schema=Frame, urls=[str(tmp / "frames-0000.tar")], license="CC-BY-4.0"
                ).uri
                baths_uri = publisher.publish_dataset(
                    name="bath-application",
                    schema=openastrocytes.BathApplicationFrame,
                    urls=[str(tmp / "baths-0000.tar")],
                    description=f"Bath application frames.\n{SMUGGLED}",
                ).uri

            bath_uri = next(
                p.uri for p in publisher.results if p.record.get("name") == "BathApplicationFrame"
            )

            def indexed() -> bool:
                return len(client.list_datasets(author=did).items) == 2

            _wait_until("the appview indexed both datasets", indexed, log)
            yield Task(url, did, handle, bath_uri, frames_uri, baths_uri, env)
        finally:
            client.close()
            reset_configuration()
            appview.stop()


def call(task: Task, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async def go() -> CallToolResult:
        async with Client(build_server(task.appview)) as client:
            return await client.call_tool(tool, arguments)

    result = anyio.run(go)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def target(task: Task) -> str:
    # By at-uri: other tests publish the same catalog on the shared PDS, and whether the appview
    # vouches for a .test handle depends on how it resolves handles, which is not this test's subject.
    return task.bath_schema


def test_find_datasets_lists_both_datasets_with_their_paths_and_trust(task: Task) -> None:
    out = call(task, "find_datasets", {"target": target(task), "trusted": [task.did]})
    assert out["target"]["name"] == "BathApplicationFrame"
    baths, frames = out["sources"]
    assert (baths["dataset_uri"], baths["hops"], baths["path"], baths["samples"]) == (task.baths, 0, [], 4)
    assert (frames["dataset_uri"], frames["hops"], frames["stored_type"]) == (task.frames, 3, "Frame@1.0.0")
    assert [h["name"] for h in frames["path"]] == THREE_HOPS
    assert frames["trusted"] and all(
        h["trusted"] and h["author"] in (task.handle, task.did) for h in frames["path"]
    )
    assert frames["license"] == "CC-BY-4.0" and frames["local_shards"]


def test_find_datasets_with_nobody_trusted_keeps_only_the_dataset_needing_no_lens(task: Task) -> None:
    out = call(task, "find_datasets", {"target": target(task), "trusted": []})
    assert [s["dataset_uri"] for s in out["sources"]] == [task.baths]
    marked = call(task, "find_datasets", {"target": target(task), "trusted": [], "include_untrusted": True})
    assert [(s["dataset_uri"], s["trusted"]) for s in marked["sources"]] == [
        (task.baths, True),
        (task.frames, False),
    ]


def test_find_datasets_keywords_filter_by_name_and_description(task: Task) -> None:
    out = call(task, "find_datasets", {"target": target(task), "trusted": [task.did], "keywords": "frames"})
    assert {s["dataset_uri"] for s in out["sources"]} == {task.baths, task.frames}
    out = call(
        task, "find_datasets", {"target": target(task), "trusted": [task.did], "keywords": "bath-frames"}
    )
    assert [s["dataset_uri"] for s in out["sources"]] == [task.frames]


def test_get_type_source_gives_the_module_atdata_codegen_writes(
    task: Task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = call(task, "get_type_source", {"name_or_uri": target(task), "trusted": [task.did]})
    assert out["module"].startswith(
        '"""Sample types of the schema BathApplicationFrame@1.0.0, generated by `atdata codegen`.'
    )
    (tmp_path / f"{out['module_name']}.py").write_text(out["module"])
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = importlib.import_module(out["module_name"]).BathApplicationFrame
    assert content_hash(schema_of(cls)) == content_hash(schema_of(openastrocytes.BathApplicationFrame))


def test_plan_load_gives_a_snippet_that_reads_both_datasets_as_one_stream(task: Task, tmp_path: Path) -> None:
    out = call(task, "plan_load", {"target": target(task), "trusted": [task.did], "batch_size": 3})
    assert [s["dataset_uri"] for s in out["sources"]] == [task.baths, task.frames]
    assert any("private network" in w and task.frames in w for w in out["warnings"])
    snippet = out["snippet"]
    assert SMUGGLED not in snippet and "touch" not in snippet
    script = tmp_path / "load.py"
    script.write_text(snippet)
    env = {**os.environ, **task.env, "ATDATA_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("ATDATA_APPVIEW", None)  # the snippet names its appview itself
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "bath-application BathApplicationFrame@1.0.0 -> (stored as it) 4"
    assert lines[1] == "bath-frames Frame@1.0.0 -> " + " -> ".join(THREE_HOPS) + " 4"
    assert lines[-1] == "read 8 samples as BathApplicationFrame from 2 datasets"
    assert not Path("/tmp/pwned").exists()


def test_plan_load_with_chosen_datasets_and_weights(task: Task) -> None:
    out = call(
        task,
        "plan_load",
        {"target": target(task), "trusted": [task.did], "datasets": [task.frames], "weights": [1.0]},
    )
    assert [s["dataset_uri"] for s in out["sources"]] == [task.frames]
    assert "weights=[1.0]" in out["snippet"]


def test_plan_load_refuses_a_dataset_not_readable_under_the_trust_list(task: Task) -> None:
    async def go() -> CallToolResult:
        async with Client(build_server(task.appview)) as client:
            return await client.call_tool(
                "plan_load", {"target": target(task), "trusted": [], "datasets": [task.frames]}
            )

    result = anyio.run(go)
    assert result.is_error
    assert task.frames in str(result.content) and "find_datasets" in str(result.content)


def test_the_tool_descriptions_say_what_they_return_and_what_is_trusted(task: Task) -> None:
    async def go() -> Any:
        async with Client(build_server(task.appview)) as client:
            return await client.list_tools()

    tools = {t.name: t.description for t in anyio.run(go).tools}
    for name in ("find_datasets", "get_type_source", "plan_load"):
        assert "Returns" in tools[name] and "Trust:" in tools[name]
