"""`atdata appview serve` with no flags after `atdata dev up`: it follows the dev network's PDS,
verifies identities against its PLC directory, logs what it does, and lets consumers find it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from support.appview_process import start

import atdata
from atdata.config import remember_dev_network
from atdata.lexicon import nsid as N
from atdata_registry.devstack import DevStack
from atdata_registry.publish import Publisher
from atdata_registry.session import create_session

pytestmark = pytest.mark.integration


@atdata.packable
class ServedThing:
    value: int


def test_serve_with_no_flags_follows_the_dev_network_and_logs_it(
    dev_stack: DevStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("ATDATA_APPVIEW", "ATDATA_PLC", "ATDATA_PDS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ATDATA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ATDATA_CONFIG_DIR", str(tmp_path / "config"))
    # What `atdata dev up` records (the command itself is tested with the dev stack tests).
    remember_dev_network(pid=dev_stack.pid, plc=dev_stack.plc, pds=dev_stack.pds)
    log = tmp_path / "serve.log"
    appview = start(f"sqlite:///{tmp_path / 'av.db'}", log_file=log)
    try:
        handle = f"s{uuid.uuid4().hex[:8]}.test"
        dev_stack.create_account(handle, "served-pass-1")
        with create_session(handle, "served-pass-1", pds=dev_stack.pds, plc=dev_stack.plc) as session:
            published = Publisher(session, progress=False).publish_schema(ServedThing)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counts = httpx.get(f"{appview.url}/xrpc/{N.DESCRIBE_SERVICE}", timeout=5).json()["counts"]
            if counts.get("schemas", 0) >= 1:
                break
            time.sleep(0.3)
        else:
            pytest.fail(f"the appview indexed nothing; its log:\n{appview.log()}")
        # A consumer process finds this appview with no flags.
        code = "from atdata.config import settings; print(settings().appview)"
        found = subprocess.run(
            [sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True, timeout=60
        )
        assert found.stdout.strip() == appview.url
    finally:
        appview.stop()
    text = log.read_text()
    assert f"appview listening on {appview.url}" in text
    assert f"PLC directory: {dev_stack.plc}" in text
    assert f"following the firehose of {dev_stack.pds}" in text
    # The record may arrive in a batch or by a resync of its (first seen) repo; batches are logged.
    batch = r"committed a batch from \S+: \d+ event\(s\), \d+ record\(s\) changed, \d+ rejection"
    assert re.search(batch, text)
    assert published.uri.startswith("at://")
    state = json.loads((tmp_path / "state" / "dev-network.json").read_text())
    assert "appview" not in state  # forgotten when it stopped
