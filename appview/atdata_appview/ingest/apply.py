"""Applying verified events to the store, crash-safely and idempotently.

A batch of events and the cursor after it commit in one transaction. Commits older than (or equal to)
the repo's last applied rev are skipped and records are upserted by uri, so replaying any suffix of
the stream, or a backfill that overlaps it, changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from atdata.errors import AtdataError
from atdata.lexicon.nsid import LENS
from atdata.network.identity import IdentityResolver
from atdata.network.predecessor import ALT_LENS
from atdata_appview.checks import lens_code_report, predecessor_lens_report, record_problems
from atdata_appview.collections import is_known
from atdata_appview.derive import derive
from atdata_appview.ingest.events import (
    AccountEvent,
    CommitEvent,
    Event,
    IdentityEvent,
    OpRejection,
    RecordOp,
    RejectedEvent,
    ResyncEvent,
    SkippedEvent,
    Snapshot,
)
from atdata_appview.store import Repo, Store, StoredRecord, Tx

log = logging.getLogger(__name__)

SnapshotSource = Callable[[str], Snapshot]
ChangeListener = Callable[[set[str]], None]  # after commit: the record uris touched, or "*" for all


class Applier:
    def __init__(
        self,
        store: Store,
        identities: IdentityResolver,
        *,
        snapshot: SnapshotSource | None = None,
        listeners: Iterable[ChangeListener] = (),
        refresh: Callable[[str], None] | None = None,
    ) -> None:
        """``refresh(did)``, when given, re-resolves a DID document after an #identity event out of
        band; without it the ingest does so inline."""
        self.store = store
        self.identities = identities
        self.snapshot = snapshot
        self.listeners = list(listeners)
        self.refresh = refresh

    # --- entry points ----------------------------------------------------------------------
    def apply_batch(self, source: str, events: Sequence[Event]) -> None:
        """Apply ``events`` in order and move ``source``'s cursor past them, all in one transaction."""
        changed: set[str] = set()
        with self.store.transaction() as tx:
            counted = _CountingTx(tx)
            for event in events:
                self._apply(counted, source, event, changed)  # type: ignore[arg-type]
            seqs = [e.seq for e in events if e.seq is not None]
            if seqs:
                tx.set_cursor(source, max(seqs))
        log.info(
            "committed a batch from %s: %d event(s), %d record(s) changed, %d rejection(s)%s",
            source,
            len(events),
            len(changed),
            counted.rejections,
            f"; cursor {max(seqs)}" if seqs else "",
        )
        self._notify(changed)

    def backfill(self, did: str, source: str = "backfill") -> Snapshot:
        """Fetch ``did``'s repo and make the store hold exactly its current records."""
        if self.snapshot is None:
            raise AtdataError("backfill needs a snapshot source")
        snap = self.snapshot(did)
        changed: set[str] = set()
        with self.store.transaction() as tx:
            self._apply_snapshot(tx, source, snap, changed)
        self._notify(changed)
        return snap

    def _notify(self, changed: set[str]) -> None:
        if changed:
            for listener in self.listeners:
                listener(changed)

    # --- events ----------------------------------------------------------------------------
    def _apply(self, tx: Tx, source: str, event: Event, changed: set[str]) -> None:
        if isinstance(event, SkippedEvent):
            return
        if isinstance(event, RejectedEvent):
            log.warning("rejected (seq %s, %s): %s", event.seq, event.did, event.reason)
            tx.reject(source, event.reason, did=event.did, seq=event.seq)
        elif isinstance(event, CommitEvent):
            self._commit(tx, source, event, changed)
        elif isinstance(event, IdentityEvent):
            self._identity(tx, source, event)
        elif isinstance(event, AccountEvent):
            self._account(tx, event, changed)
        elif isinstance(event, ResyncEvent) and self.store.repo(event.did) is not None:
            # Repos we do not index yet are fetched when a commit first touches our collections.
            self._resync(tx, source, event.did, event.seq, event.reason, changed)

    def _commit(self, tx: Tx, source: str, ev: CommitEvent, changed: set[str]) -> None:
        repo = self.store.repo(ev.did)
        if repo is not None and repo.rev is not None and ev.rev <= repo.rev:
            return  # already applied (a replay, or covered by an earlier backfill)
        for rej in ev.rejected:
            self._reject_op(tx, source, ev.did, ev.seq, rej)
        if repo is None and self.snapshot is not None:
            # First sight of this repo: take all of it, so records written before we followed it count.
            repo = self._resync(tx, source, ev.did, ev.seq, "first seen", changed)
            if repo is not None and repo.rev is not None and ev.rev <= repo.rev:
                return  # the snapshot already holds this commit
        for op in ev.ops:
            self._op(tx, source, op, ev.rev, ev.seq, changed)
        tx.upsert_repo(
            Repo(
                ev.did,
                handle=ev.identity.handle,
                signing_key=ev.identity.signing_key,
                pds=ev.identity.pds,
                status=repo.status if repo else "active",
                rev=ev.rev,
            )
        )

    def _identity(self, tx: Tx, source: str, ev: IdentityEvent) -> None:
        self.identities.forget(ev.did)  # the next commit is checked against a fresh document
        if self.store.repo(ev.did) is None:
            return  # not a repo we index; nothing to refresh
        if self.refresh is not None:
            self.refresh(ev.did)
            return
        try:
            ident = self.identities.resolve(ev.did, fresh=True)
        except AtdataError as e:
            log.warning("identity refresh of %s failed: %s", ev.did, e)
            tx.reject(source, f"identity refresh failed: {e}", did=ev.did, seq=ev.seq)
            return
        tx.update_identity(ev.did, ident.handle, ident.signing_key, ident.pds)

    def _account(self, tx: Tx, ev: AccountEvent, changed: set[str]) -> None:
        repo = self.store.repo(ev.did)
        if repo is None:
            return
        status = "active" if ev.active else (ev.status or "inactive")
        if status == "deleted":
            tx.delete_repo_records(ev.did)
        tx.upsert_repo(Repo(repo.did, repo.handle, repo.signing_key, repo.pds, status, repo.rev))
        changed.add("*")  # visibility of every collection of this repo may have changed

    def _resync(
        self, tx: Tx, source: str, did: str, seq: int | None, why: str, changed: set[str]
    ) -> Repo | None:
        if self.snapshot is None:
            tx.reject(source, f"{why}: cannot fetch the repo (no snapshot source)", did=did, seq=seq)
            return self.store.repo(did)
        try:
            snap = self.snapshot(did)
        except AtdataError as e:
            log.warning("backfill of %s (%s) failed: %s", did, why, e)
            tx.reject(source, f"backfill ({why}) failed: {e}", did=did, seq=seq)
            return self.store.repo(did)
        return self._apply_snapshot(tx, source, snap, changed)

    def _apply_snapshot(self, tx: Tx, source: str, snap: Snapshot, changed: set[str]) -> Repo:
        repo = self.store.repo(snap.did)
        keep = {op.uri for op in snap.ops}
        for old in self.store.records(did=snap.did, include_unserved=True):
            if old.uri not in keep:
                tx.delete_record(old.uri)
                changed.add(old.uri)
        for rej in snap.rejected:
            self._reject_op(tx, source, snap.did, None, rej)
        for op in snap.ops:
            self._op(tx, source, op, snap.rev, None, changed)
        new = Repo(
            snap.did,
            handle=snap.identity.handle,
            signing_key=snap.identity.signing_key,
            pds=snap.identity.pds,
            status=repo.status if repo else "active",
            rev=snap.rev,
        )
        tx.upsert_repo(new)
        return new

    # --- records ---------------------------------------------------------------------------
    def _reject_op(self, tx: Tx, source: str, did: str, seq: int | None, rej: OpRejection) -> None:
        log.warning("rejected %s: %s", rej.uri, rej.reason)
        tx.reject(source, rej.reason, did=did, uri=rej.uri, cid=rej.cid, seq=seq)
        tx.delete_record(rej.uri)  # whatever version we held is no longer the repo's

    def _op(self, tx: Tx, source: str, op: RecordOp, rev: str, seq: int | None, changed: set[str]) -> None:
        changed.add(op.uri)
        if op.action == "delete":
            tx.delete_record(op.uri)
            return
        problems = record_problems(op.collection, op.value, op.size)
        if problems:
            log.warning("rejected %s: %s", op.uri, "; ".join(problems))
            tx.reject(source, "; ".join(problems), did=op.did, uri=op.uri, cid=op.cid, seq=seq)
            if op.value is not None and is_known(op.collection):
                # Kept so the operator (and the web page) can show why; never served.
                tx.put_record(self._stored(op, rev, valid=False, report=problems), None)
            else:
                tx.delete_record(op.uri)
            return
        report = (
            lens_code_report(op.value)
            if op.collection == LENS
            else predecessor_lens_report(op.value)
            if op.collection == ALT_LENS
            else []
        )
        if report:
            log.info("lens %s stored without a graph edge: %s", op.uri, "; ".join(report))
        tx.put_record(
            self._stored(op, rev, valid=True, report=report),
            derive(op.collection, op.value, code_report=report),
        )

    @staticmethod
    def _stored(op: RecordOp, rev: str, *, valid: bool, report: list[str]) -> StoredRecord:
        assert op.cid is not None
        return StoredRecord(
            uri=op.uri,
            did=op.did,
            collection=op.collection,
            rkey=op.rkey,
            cid=op.cid,
            rev=rev,
            value=op.value,
            valid=valid,
            report=report,
        )


class _CountingTx:
    """A transaction that counts its rejections, for the per-batch log line."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.rejections = 0

    def reject(self, *args: object, **kwargs: object) -> None:
        self.rejections += 1
        self._tx.reject(*args, **kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._tx, name)
