"""The network the integration tests run against: the dev stack's PDS and PLC, two authors publishing
with the registry's Publisher, shards over loopback HTTP, and a real appview on SQLite following the PDS.

alice publishes Frame -> Mid -> Out (two code lenses) and a dataset of Frame shards; bob publishes a
competing Mid -> Out lens over alice's schemas (his output labels start with ``bob:``) and a schema of
his own also named ``Out``.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from numpy.typing import NDArray
from support.loopback_http import serving

import atdata
from atdata.errors import NotFoundError
from atdata.network.appview_client import AppviewClient
from atdata.network.identity import IdentityResolver
from atdata.network.loopback import free_port
from atdata.schema import from_schema
from atdata_appview.service import Appview
from atdata_appview.store import open_store
from atdata_appview.xrpc.server import create_app
from atdata_registry.devstack import DevStack
from atdata_registry.publish import Published, Publisher
from atdata_registry.session import create_session


@atdata.packable
class Frame:
    """A frame as recorded."""

    t: float
    signal: NDArray
    label: str


@atdata.packable
class Mid:
    """Time in seconds."""

    time_s: float
    signal: NDArray
    label: str


@atdata.packable
class Out:
    """A summary of one frame."""

    time_ms: float
    peak: float
    label: str


FRAME_TO_MID = """
def get(s):
    return {"time_s": s.t, "signal": s.signal, "label": s.label}
"""

MID_TO_OUT = """
import numpy as np

def get(s):
    return {"time_ms": s.time_s * 1000.0, "peak": float(np.max(s.signal)), "label": s.label}
"""

BOB_MID_TO_OUT = """
import numpy as np

def get(s):
    return {"time_ms": s.time_s * 1000.0, "peak": float(np.max(s.signal)), "label": "bob:" + s.label}
"""


def frames() -> list[Frame]:
    return [Frame(t=i / 10, signal=np.arange(4, dtype=np.float32) * i, label=f"f{i}") for i in range(8)]


@dataclass
class Author:
    handle: str
    did: str
    publisher: Publisher


def new_author(stack: DevStack, prefix: str) -> Author:
    handle = f"{prefix}{uuid.uuid4().hex[:8]}.test"
    password = f"pw-{uuid.uuid4().hex}"
    did = stack.create_account(handle, password)
    session = create_session(handle, password, pds=stack.pds, plc=stack.plc)
    resolver = IdentityResolver(stack.plc, pds_url=stack.pds)
    return Author(handle, did, Publisher(session, progress=False, resolver=resolver))


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


@contextmanager
def serve_appview(db: Path, stack: DevStack, *, follow: bool = True) -> Iterator[str]:
    """An appview on the SQLite file ``db`` on a loopback port (following the PDS unless told not to)."""
    store = open_store(f"sqlite:///{db}")
    app = create_app(
        Appview(store, plc_url=stack.plc, handle_resolver=stack.pds),
        pdses=[stack.pds] if follow else [],
        graph_refresh=3600,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="appview", daemon=True)
    thread.start()
    try:
        wait_until("the appview serves", lambda: server.started or not thread.is_alive(), 30)
        assert thread.is_alive(), "the appview did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        store.close()


def snapshot(db: Path, copy: Path) -> Path:
    """A consistent copy of a live SQLite database: an appview frozen at this moment.

    Taken once no repo waits for a resync: an appview started on a copy with one queued fetches that
    repo from its PDS as it is now, and would not be frozen at all.
    """

    def settled() -> bool:
        with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
            return dst.execute("SELECT count(*) FROM resyncs").fetchone()[0] == 0

    wait_until("the appview has no resync queued", settled)
    return copy


def wait_indexed(appview: str, *uris: str) -> None:
    """Wait until the appview serves each record with its author's handle.

    The appview checks a handle both ways in the background, after the record is indexed; tests that
    name types as ``handle/Name`` need both, and on a loaded machine the check can lag the record.
    """
    with AppviewClient(appview) as client:

        def known(uri: str) -> bool:
            try:
                if "/dev.atdata.lens/" in uri:
                    return client.get_lens(uri).handle is not None
                if "/dev.atdata.schema/" in uri:
                    return client.get_schema(uri).schema.handle is not None
                listed = client.list_datasets(limit=100).items
                return any(d.uri == uri and d.handle is not None for d in listed)
            except NotFoundError:
                return False

        for uri in uris:
            wait_until(f"the appview indexes {uri}", lambda u=uri: known(u))  # type: ignore[misc]


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    handler = functools.partial(_QuietFiles, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}"


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class World:
    stack: DevStack
    appview: str
    db: Path
    alice: Author
    bob: Author
    schemas: dict[str, dict[str, str]]  # "Frame", "Mid", "Out", "bob/Out" -> strong ref
    lenses: dict[str, str]  # "a1" (Frame->Mid), "a2" (Mid->Out), "b1" (bob's Mid->Out) -> uri
    dataset: str
    mid_class: type  # alice's Mid, bound to her record (what atdata.resolve would give)
    out_class: type

    def configure(self, appview: str | None = None) -> None:
        atdata.configure(appview=appview or self.appview, plc=self.stack.plc, pds=self.stack.pds)


def _ref(p: Published) -> dict[str, str]:
    return {"uri": p.uri, "cid": p.cid}


def build_world(stack: DevStack, root: Path, shards_url: str, db: Path, appview: str) -> World:
    alice, bob = new_author(stack, "alice"), new_author(stack, "bob")
    a1 = alice.publisher.publish_lens(
        atdata.Lens.from_source(FRAME_TO_MID, source=Frame, target=Mid, name="frame_to_mid")
    )
    a2 = alice.publisher.publish_lens(
        atdata.Lens.from_source(MID_TO_OUT, source=Mid, target=Out, name="mid_to_out")
    )
    schemas = {
        "Frame": dict(a1.record["source"]),
        "Mid": dict(a1.record["target"]),
        "Out": dict(a2.record["target"]),
    }
    records = {p.uri: p.record for p in alice.publisher.results}
    mid_class = from_schema(records[schemas["Mid"]["uri"]], ref=schemas["Mid"])
    out_class = from_schema(records[schemas["Out"]["uri"]], ref=schemas["Out"])
    b1 = bob.publisher.publish_lens(
        atdata.Lens.from_source(BOB_MID_TO_OUT, source=mid_class, target=out_class, name="bob_mid_to_out")
    )
    bobs_out = {**records[schemas["Out"]["uri"]], "description": "Bob's idea of an Out."}
    schemas["bob/Out"] = _ref(bob.publisher.publish_schema(bobs_out))
    with atdata.ShardWriter(str(root / "frames-%06d.tar"), maxcount=4) as writer:
        for sample in frames():
            writer.write(sample)
    dataset = alice.publisher.publish_dataset(
        name="frames",
        schema=schemas["Frame"],
        urls=[f"{shards_url}/frames-{{000000..000001}}.tar"],
    )
    lenses = {"a1": a1.uri, "a2": a2.uri, "b1": b1.uri}
    wait_indexed(appview, *[s["uri"] for s in schemas.values()], *lenses.values(), dataset.uri)
    return World(stack, appview, db, alice, bob, schemas, lenses, dataset.uri, mid_class, out_class)
