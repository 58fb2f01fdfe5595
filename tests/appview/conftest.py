"""Fixtures of the appview tests: a real PostgreSQL server, and a store on either backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from appview_network import LoopbackNetwork
from appview_world import World
from support.postgres_cluster import postgres_cluster

from atdata_appview.lens_index import GraphService
from atdata_appview.service import Appview
from atdata_appview.store import Store, open_store


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port, for the whole session; its admin URL."""
    with postgres_cluster() as url:
        yield url


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
