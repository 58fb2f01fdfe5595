"""Re-resolving DID documents and checking handles, off the ingest thread.

A PLC directory answers in tens of milliseconds, a handle check (DNS or HTTPS) in more; doing either
inline would stall the firehose. The ingest forgets the cached document at once after ``#identity``
(so the next commit is checked against a fresh key) and queues the DID here, as it does for every
repo it first sees, to store the key, the PDS and the handle. A handle is stored only when it passes
the two-way check: the DID document claims it and it resolves back to the DID; otherwise none.

Requests are taken in batches (whatever queued up meanwhile): the documents are fetched together,
the stored repos read in one statement, and the changes written in one transaction, so a burst of
``#identity`` events costs a few store round trips rather than two per DID.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from atdata.errors import AtdataError
from atdata.network.identity import Identity, IdentityResolver
from atdata_appview.store import Store

log = logging.getLogger(__name__)

_BATCH = 500  # DIDs refreshed together at most (one repos_of statement)


class IdentityRefresher:
    def __init__(self, store: Store, identities: IdentityResolver) -> None:
        self.store = store
        self.identities = identities
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pending: set[str] = set()
        self._running = 0
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
        """Store what ``did``'s current document says (see :meth:`refresh_many`)."""
        self.refresh_many([did])

    def refresh_many(self, dids: Sequence[str]) -> None:
        """Store what the current documents of ``dids`` say. The ingest dropped each cached copy when
        its event arrived, so this fetches them unless a commit verification just did."""
        self.identities.prefetch(dids)  # fetched together; each resolve below waits for its own
        idents: list[Identity] = []
        for did in dids:
            try:
                idents.append(self.identities.resolve(did))
            except AtdataError as e:
                log.warning("identity refresh of %s failed: %s", did, e)
        found: dict[str, tuple[Identity, str | None]] = {}
        # The handles checked together too (one hand-over to the identity process for the batch).
        for ident, handle in zip(idents, self.identities.verified_handles(idents), strict=True):
            if handle is None and ident.handle:
                log.warning(
                    "%s claims the handle %r, which does not resolve back to it",
                    ident.did,
                    ident.handle[:300],
                )
            found[ident.did] = (ident, handle)
        if not found:
            return
        stored = self.store.repos_of(found)
        changed = [
            (did, handle, ident)
            for did, (ident, handle) in found.items()
            if (s := stored.get(did)) is None
            or (s.handle, s.signing_key, s.pds) != (handle, ident.signing_key, ident.pds)
        ]
        if not changed:
            return  # most #identity events change nothing: no write transaction for them
        try:
            self._write(changed)
        except Exception:
            if len(changed) == 1:
                raise
            # One author's document the store refuses must not cost the others their refresh.
            for one in changed:
                try:
                    self._write([one])
                except Exception:
                    log.exception("identity refresh of %s failed", one[0])

    def _write(self, changed: Sequence[tuple[str, str | None, Identity]]) -> None:
        with self.store.transaction() as tx:
            for did, handle, ident in changed:
                tx.update_identity(did, handle, ident.signing_key, ident.pds)

    def _take(self) -> tuple[list[str], bool]:
        """The next batch of requests (waiting for the first), and whether close was asked."""
        dids = [self._queue.get()]
        while len(dids) < _BATCH:
            try:
                dids.append(self._queue.get_nowait())
            except queue.Empty:
                break
        closing = None in dids
        return [d for d in dids if d is not None], closing

    def _run(self) -> None:
        while True:
            dids, closing = self._take()
            with self._lock:
                # A request arriving from now on must run again: this run may read the old document.
                self._pending.difference_update(dids)
                self._running = len(dids)
            try:
                if dids:
                    self.refresh_many(dids)
            except Exception:  # a store hiccup must not end the refresher
                log.exception("identity refresh of %s failed", ", ".join(dids[:5]))
            finally:
                with self._lock:
                    self._running = 0
            if closing:
                return

    def idle(self) -> bool:
        with self._lock:
            return not self._pending and not self._running and self._queue.empty()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
