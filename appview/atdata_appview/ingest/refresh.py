"""Re-resolving DID documents after ``#identity`` events, off the ingest thread.

A PLC directory answers in tens of milliseconds; doing that inline would stall the firehose for
every identity event. The ingest forgets the cached document at once (so the next commit is checked
against a fresh key) and queues the DID here to refresh the stored handle, key and PDS.
"""

from __future__ import annotations

import logging
import queue
import threading

from atdata.errors import AtdataError
from atdata.network.identity import IdentityResolver
from atdata_appview.store import Store

log = logging.getLogger(__name__)


class IdentityRefresher:
    def __init__(self, store: Store, identities: IdentityResolver) -> None:
        self.store = store
        self.identities = identities
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="identity refresh", daemon=True)
        self._thread.start()

    def request(self, did: str) -> None:
        with self._lock:
            if did in self._pending:
                return
            self._pending.add(did)
        self._queue.put(did)

    def refresh(self, did: str) -> None:
        """Store what ``did``'s current document says. The ingest dropped the cached copy when the
        event arrived, so this fetches it unless a commit verification just did."""
        try:
            ident = self.identities.resolve(did)
        except AtdataError as e:
            log.warning("identity refresh of %s failed: %s", did, e)
            return
        with self.store.transaction() as tx:
            tx.update_identity(did, ident.handle, ident.signing_key, ident.pds)

    def _run(self) -> None:
        while (did := self._queue.get()) is not None:
            try:
                self.refresh(did)
            except Exception:  # a store hiccup must not end the refresher
                log.exception("identity refresh of %s failed", did)
            finally:
                with self._lock:
                    self._pending.discard(did)

    def idle(self) -> bool:
        with self._lock:
            return not self._pending and self._queue.empty()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
