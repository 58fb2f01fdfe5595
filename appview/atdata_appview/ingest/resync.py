"""Fetching whole repos off the firehose threads: a bounded pool of workers over the ``resyncs`` queue.

The ingest only queues a repo (first seen, ``#sync``, tooBig, an unverifiable or poison event); these
workers fetch and verify its export with no transaction open, then apply it in a short transaction of
its own. A slow or hostile host therefore occupies one worker, never a firehose. A fetch that fails
(host down, PLC down, a malformed or poison export) is recorded and retried with exponential backoff
and jitter, forever: an honest repo whose PLC or PDS comes back is indexed then.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from atdata_appview.ingest.apply import Applier, SnapshotSource
from atdata_appview.store import Store

log = logging.getLogger(__name__)

SOURCE = "resync"


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after ``attempts`` failures: doubling from ``base`` up to ``cap``, with
    jitter (50-100%) so that repos failing together do not retry together."""
    return min(cap, base * 2 ** min(attempts, 40)) * random.uniform(0.5, 1.0)


class ResyncWorkers:
    def __init__(
        self,
        store: Store,
        applier: Applier,
        fetch: SnapshotSource,
        *,
        workers: int = 4,
        base_delay: float = 1.0,
        max_delay: float = 600.0,
        poll: float = 1.0,
    ) -> None:
        self.store = store
        self.applier = applier
        self.fetch = fetch
        self.workers = workers
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll = poll
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="resync")
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._schedule, name="resync scheduler", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Look at the queue now (the ingest just queued a repo)."""
        self._wake.set()

    def idle(self) -> bool:
        """Nothing being fetched and nothing due: for tests and orderly shutdown."""
        with self._lock:
            if self._busy:
                return False
        return not self.store.due_resyncs(time.time(), 1)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _schedule(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._dispatch()
            except Exception:  # e.g. the database is away for a moment: try again at the next poll
                log.exception("reading the resync queue failed")
            self._wake.wait(self.poll)

    def _dispatch(self) -> None:
        # The queue is read under the lock a worker takes to leave ``_busy``, which it does only
        # after its outcome committed. A row read here is therefore either still busy or current;
        # read outside the lock, a row of a fetch that just ended would start it again at once,
        # ignoring its backoff, or fetch a state newer than the commits the firehose has delivered.
        with self._lock:
            free = self.workers - len(self._busy)
            if free <= 0:
                return
            for did, reason, attempts in self.store.due_resyncs(time.time(), free + len(self._busy)):
                if did in self._busy or len(self._busy) >= self.workers:
                    continue
                self._busy.add(did)
                self._pool.submit(self._one, did, reason, attempts)

    def _one(self, did: str, reason: str, attempts: int) -> None:
        try:
            snap = self.fetch(did)  # network and verification, no transaction open
            if self.applier.apply_snapshot(snap, SOURCE):
                log.info("resynced %s (%s): %d record(s) at rev %s", did, reason, len(snap.ops), snap.rev)
            else:
                # Commits newer than the export were applied while it was fetched: not an error,
                # fetch again (after a backoff all the same, in case the host keeps serving old ones).
                self._failed(did, f"export at rev {snap.rev} is older than the index", attempts, record=False)
        except Exception as e:  # any failure of one repo, poison included, stays with that repo
            self._failed(did, f"resync of {did} ({reason}) failed, attempt {attempts + 1}: {e!r}", attempts)
        finally:
            with self._lock:
                self._busy.discard(did)
            self._wake.set()

    def _failed(self, did: str, message: str, attempts: int, *, record: bool = True) -> None:
        delay = backoff(attempts, self.base_delay, self.max_delay)
        message = message[:2000]
        log.warning("%s; next try in %.0f s", message, delay)
        try:
            with self.store.transaction() as tx:
                if record:
                    tx.reject(SOURCE, message, did=did)
                tx.resync_failed(did, message, attempts=attempts + 1, next_at=time.time() + delay)
        except Exception:
            log.exception("recording the failed resync of %s failed", did)
