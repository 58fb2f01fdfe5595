"""Fixtures of the appview tests: a real PostgreSQL server, and a store on either backend."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from appview_network import LoopbackNetwork
from appview_world import World

from atdata.network.loopback import free_port
from atdata_appview.lens_index import GraphService
from atdata_appview.service import Appview
from atdata_appview.store import Store, open_store


def _postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates and shutil.which("initdb"):
        candidates = [shutil.which("initdb") or ""]
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return Path(candidates[0]).parent


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields its admin URL.

    PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` user.
    """
    bin_dir = _postgres_bin()
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="atdata-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, sock = root / "data", root / "sock"
    subprocess.run([*as_user, "mkdir", str(data), str(sock)], check=True)
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            *as_user,
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(sock),
            "-c",
            "fsync=off",  # a test cluster: durability across OS crashes is not under test
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read().decode(errors="replace") if server.stderr else ""
                    raise RuntimeError(f"PostgreSQL did not start: {err[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()  # SIGTERM = smart shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the shared test server, dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty appview database on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'appview.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def network() -> Iterator[LoopbackNetwork]:
    net = LoopbackNetwork()
    yield net
    net.close()


@pytest.fixture
def appview(store: Store, network: LoopbackNetwork) -> Iterator[Appview]:
    """An appview over ``store`` whose DIDs resolve through ``network``."""
    av = Appview(store, plc_url=network.url, handle_resolver=network.url)
    yield av
    av.close()


@pytest.fixture
def graph(appview: Appview) -> GraphService:
    appview.graph.load()
    return appview.graph


@pytest.fixture
def world(appview: Appview, network: LoopbackNetwork, graph: GraphService) -> World:
    return World(network, appview.ingester("ws://relay.test"), appview)
