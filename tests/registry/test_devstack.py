"""`atdata dev`: the official PDS and PLC on loopback, driven from separate commands as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from atdata_registry.devstack import running, start

pytestmark = pytest.mark.integration


def _atdata(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A separate process per command, as from separate shells.
    return subprocess.run(
        [sys.executable, "-m", "atdata.cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_dev_up_account_down_from_separate_commands(tmp_path: Path) -> None:
    env = {**os.environ, "ATDATA_STATE_DIR": str(tmp_path / "state")}
    up = _atdata("dev", "up", "--json", env=env)
    assert up.returncode == 0, up.stderr
    urls = json.loads(up.stdout)
    try:
        assert urls["pds"].startswith("http://localhost:") and urls["plc"].startswith("http://localhost:")
        made = _atdata("dev", "account", "dana.test", "--password", "dana-pass-1", env=env)
        assert made.returncode == 0, made.stderr
        did = made.stdout.strip()
        assert did.startswith("did:plc:")
        assert httpx.get(f"{urls['plc']}/{did}").json()["id"] == did
    finally:
        down = _atdata("dev", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert running(tmp_path / "state" / "devstack") is None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{urls['pds']}/xrpc/com.atproto.server.describeServer")


def test_starting_again_returns_the_running_stack(dev_stack: Any) -> None:
    again = start(Path(dev_stack.state_dir))
    assert (again.pds, again.pid) == (dev_stack.pds, dev_stack.pid)


def test_servers_listen_on_loopback_only(dev_stack: Any) -> None:
    port = dev_stack.pds.rsplit(":", 1)[1]
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local = [line.split()[1] for line in listening if line.split()[3] == "0A"]  # state LISTEN
    ours = [addr for addr in local if int(addr.split(":")[1], 16) == int(port)]
    assert ours == ["0100007F:" + format(int(port), "04X")]


def test_a_stack_that_died_is_replaced_on_the_next_start(tmp_path: Path) -> None:
    first = start(tmp_path)
    os.kill(first.pid, signal.SIGKILL)
    for _ in range(200):
        if not first.is_alive():
            break
        time.sleep(0.05)
    second = start(tmp_path)
    try:
        assert second.pid != first.pid
        assert not Path(first.data_dir).exists()
        assert second.pds_answers()
    finally:
        second.stop()
    assert running(tmp_path) is None
