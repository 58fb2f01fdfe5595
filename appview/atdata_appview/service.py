"""Wiring: one object owning the identity cache, backfill, the applier, the lens graph and the followers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from atdata.network.identity import DEFAULT_PLC_URL, IdentityResolver
from atdata_appview.graph import GraphService
from atdata_appview.ingest.apply import Applier, ChangeListener
from atdata_appview.ingest.backfill import Backfiller
from atdata_appview.ingest.firehose import FirehoseIngester
from atdata_appview.ingest.refresh import IdentityRefresher
from atdata_appview.store import Store

log = logging.getLogger(__name__)


class Appview:
    def __init__(
        self,
        store: Store,
        *,
        plc_url: str = DEFAULT_PLC_URL,
        repo_host: str | None = None,
        listeners: list[ChangeListener] | None = None,
    ) -> None:
        """``repo_host`` fetches every repo from that host instead of the PDS its DID document names.
        Call ``graph.load()`` before serving queries."""
        self.store = store
        self.graph = GraphService(store)
        self.identities = IdentityResolver(plc_url)
        self.backfiller = Backfiller(self.identities, pds=repo_host)
        self.refresher = IdentityRefresher(store, self.identities)
        self.applier = Applier(
            store,
            self.identities,
            snapshot=self.backfiller,
            listeners=[self.graph.on_change, *(listeners or [])],
            refresh=self.refresher.request,
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def ingester(self, host: str, *, from_start: bool = False) -> FirehoseIngester:
        return FirehoseIngester(host, self.applier, self.identities, from_start=from_start)

    def follow(self, relays: Sequence[str] = (), pdses: Sequence[str] = ()) -> None:
        """Start one follower thread per firehose: relays from now on, PDSes from their oldest event."""
        for host, from_start in [*((r, False) for r in relays), *((p, True) for p in pdses)]:
            ingester = self.ingester(host, from_start=from_start)
            t = threading.Thread(
                target=ingester.run, args=(self._stop,), name=f"firehose {host}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self.refresher.close()
        self.backfiller.close()
        self.identities.close()
