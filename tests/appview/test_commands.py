"""The ``atdata appview`` commands: backfill in-process, serve as the separate API process it can be."""

from __future__ import annotations

import time
from pathlib import Path

import appview_examples as examples
import httpx
import pytest
from appview_network import LoopbackNetwork
from appview_world import World
from support.appview_process import start

from atdata.cli.main import main as atdata_main
from atdata.lexicon import nsid as N
from atdata_appview.store import open_store


def test_backfill_indexes_a_repo_and_reports_it(
    network: LoopbackNetwork, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = network.account()
    alice.commit([("create", f"{N.SCHEMA}/A:1.0.0", examples.schema("A"))])
    assert atdata_main(["appview", "backfill", alice.did, "--db", db_url, "--plc", network.url]) == 0
    assert "1 record(s)" in capsys.readouterr().out
    store = open_store(db_url)
    assert [r.rkey for r in store.records()] == ["A:1.0.0"]
    store.close()


def test_backfill_of_an_unknown_did_fails_naming_it(
    network: LoopbackNetwork, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert atdata_main(["appview", "backfill", "did:plc:nobody", "--db", db_url, "--plc", network.url]) == 1
    assert "did:plc:nobody" in capsys.readouterr().err


def test_a_bad_database_url_fails_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert atdata_main(["appview", "backfill", "did:plc:x", "--db", "mysql://db/x"]) == 1
    assert "mysql://db/x" in capsys.readouterr().err


@pytest.mark.integration
def test_an_api_only_process_picks_up_lenses_another_process_ingests(
    world: World, db_url: str, tmp_path: Path
) -> None:
    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    appview = start(db_url, log_file=tmp_path / "serve.log", extra=["--graph-refresh", "0.3"])
    url = f"{appview.url}/xrpc/{N.FIND_LENS_PATH}"
    params = {"source": a["uri"], "target": b["uri"]}
    try:
        deadline = time.monotonic() + 60

        def path() -> list[object]:
            return list(httpx.get(url, params=params).json()["path"])

        assert path() == []
        lens = world.lens("alice.test", "a_to_b", a, b)  # ingested by this process, not the server
        while path() == []:
            assert time.monotonic() < deadline, "the API process never saw the new lens"
            time.sleep(0.1)
        assert [step["lens"] for step in path()] == [lens]  # type: ignore[index]
    finally:
        appview.stop()
