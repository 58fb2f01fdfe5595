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


def _atdata(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # A separate process per command, as from separate shells.
    return subprocess.run(
        [sys.executable, "-m", "atdata.cli.main", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dev_up_account_down_from_separate_commands(tmp_path: Path) -> None:
    env = {**os.environ, "ATDATA_STATE_DIR": str(tmp_path / "state")}
    up = _atdata("dev", "up", "--json", env=env)
    assert up.returncode == 0, up.stderr
    urls = json.loads(up.stdout)
    try:
        assert urls["pds"].startswith("http://localhost:") and urls["plc"].startswith("http://localhost:")
        # The password from the environment, never on the command line.
        made = _atdata("dev", "account", "dana.test", env={**env, "ATDATA_APP_PASSWORD": "dana-pass-1"})
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


def _settings_in_a_new_process(env: dict[str, str]) -> dict[str, Any]:
    code = "import json; from atdata.config import settings; s = settings(); print(json.dumps(s.__dict__))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_dev_up_is_remembered_by_every_command_and_new_process_until_dev_down(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ATDATA_PLC", "ATDATA_PDS", "ATDATA_APPVIEW")}
    env |= {"ATDATA_STATE_DIR": str(tmp_path / "state"), "ATDATA_CONFIG_DIR": str(tmp_path / "config")}
    up = _atdata("dev", "up", "--json", env=env)
    assert up.returncode == 0, up.stderr
    urls = json.loads(up.stdout)
    try:
        seen = _settings_in_a_new_process(env)
        assert (seen["plc"], seen["pds"]) == (urls["plc"], urls["pds"])
        exports = _atdata("dev", "env", env=env)
        assert exports.returncode == 0, exports.stderr
        assert f"export ATDATA_PLC={urls['plc']}" in exports.stdout.splitlines()
        assert f"export ATDATA_PDS={urls['pds']}" in exports.stdout.splitlines()
        made = _atdata("dev", "account", "erin.test", "--password-file", "-", env=env, stdin="erin-pass-1\n")
        assert made.returncode == 0, made.stderr
        # No --plc, no --pds: the handle resolves through the dev network's PDS and PLC.
        who = _atdata("identity", "erin.test", "--json", env=env)
        assert who.returncode == 0, who.stderr
        assert json.loads(who.stdout)["did"] == made.stdout.strip()
        login = _atdata("login", "erin.test", "--password-file", "-", env=env, stdin="erin-pass-1\n")
        assert login.returncode == 0, login.stderr
    finally:
        down = _atdata("dev", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert _settings_in_a_new_process(env)["plc"] == "https://plc.directory"
    assert _atdata("dev", "env", env=env).returncode == 1


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
