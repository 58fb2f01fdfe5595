"""The resync queue's workers, on both store backends: each queued repo is fetched once per turn.

A repo whose fetch finished (applied, or failed and put back with a backoff) must not be fetched
again by a scheduler that read the queue while that fetch was still running. Such a stale second
fetch ignores the backoff a failing host earned, and on success it can take a repo's state from
after a commit the firehose has not delivered yet, so that commit's ops are never judged.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from atdata_appview.ingest.resync import ResyncWorkers
from atdata_appview.service import Appview
from atdata_appview.store import Store

DID = "did:plc:nobodyhasthisdid00000000"


class QueueReadThatOutlivesTheFetch:
    """The store, except that a read of the resync queue made while a fetch is running returns only
    after that fetch has ended: the rows it returns are then stale."""

    def __init__(self, store: Store, fetching: threading.Event, release: threading.Event) -> None:
        self._store = store
        self._fetching = fetching
        self._release = release

    def due_resyncs(self, now: float, limit: int) -> list[tuple[str, str, int]]:
        rows = self._store.due_resyncs(now, limit)
        if rows and self._fetching.is_set() and not self._release.is_set():
            self._release.set()  # the running fetch ends (and is recorded) while these rows are held
            time.sleep(0.5)
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_repo_is_not_fetched_again_by_a_queue_read_made_during_its_fetch(
    store: Store, appview: Appview
) -> None:
    fetching, release = threading.Event(), threading.Event()
    calls: list[float] = []

    def fetch(did: str) -> Any:
        calls.append(time.monotonic())
        fetching.set()
        release.wait(10)
        return appview.backfiller(did)  # the PLC directory does not know this DID: a real failure

    workers = ResyncWorkers(
        QueueReadThatOutlivesTheFetch(store, fetching, release),  # type: ignore[arg-type]
        appview.applier,
        fetch,
        workers=2,
        base_delay=60.0,  # once failed, the repo is not due again during this test
        poll=0.02,
    )
    with store.transaction() as tx:
        tx.queue_resync(DID, "test", at=time.time())
    workers.start()
    try:
        deadline = time.monotonic() + 10
        while store.queued_resyncs().get(DID, (0, None))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        attempts, error = store.queued_resyncs()[DID]
        assert attempts == 1 and error is not None and DID in error
        time.sleep(1.0)  # several more scheduler rounds, the stale one among them
        assert len(calls) == 1, f"fetched {len(calls)} times; the backoff allowed one"
    finally:
        workers.close()
