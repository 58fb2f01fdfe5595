"""``atdata appview serve --role ingest|api|all --workers N``: one ingester and stateless API processes on
PostgreSQL, whose lens indexes follow the store's change log (issue 18 point 3)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import appview_examples as examples
import httpx
import psycopg
import pytest
from appview_hosts import FakeHost, path
from appview_network import LoopbackNetwork
from support.appview_process import AppviewProcess, start
from support.repo_writer import RepoWriter

from atdata.cli.main import main as atdata_main
from atdata.lexicon import nsid as N
from atdata.network.loopback import free_port
from atdata_appview.ingest.car import cid_str
from atdata_appview.store import Store, open_store

# Issue 18's acceptance: a record ingested is served by every API process within this long.
SERVED_WITHIN = 2.0


@pytest.fixture
def host(network: LoopbackNetwork) -> Iterator[FakeHost]:
    h = FakeHost(network)
    yield h
    h.close()


@pytest.fixture
def processes() -> Iterator[list[AppviewProcess]]:
    started: list[AppviewProcess] = []
    yield started
    for p in started:
        p.stop()


def _ref(writer: RepoWriter, record_path: str) -> dict[str, str]:
    return {"uri": f"at://{writer.did}/{record_path}", "cid": cid_str(writer.records[record_path][0])}


def _wait(what: str, check: Callable[[], bool], timeout: float, logs: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {timeout:.1f} s\n{logs()}"
        time.sleep(0.05)


def _path(api: AppviewProcess, source: str, target: str) -> list[str]:
    body = httpx.get(
        f"{api.url}/xrpc/{N.FIND_LENS_PATH}", params={"source": source, "target": target}, timeout=5
    ).json()
    return [step["lens"]["uri"] for step in body.get("path", [])]


def _indexed_lens(store: Store, uri: str) -> bool:
    return bool(store.derived("lenses", uri=uri))


def _publish_lens(host: FakeHost, alice: RepoWriter, name: str, a: str, b: str) -> str:
    rkey = f"{N.LENS}/{name}:1.0.0"
    host.commit(alice, [("create", rkey, examples.lens(_ref(alice, a), _ref(alice, b), name=name))])
    return f"at://{alice.did}/{rkey}"


@pytest.mark.integration
def test_every_api_process_serves_what_the_ingester_indexes_within_2_s(
    postgres_url: str,
    network: LoopbackNetwork,
    host: FakeHost,
    processes: list[AppviewProcess],
    tmp_path: Path,
) -> None:
    alice = host.account("alice.test")
    host.commit(alice, [("create", path(n), examples.schema(n)) for n in "ABC"])
    a, b, c = (f"at://{alice.did}/{path(n)}" for n in "ABC")
    processes.append(
        start(
            postgres_url,
            role="ingest",
            log_file=tmp_path / "ingest.log",
            pds=[host.url],
            plc=network.url,
            handle_resolver=network.url,
        )
    )
    apis = [start(postgres_url, role="api", log_file=tmp_path / f"api{i}.log") for i in range(2)]
    processes.extend(apis)
    store = open_store(postgres_url, migrate=False)
    try:
        logs = lambda: "\n".join(p.log() for p in processes)  # noqa: E731
        _wait("the schemas ingested", lambda: len(store.derived("schemas")) == 3, 60, logs)
        for api in apis:
            assert httpx.get(f"{api.url}/xrpc/{N.GET_SCHEMA}", params={"uri": c}).status_code == 200
            assert _path(api, a, b) == []

        first = _publish_lens(host, alice, "a_to_b", path("A"), path("B"))
        _wait("the first lens ingested", lambda: _indexed_lens(store, first), 60, logs)
        for api in apis:
            _wait(
                f"{api.url} serving the new lens", lambda api=api: _path(api, a, b) == [first], SERVED_WITHIN
            )

        # Every follower's LISTEN connection dropped: each reconnects and catches up on what it missed.
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
            ).fetchone()
        assert killed is not None and killed[0] == 2
        second = _publish_lens(host, alice, "b_to_c", path("B"), path("C"))
        _wait("the second lens ingested", lambda: _indexed_lens(store, second), 60, logs)
        for api in apis:
            _wait(
                f"{api.url} serving the lens ingested while it reconnected",
                lambda api=api: _path(api, a, c) == [first, second],
                SERVED_WITHIN + 1.0,  # the reconnection waits 1 s before trying again
            )
    finally:
        store.close()


@pytest.mark.integration
def test_workers_share_one_port_beside_one_ingester(
    postgres_url: str,
    network: LoopbackNetwork,
    host: FakeHost,
    processes: list[AppviewProcess],
    tmp_path: Path,
) -> None:
    alice = host.account("alice.test")
    host.commit(alice, [("create", path(n), examples.schema(n)) for n in "AB"])
    supervisor = _two_workers_and_an_ingester(postgres_url, network, host, tmp_path)
    processes.append(supervisor)
    children = _children(supervisor)
    assert len(children) == 3  # the ingester and two API processes
    argvs = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0") for pid in children}
    [ingester] = [pid for pid, argv in argvs.items() if argv[argv.index("--role") + 1] == "ingest"]
    assert not any("postgresql://" in arg for arg in argvs[ingester])  # the URL goes by environment
    # The API processes are forked by the supervisor, each saying so once it serves.
    _wait("both API processes serving", lambda: len(_serving(supervisor)) == 2, 60, supervisor.log)
    assert set(_serving(supervisor)) == set(children) - {ingester}
    lens = _publish_lens(host, alice, "a_to_b", path("A"), path("B"))
    a, b = (f"at://{alice.did}/{path(n)}" for n in "AB")
    # Each new connection lands on either worker: every answer must carry the lens, many times over.
    _wait("the lens served", lambda: _path(supervisor, a, b) == [lens], 60, supervisor.log)
    _wait(
        "every worker serving the lens",
        lambda: all(_path(supervisor, a, b) == [lens] for _ in range(20)),
        SERVED_WITHIN + 2.0,
    )
    # The reload every follower owes a starting ingester was logged before the shared index was built:
    # the API processes forked from it did not each rebuild their own.
    assert "reloading every lens" not in supervisor.log(1_000_000)
    supervisor.stop()
    for pid in children:
        assert (
            not os.path.exists(f"/proc/{pid}/status") or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


@pytest.mark.integration
def test_an_api_process_started_again_serves_what_was_ingested_after_the_shared_index_was_built(
    postgres_url: str,
    network: LoopbackNetwork,
    host: FakeHost,
    processes: list[AppviewProcess],
    tmp_path: Path,
) -> None:
    # The supervisor built its index before the lens existed; a worker it forks later from that index
    # must replay the change log before its first answer, never serve the old index meanwhile.
    alice = host.account("alice.test")
    host.commit(alice, [("create", path(n), examples.schema(n)) for n in "AB"])
    store = open_store(postgres_url)  # migrated before the supervisor builds: its index is empty
    supervisor = _two_workers_and_an_ingester(postgres_url, network, host, tmp_path)
    processes.append(supervisor)
    try:
        assert "lens index: 0 lenses loaded" in supervisor.log()
        _wait("both API processes serving", lambda: len(_serving(supervisor)) == 2, 60, supervisor.log)
        lens = _publish_lens(host, alice, "a_to_b", path("A"), path("B"))
        _wait("the lens ingested", lambda: _indexed_lens(store, lens), 60, supervisor.log)
    finally:
        store.close()
    first = _serving(supervisor)
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    _wait("two API processes started again", lambda: len(_serving(supervisor)) == 4, 60, supervisor.log)
    again = _serving(supervisor)[2:]
    assert set(again) <= set(_children(supervisor))
    # Each resumed from the index without the lens and replayed the change log past it first.
    replayed = re.findall(
        r"API process (\d+) serving: .* from change (\d+) to (\d+)", supervisor.log(1_000_000)
    )
    assert {int(pid) for pid, old, new in replayed if int(new) > int(old)} == set(again)
    _wait("the new API processes answering", supervisor.answers, 10, supervisor.log)
    a, b = (f"at://{alice.did}/{path(n)}" for n in "AB")
    assert all(_path(supervisor, a, b) == [lens] for _ in range(20))


def _two_workers_and_an_ingester(
    postgres_url: str, network: LoopbackNetwork, host: FakeHost, tmp_path: Path
) -> AppviewProcess:
    """``atdata appview serve --workers 2`` (``--role all``) following ``host``."""
    return start(
        postgres_url,
        log_file=tmp_path / "serve.log",
        pds=[host.url],
        plc=network.url,
        handle_resolver=network.url,
        extra=["--workers", "2"],
    )


def _children(process: AppviewProcess) -> list[int]:
    pid = process.process.pid
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _serving(supervisor: AppviewProcess) -> list[int]:
    """The API processes that have said they serve, in order."""
    return [int(pid) for pid in re.findall(r"appview API process (\d+) serving: ", supervisor.log(1_000_000))]


@pytest.mark.parametrize("flags", [["--role", "api"], ["--role", "ingest"], ["--workers", "2"]])
def test_split_roles_need_postgresql(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'appview.db'}"
    assert atdata_main(["appview", "serve", "--db", db, "--port", str(free_port()), *flags]) == 1
    assert "PostgreSQL" in capsys.readouterr().err
