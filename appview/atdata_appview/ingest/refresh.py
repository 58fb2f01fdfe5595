"""Re-resolving DID documents and checking handles, off the ingest thread.

A PLC directory answers in tens of milliseconds, a handle check (DNS or HTTPS) in more; doing either
inline would stall the firehose. The ingest forgets the cached document at once after ``#identity``
(so the next commit is checked against a fresh key) and queues the DID here, as it does for every
repo it first sees, to store the key, the PDS and the handle. A handle is stored only when it passes
the two-way check: the DID document claims it and it resolves back to the DID; otherwise none.
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
        self._running: str | None = None
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
        handle = self.identities.verified_handle(ident)
        if handle is None and ident.handle:
            log.warning("%s claims the handle %r, which does not resolve back to it", did, ident.handle[:300])
        stored = self.store.repo(did)
        if stored is not None and (stored.handle, stored.signing_key, stored.pds) == (
            handle,
            ident.signing_key,
            ident.pds,
        ):
            return  # most #identity events change nothing: no write transaction for them
        with self.store.transaction() as tx:
            tx.update_identity(did, handle, ident.signing_key, ident.pds)

    def _run(self) -> None:
        while (did := self._queue.get()) is not None:
            with self._lock:
                # A request arriving from now on must run again: this run may read the old document.
                self._pending.discard(did)
                self._running = did
            try:
                self.refresh(did)
            except Exception:  # a store hiccup must not end the refresher
                log.exception("identity refresh of %s failed", did)
            finally:
                with self._lock:
                    self._running = None

    def idle(self) -> bool:
        with self._lock:
            return not self._pending and self._running is None and self._queue.empty()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
