"""Applying verified events to the store, crash-safely and idempotently.

A batch of events and the cursor after it commit in one transaction. Commits older than (or equal to)
the repo's last applied rev are skipped and records are upserted by uri, so replaying any suffix of
the stream, or a backfill that overlaps it, changes nothing.

Nothing here touches the network: a repo that must be fetched whole (first seen, ``#sync``, a commit
that could not be verified yet, an op the signed tree does not prove, a poison frame) is queued in the
store's ``resyncs`` table, in the same transaction, for :mod:`resync`'s workers. A rejection never
deletes anything: only an op the signed tree proves, or a whole verified snapshot, changes records.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from atdata.errors import AtdataError
from atdata.lexicon.nsid import LENS
from atdata.network.identity import IdentityResolver
from atdata.network.predecessor import ALT_LENS
from atdata_appview.checks import (
    lens_code_report,
    predecessor_lens_report,
    prepare_checks,
    record_problems,
)
from atdata_appview.derive import derive
from atdata_appview.indexed_collections import is_known
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
    UnverifiedEvent,
)
from atdata_appview.ingest.heap import prepare_for_ingest
from atdata_appview.store import Derived, Repo, Store, StoredRecord, Tx

log = logging.getLogger(__name__)

# Records whose check results are kept (see Applier._checks), and the largest record whose derived
# row is kept with them (so that a hostile stream of large records cannot fill the memory).
CHECKED_CACHE = 50_000
CACHED_DERIVED_BYTES = 16 * 1024

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
        resync_queued: Callable[[], None] | None = None,
    ) -> None:
        """``snapshot(did)`` fetches a verified repo (only :meth:`backfill` calls it, outside any
        transaction); ``refresh(did)`` re-resolves a DID document and checks its handle out of band,
        after the transaction that needed it committed; ``resync_queued()`` wakes the resync workers."""
        prepare_for_ingest()  # the collector's settings for ingest, before the first batch
        prepare_checks()
        self.store = store
        self.identities = identities
        self.snapshot = snapshot
        self.listeners = list(listeners)
        self.refresh = refresh
        self.resync_queued = resync_queued
        self._checked: OrderedDict[tuple[str, str | None], _Checked] = OrderedDict()
        self._checked_lock = threading.Lock()
        # Events whose transaction committed (a poison event counts once it is recorded): what a
        # benchmark or an operator watches instead of asking the database for the cursor.
        self.events_applied = 0
        self._applied_lock = threading.Lock()  # one applying thread per followed host

    # --- entry points ----------------------------------------------------------------------
    def apply_batch(self, source: str, events: Sequence[Event]) -> None:
        """Apply ``events`` in order and move ``source``'s cursor past them, all in one transaction.

        If the batch fails, its events are applied one transaction each, and an event that fails on
        its own (a record the database refuses, a bug) is recorded, its repo queued for a resync, and
        the cursor moved past it: one poison event never stalls the stream. When the database itself
        is down, recording fails too and the error propagates (the follower reconnects and replays).
        """
        try:
            self._apply_events(source, events)
        except Exception:
            if len(events) == 1:
                self._poison(source, events[0])
                return
            for event in events:
                self.apply_batch(source, [event])

    def _apply_events(self, source: str, events: Sequence[Event]) -> None:
        changed: set[str] = set()
        after = _After()
        with self.store.transaction() as tx:
            counted = _CountingTx(tx)
            dids = {e.did for e in events if getattr(e, "did", None) is not None}
            stored = self.store.repos_of(dids)  # type: ignore[arg-type]
            after.repos.update({did: stored.get(did) for did in dids})
            for event in events:
                self._apply(counted, source, event, changed, after)  # type: ignore[arg-type]
            tx.upsert_repos(list(after.dirty.values()))  # one write per repo per batch, its last state
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
        with self._applied_lock:
            self.events_applied += len(events)
        self._committed(changed, after)

    def _poison(self, source: str, event: Event) -> None:
        log.exception("applying event %s from %s failed; recorded and skipped", event.seq, source)
        did = getattr(event, "did", None)
        after = _After()
        with self.store.transaction() as tx:
            tx.reject(
                source,
                "the event could not be stored; its repo is queued for a resync",
                did=did,
                seq=event.seq,
            )
            if did is not None:
                self._queue_resync(tx, did, "poison event", after)
            if event.seq is not None:
                tx.set_cursor(source, event.seq)
        with self._applied_lock:
            self.events_applied += 1
        self._committed(set(), after)

    def backfill(self, did: str, source: str = "backfill") -> Snapshot:
        """Fetch ``did``'s repo (outside any transaction) and make the store hold its current records."""
        if self.snapshot is None:
            raise AtdataError("backfill needs a snapshot source")
        snap = self.snapshot(did)
        self.apply_snapshot(snap, source)
        return snap

    def apply_snapshot(self, snap: Snapshot, source: str = "resync") -> bool:
        """Make the store hold exactly ``snap``'s records and drop the repo from the resync queue.
        False (nothing changed) when the store already holds a newer commit than the snapshot, or
        the account was deleted meanwhile."""
        changed: set[str] = set()
        after = _After()
        with self.store.transaction() as tx:
            repo = self.store.repo(snap.did)
            if repo is not None and repo.rev is not None and snap.rev < repo.rev:
                return False
            if repo is not None and repo.status == "deleted":
                # A fetch that raced the account's deletion: its records stay gone.
                tx.resync_done(snap.did)
                return False
            self._apply_snapshot(tx, source, snap, changed)
            tx.resync_done(snap.did)
            if repo is None or repo.handle is None:
                after.refresh.add(snap.did)
        self._committed(changed, after)
        return True

    def _committed(self, changed: set[str], after: _After) -> None:
        if changed:
            for listener in self.listeners:
                listener(changed)
        if self.refresh is not None:
            for did in after.refresh:
                self.refresh(did)
        if after.resync and self.resync_queued is not None:
            self.resync_queued()

    # --- events ----------------------------------------------------------------------------
    def _apply(self, tx: Tx, source: str, event: Event, changed: set[str], after: _After) -> None:
        if isinstance(event, SkippedEvent):
            return
        if isinstance(event, RejectedEvent):
            log.warning("rejected (seq %s, %s): %s", event.seq, event.did, event.reason)
            tx.reject(source, event.reason, did=event.did, seq=event.seq)
            if event.resync and event.did is not None:
                self._queue_resync(tx, event.did, event.reason, after)
        elif isinstance(event, UnverifiedEvent):
            log.warning(
                "unverified (seq %s, %s): %s; queued for a resync", event.seq, event.did, event.reason
            )
            tx.reject(source, f"{event.reason}; queued for a resync", did=event.did, seq=event.seq)
            self._queue_resync(tx, event.did, "unverifiable commit", after)
        elif isinstance(event, CommitEvent):
            self._commit(tx, source, event, changed, after)
        elif isinstance(event, IdentityEvent):
            # The follower already dropped the cached document where the event stands in the stream
            # (FirehoseIngester.verify_frames); what is stored is refreshed once this commits.
            if self._repo(event.did, after) is not None:
                after.refresh.add(event.did)
        elif isinstance(event, AccountEvent):
            self._account(tx, event, changed, after)
        elif isinstance(event, ResyncEvent) and self._repo(event.did, after) is not None:
            # Repos we do not index yet are fetched when a commit first touches our collections.
            self._queue_resync(tx, event.did, event.reason, after)

    def _queue_resync(self, tx: Tx, did: str, why: str, after: _After) -> None:
        tx.queue_resync(did, why, at=time.time())
        after.resync = True

    def _commit(self, tx: Tx, source: str, ev: CommitEvent, changed: set[str], after: _After) -> None:
        repo = self._repo(ev.did, after)
        if repo is not None and repo.rev is not None and ev.rev <= repo.rev:
            return  # already applied (a replay, or covered by an earlier snapshot)
        for rej in ev.rejected:
            self._reject_op(tx, source, ev.did, ev.seq, rej)
        if ev.rejected:
            # Whatever the op claimed, the repo itself says what is true: fetch it whole.
            self._queue_resync(tx, ev.did, "an op the signed tree does not prove", after)
        if repo is None:
            # First sight of this repo: records written before we followed it come with a resync.
            self._queue_resync(tx, ev.did, "first seen", after)
            after.refresh.add(ev.did)
        for op in ev.ops:
            self._op(tx, source, op, ev.rev, ev.seq, changed)
        after.put_repo(
            Repo(
                ev.did,
                handle=repo.handle if repo else None,
                signing_key=ev.identity.signing_key,
                pds=ev.identity.pds,
                status=repo.status if repo else "active",
                rev=ev.rev,
            )
        )

    def _repo(self, did: str, after: _After) -> Repo | None:
        """The repo as this batch left it so far (read once per batch from the store)."""
        if did not in after.repos:
            after.repos[did] = self.store.repo(did)
        return after.repos[did]

    def _account(self, tx: Tx, ev: AccountEvent, changed: set[str], after: _After) -> None:
        repo = self._repo(ev.did, after)
        if repo is None:
            return
        status = "active" if ev.active else (ev.status or "inactive")
        if status == repo.status:
            return  # most #account events restate the status: nothing is seen differently
        # Every record of this repo may have come or gone from view (listeners re-read them; a
        # full reload of the lens graph per takedown would not scale).
        changed.update(r.uri for r in self.store.records(did=ev.did, include_unserved=True))
        if status == "deleted":
            tx.delete_repo_records(ev.did)
        after.put_repo(Repo(repo.did, repo.handle, repo.signing_key, repo.pds, status, repo.rev))

    def _apply_snapshot(self, tx: Tx, source: str, snap: Snapshot, changed: set[str]) -> None:
        repo = self.store.repo(snap.did)
        # The walk covered every key under our prefix, so what it did not meet is provably gone;
        # records it met but could not read stay as they were.
        keep = {op.uri for op in snap.ops} | {rej.uri for rej in snap.rejected}
        for old in self.store.records(did=snap.did, include_unserved=True):
            if old.uri not in keep:
                tx.delete_record(old.uri)
                changed.add(old.uri)
        for rej in snap.rejected:
            self._reject_op(tx, source, snap.did, None, rej)
        for op in snap.ops:
            self._op(tx, source, op, snap.rev, None, changed)
        tx.upsert_repo(
            Repo(
                snap.did,
                signing_key=snap.identity.signing_key,
                pds=snap.identity.pds,
                status=repo.status if repo else "active",
                rev=snap.rev,
            )
        )

    # --- records ---------------------------------------------------------------------------
    def _reject_op(self, tx: Tx, source: str, did: str, seq: int | None, rej: OpRejection) -> None:
        # Recorded only: an op the tree does not prove says nothing about the record we hold.
        log.warning("rejected %s: %s", rej.uri, rej.reason)
        tx.reject(source, rej.reason, did=did, uri=rej.uri, cid=rej.cid, seq=seq)

    def _op(self, tx: Tx, source: str, op: RecordOp, rev: str, seq: int | None, changed: set[str]) -> None:
        changed.add(op.uri)
        if op.action == "delete":
            tx.delete_record(op.uri)  # the signed tree proved the record absent
            return
        problems, report, derived = self._checks(op)
        if problems:
            log.warning("rejected %s: %s", op.uri, "; ".join(problems))
            tx.reject(source, "; ".join(problems), did=op.did, uri=op.uri, cid=op.cid, seq=seq)
            if op.value is not None and is_known(op.collection):
                # Kept so the operator (and the web page) can show why; never served.
                tx.put_record(self._stored(op, rev, valid=False, report=problems), None)
            else:
                # The signed tree holds this (unindexable) block at the path: the old version is gone.
                tx.delete_record(op.uri)
            return
        if report:
            log.info("lens %s stored without a graph edge: %s", op.uri, "; ".join(report))
        if derived is None:  # a large record: its row is not cached
            derived = derive(op.collection, op.value, code_report=report)
        tx.put_record(self._stored(op, rev, valid=True, report=report), derived)

    def prepare(self, events: Iterable[Event]) -> None:
        """Check and derive the records ``events`` carry ahead of :meth:`apply_batch`, outside its
        transaction (the follower does this for the next batch while the previous one commits)."""
        for event in events:
            if isinstance(event, CommitEvent):
                for op in event.ops:
                    if op.action != "delete":
                        try:
                            self._checks(op)
                        except Exception:  # left to apply_batch, which records a poison event
                            log.exception("checking %s failed", op.uri)

    def _checks(self, op: RecordOp) -> _Checked:
        """The checks and the derived row of ``op``'s record, computed once per distinct record: a
        CID names exactly one block, so a record seen again (a replay, a republished copy, a resync)
        is not validated again. A bounded LRU of the last :data:`CHECKED_CACHE` records."""
        key = (op.collection, op.cid)
        with self._checked_lock:
            hit = self._checked.get(key)
            if hit is not None:
                self._checked.move_to_end(key)
                return hit
        problems = record_problems(op.collection, op.value, op.size)
        report: list[str] = []
        if not problems:
            if op.collection == LENS:
                report = lens_code_report(op.value)
            elif op.collection == ALT_LENS:
                report = predecessor_lens_report(op.value)
        derived = None if problems else derive(op.collection, op.value, code_report=report)
        kept = derived if op.size <= CACHED_DERIVED_BYTES else None
        with self._checked_lock:
            self._checked[key] = _Checked(problems, report, kept)
            while len(self._checked) > CHECKED_CACHE:
                self._checked.popitem(last=False)
        return _Checked(problems, report, derived)

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


class _Checked(NamedTuple):
    problems: list[str]  # lexicon problems: the record is kept (invalid) but not served
    report: list[str]  # lens code report: served, without a graph edge
    derived: Derived | None  # the index row of a valid record (None in the cache for large ones)


class _After:
    """One transaction's state: the repos it read and wrote (each read once, written once at the
    end), and what to do once it committed (handle checks to request, workers to wake)."""

    def __init__(self) -> None:
        self.refresh: set[str] = set()
        self.resync = False
        self.repos: dict[str, Repo | None] = {}
        self.dirty: dict[str, Repo] = {}

    def put_repo(self, repo: Repo) -> None:
        self.repos[repo.did] = self.dirty[repo.did] = repo


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
