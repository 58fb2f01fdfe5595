"""One order for every setting: flag or configure(), environment, config file, dev network, default."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from atdata.config import (
    DEFAULT_PLC,
    configure,
    dev_network,
    forget_dev_network,
    remember_dev_network,
    reset_configuration,
    settings,
    write_config_file,
)
from atdata.errors import AtdataError
from atdata.network.appview_client import AppviewClient


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var, sub in (("ATDATA_CONFIG_DIR", "config"), ("ATDATA_STATE_DIR", "state")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("ATDATA_APPVIEW", "ATDATA_PLC", "ATDATA_PDS"):
        monkeypatch.delenv(var, raising=False)
    reset_configuration()  # whatever an earlier test configured in this process
    yield tmp_path
    reset_configuration()


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process that lives for the test, standing for the dev network's node process."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_defaults_are_the_public_plc_directory_and_no_appview() -> None:
    s = settings()
    assert (s.appview, s.plc, s.pds) == (None, DEFAULT_PLC, None)
    assert s.sources["plc"] == "default"


def test_the_running_dev_network_is_used_when_nothing_else_is_set(live_pid: int) -> None:
    remember_dev_network(pid=live_pid, plc="http://localhost:2582", pds="http://localhost:2583")
    s = settings()
    assert (s.plc, s.pds, s.appview) == ("http://localhost:2582", "http://localhost:2583", None)
    assert s.sources["plc"] == "dev network"


def test_the_config_file_outranks_the_dev_network(live_pid: int) -> None:
    remember_dev_network(pid=live_pid, plc="http://localhost:2582")
    write_config_file({"plc": "http://127.0.0.1:7000"})
    assert settings().plc == "http://127.0.0.1:7000"


def test_the_environment_outranks_the_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config_file({"appview": "http://127.0.0.1:7000"})
    monkeypatch.setenv("ATDATA_APPVIEW", "http://127.0.0.1:7001/")
    assert settings().appview == "http://127.0.0.1:7001"


def test_a_flag_or_configure_outranks_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATDATA_PDS", "http://127.0.0.1:7001")
    configure(pds="http://127.0.0.1:7002")
    assert settings().pds == "http://127.0.0.1:7002"
    assert settings().sources["pds"] == "flag"


def test_a_dev_network_whose_process_is_gone_is_ignored() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    remember_dev_network(pid=proc.pid, plc="http://localhost:2582")
    assert dev_network() == {}
    assert settings().plc == DEFAULT_PLC


def test_forgetting_the_dev_network_returns_to_the_defaults(live_pid: int) -> None:
    remember_dev_network(pid=live_pid, plc="http://localhost:2582", appview="http://127.0.0.1:8080")
    forget_dev_network("appview")
    assert settings().appview is None and settings().plc == "http://localhost:2582"
    forget_dev_network()
    assert settings().plc == DEFAULT_PLC


def test_the_dev_network_file_is_private(live_pid: int, private_dirs: Path) -> None:
    path = remember_dev_network(pid=live_pid, plc="http://localhost:2582")
    assert path.parent == private_dirs / "state"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert json.loads(path.read_text())["pid"] == live_pid


def test_no_appview_anywhere_says_which_setting_and_every_way_to_set_it() -> None:
    with pytest.raises(AtdataError) as err:
        AppviewClient()
    message = str(err.value)
    for way in ("no appview is configured", "--appview", "atdata.configure(appview=URL)",
                "ATDATA_APPVIEW", "config.json", "atdata dev up"):
        assert way in message


def test_an_appview_whose_process_is_gone_is_not_offered(live_pid: int) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    remember_dev_network(
        pid=live_pid, plc="http://localhost:2582", appview="http://127.0.0.1:8080", appview_pid=proc.pid
    )
    assert settings().appview is None
    assert settings().plc == "http://localhost:2582"


def test_failures_at_the_public_plc_directory_name_the_plc_setting() -> None:
    from atdata.network.identity import IdentityResolver

    # Only loopback here, so the hint is checked as built rather than by asking plc.directory.
    with IdentityResolver() as public, IdentityResolver("http://127.0.0.1:9") as local:
        assert "public PLC directory" in public._plc_hint() and "ATDATA_PLC" in public._plc_hint()
        assert local._plc_hint() == ""
