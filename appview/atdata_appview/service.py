"""Wiring: one object owning the identity cache, backfill, the applier, the resync workers, the lens
graph and the followers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from atdata.network.identity import DEFAULT_PLC_URL, IdentityResolver
from atdata_appview.ingest.apply import Applier, ChangeListener
from atdata_appview.ingest.backfill import Backfiller
from atdata_appview.ingest.firehose import FirehoseIngester
from atdata_appview.ingest.refresh import IdentityRefresher
from atdata_appview.ingest.resync import ResyncWorkers
from atdata_appview.lens_index import GraphService
from atdata_appview.store import Store

log = logging.getLogger(__name__)


class Appview:
    def __init__(
        self,
        store: Store,
        *,
        plc_url: str = DEFAULT_PLC_URL,
        repo_host: str | None = None,
        handle_resolver: str | None = None,
        listeners: list[ChangeListener] | None = None,
        resync_workers: int = 4,
        resync_max_delay: float = 600.0,
        serve_queries: bool = True,
    ) -> None:
        """``repo_host`` fetches every repo from that host instead of the PDS its DID document names;
        ``handle_resolver``: a service answering ``com.atproto.identity.resolveHandle``, asked before
        DNS and HTTPS in the two-way handle check (how ``.test`` handles of a local PDS resolve).
        Call ``graph.load()`` before serving queries. Without ``serve_queries`` (an ingest-only
        process) no lens index is kept current here."""
        self.store = store
        self.graph = GraphService(store)
        # DID documents and handle checks in a child process: they would cost this one's GIL
        # (busy verifying commits) about a quarter of its time on an #identity-heavy firehose.
        self.identities = IdentityResolver(plc_url, pds_url=handle_resolver, separate_process=True)
        self.backfiller = Backfiller(self.identities, pds=repo_host)
        self.refresher = IdentityRefresher(store, self.identities)
        self.applier = Applier(
            store,
            self.identities,
            snapshot=self.backfiller,
            listeners=[*([self.graph.on_change] if serve_queries else []), *(listeners or [])],
            refresh=self.refresher.request,
        )
        self.resyncs = ResyncWorkers(
            store, self.applier, self.backfiller, workers=resync_workers, max_delay=resync_max_delay
        )
        self.applier.resync_queued = self.resyncs.wake
        self.resyncs.start()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def ingester(self, host: str, *, from_start: bool = False, relay: bool = True) -> FirehoseIngester:
        return FirehoseIngester(host, self.applier, self.identities, from_start=from_start, relay=relay)

    def idle(self) -> bool:
        """No resync or identity refresh pending (for tests and benchmarks)."""
        return self.resyncs.idle() and self.refresher.idle()

    def follow(self, relays: Sequence[str] = (), pdses: Sequence[str] = ()) -> None:
        """Start one follower thread per firehose: relays from now on, PDSes from their oldest event.
        A PDS is believed only about the accounts whose DID documents name it."""
        for host, is_relay in [*((r, True) for r in relays), *((p, False) for p in pdses)]:
            ingester = self.ingester(host, from_start=not is_relay, relay=is_relay)
            t = threading.Thread(
                target=ingester.run, args=(self._stop,), name=f"firehose {host}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self.resyncs.close()
        self.refresher.close()
        self.backfiller.close()
        self.identities.close()
