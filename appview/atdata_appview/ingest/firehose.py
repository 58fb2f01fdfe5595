"""Following ``com.atproto.sync.subscribeRepos`` of a relay or a PDS, resuming from the stored cursor.

Frames are read in small batches: every frame already waiting is taken (up to ``batch_size``), decoded
and verified, then applied with the new cursor in one transaction. A crash at any point therefore
either keeps a whole batch and its cursor or neither, and the next connection resumes after the last
committed event. Verifying and applying run on two threads, in order: while one batch commits, the
next is verified and its records checked (signature checks, SQLite and PostgreSQL release the GIL).

A PDS speaks only for its own accounts: from a host followed as a PDS (not as a relay the operator
configured), an event about a DID is accepted only if the DID document names that host as its PDS.
Reconnects back off exponentially with jitter; the delay resets only after a healthy period, so a
host that accepts and then fails is not hammered.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from atdata.errors import AtdataError
from atdata.network.identity import IdentityResolver
from atdata_appview.ingest.apply import Applier
from atdata_appview.ingest.events import (
    AccountEvent,
    CommitEvent,
    Event,
    IdentityEvent,
    RejectedEvent,
    ResyncEvent,
    SkippedEvent,
)
from atdata_appview.ingest.frames import (
    HARD_FRAME_BYTES,
    CommitFrame,
    StreamError,
    parse_frame,
    verify_frame,
)
from atdata_appview.ingest.heap import prepare_for_ingest
from atdata_appview.ingest.read_ahead import WEBSOCKET_QUEUE_FRAMES, FrameReadAhead
from atdata_appview.ingest.relay_reader import ChildConnection, ConnectionLost

log = logging.getLogger(__name__)

SUBSCRIBE_REPOS = "com.atproto.sync.subscribeRepos"
# A connection that stayed up this long was healthy: the next failure starts the backoff afresh.
HEALTHY_SECONDS = 60.0
# Verified batches waiting for the applying thread (each at most ``batch_size`` events).
QUEUED_BATCHES = 8


def source_key(url: str) -> str:
    """The cursor key of a host: ``ws(s)://host[:port]``, from an http(s) or ws(s) URL, path or not."""
    parts = urlsplit(url if "://" in url else f"wss://{url}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise AtdataError(f"{url!r}: a firehose is reached over ws://, wss://, http:// or https://")
    return urlunsplit((scheme, parts.netloc, "", "", ""))


class FirehoseIngester:
    """Ingest one host's firehose into the store through ``applier``."""

    def __init__(
        self,
        host: str,
        applier: Applier,
        identities: IdentityResolver,
        *,
        batch_size: int = 1000,
        retry_max: float = 60.0,
        from_start: bool = False,
        relay: bool = True,
    ) -> None:
        """``from_start``: with no stored cursor, ask for every event the host still holds (sensible for
        a PDS, which keeps a bounded history) instead of only new ones (what a relay should get).
        ``relay=False``: the host is a PDS, trusted only for the DIDs whose documents name it."""
        self.source = source_key(host)
        self.from_start = from_start
        self.relay = relay
        self.applier = applier
        self.identities = identities
        self.batch_size = batch_size
        self.retry_max = retry_max
        self.events_seen = 0

    def handle_frames(self, frames: list[bytes]) -> list[Event]:
        """Decode, verify and apply frames as one batch; returns the events (for callers that count)."""
        events, error = self.verify_frames(frames)
        if events:
            self.apply(events)
        if error is not None:
            raise error
        return events

    def verify_frames(self, frames: list[bytes]) -> tuple[list[Event], StreamError | None]:
        """Decode and verify frames, and check the records they carry, touching no transaction.

        The frames before an error frame are returned with it (they still count; the error then
        ends the connection). An ``#identity`` event makes its DID's cached document stale from
        that point of the stream on: the next commit of the DID is checked against a refetched one.
        The DID documents the batch needs are fetched concurrently before verification.
        """
        parsed: list[Event | CommitFrame] = []
        error: StreamError | None = None
        for raw in frames:
            try:
                parsed.append(parse_frame(raw))
            except StreamError as e:
                error = e
                break
        # One pass: the DIDs whose documents the batch needs, in order, and an #identity's DID
        # forgotten at once. An #identity's DID is refetched right away (after the forget, so the
        # answer is current): the refresher needs it, and so does the DID's next commit. The
        # appview's resolver fetches in a child process, so asking early costs this process little
        # (it cost a thread-mode resolver more than it saved). Most frames of a relay are commits
        # to other collections, already final (SkippedEvent): they are passed over by type alone.
        wanted: list[str] = []
        commits: list[tuple[int, str]] = []
        for i, p in enumerate(parsed):
            if type(p) is SkippedEvent:
                continue
            if isinstance(p, CommitFrame):
                commits.append((i, p.did))
                wanted.append(p.did)
            elif isinstance(p, IdentityEvent):
                self.identities.forget(p.did)
                wanted.append(p.did)
            elif not self.relay and isinstance(p, (AccountEvent, ResyncEvent)):
                wanted.append(p.did)
        self.identities.prefetch(wanted)
        # Commits whose document is still on its way are verified last: the fetch overlaps the
        # others' verification instead of stalling it. Order of verification changes no verdict
        # (the forgets above are made first); the events keep the stream's order.
        late = [i for i, did in commits if self.identities.fetching(did)]
        waiting = set(late)
        events: list[Event] = []
        for i, p in enumerate(parsed):
            events.append(p if type(p) is SkippedEvent or i in waiting else self._verify(p))  # type: ignore[arg-type]
        for i in late:
            events[i] = self._verify(parsed[i])
        self.applier.prepare(events)
        return events, error

    def apply(self, events: list[Event]) -> None:
        self.applier.apply_batch(self.source, events)
        self.events_seen += len(events)

    def _verify(self, parsed: Event | CommitFrame) -> Event:
        try:
            event = verify_frame(parsed, self.identities)
            return event if self.relay else self._from_its_pds(event)
        except Exception as e:
            # A bug or an input nobody foresaw: refuse this one event rather than stall the stream on
            # it, and take its repo's state from the repo itself.
            seq = parsed.seq
            log.exception("verifying event %s of %s failed", seq, self.source)
            return RejectedEvent(
                seq,
                getattr(parsed, "did", None),
                f"internal error while verifying: {e!r}"[:2000],
                resync=True,
            )

    def _from_its_pds(self, event: Event) -> Event:
        """``event`` if this host is the PDS its DID document names, else a refusal (nothing applied)."""
        if not isinstance(event, (CommitEvent, IdentityEvent, AccountEvent, ResyncEvent)):
            return event
        if isinstance(event, CommitEvent):
            pds = event.identity.pds
        else:
            try:
                # After #identity the account may have just moved here: verify_frames dropped the
                # cached document, so this asks the PLC.
                pds = self.identities.resolve(event.did).pds
            except AtdataError as e:
                return RejectedEvent(
                    event.seq, event.did, f"cannot check which host speaks for {event.did}: {e}"
                )
        try:
            ours = pds is not None and source_key(pds) == self.source
        except AtdataError:
            ours = False
        if ours:
            return event
        kind = type(event).__name__.removesuffix("Event").lower()
        return RejectedEvent(
            event.seq,
            event.did,
            f"{kind} event for {event.did} from {self.source}, but its DID document names "
            f"{pds!r} as its PDS: refused",
        )

    def url(self) -> str:
        cursor = self.applier.store.cursor(self.source)
        if cursor is None and self.from_start:
            cursor = 0
        query = f"?cursor={cursor}" if cursor is not None else ""
        return f"{self.source}/xrpc/{SUBSCRIBE_REPOS}{query}"

    def run(self, stop: threading.Event) -> None:
        """Follow the firehose until ``stop`` is set, reconnecting with backoff after any failure."""
        prepare_for_ingest()  # done already if the applier was made in this process
        delay = 0.5
        while not stop.is_set():
            url = self.url()
            connected: float | None = None
            try:
                # Received in a process of its own (relay_reader: websockets' parsing off this
                # process's GIL), which keeps 16 frames; the read-ahead (bounded in bytes) holds the batch.
                with ChildConnection(
                    url, max_size=HARD_FRAME_BYTES, max_queue=WEBSOCKET_QUEUE_FRAMES, open_timeout=10
                ) as ws:
                    log.info("following %s", url)
                    connected = time.monotonic()
                    self._follow(ws, stop)
            except StreamError as e:
                log.warning("%s: %s", self.source, e)
            except (OSError, ConnectionLost, TimeoutError) as e:
                log.warning("%s: connection lost (%s); retrying in %.1fs", self.source, e, delay)
            except Exception:
                # E.g. the database went away: nothing of the batch was committed, so reconnecting
                # from the stored cursor replays it once the cause is gone.
                log.exception("%s: ingest failed; retrying in %.1fs", self.source, delay)
            if connected is not None and time.monotonic() - connected >= HEALTHY_SECONDS:
                delay = 0.5
            stop.wait(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self.retry_max)

    def _follow(self, ws: object, stop: threading.Event) -> None:
        """Verify batch after batch on this thread while another applies them, in order: the next
        batch is decoded, verified and checked while the previous one commits, and the batches
        verified meanwhile are then applied together. If applying fails,
        nothing after the failed batch is applied and the error is raised (the caller reconnects
        from the stored cursor, which then replays it)."""
        batches: queue.Queue[list[Event] | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        failed: list[BaseException] = []

        def apply_in_order() -> None:
            done = False
            while not done and (events := batches.get()) is not None:
                # Batches that queued up while the last transaction committed go in one transaction
                # (whole batches, in order, with the cursor after the last): when the store is the
                # slower stage, transactions grow instead of the backlog.
                while len(events) < self.batch_size:
                    try:
                        more = batches.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        done = True
                        break
                    events = events + more
                try:
                    self.apply(events)
                except BaseException as e:
                    failed.append(e)
                    return

        applier = threading.Thread(target=apply_in_order, name=f"apply {self.source}", daemon=True)
        applier.start()

        def hand_over(item: list[Event] | None) -> bool:
            while applier.is_alive():
                try:
                    batches.put(item, timeout=0.5)
                    return True
                except queue.Full:
                    continue
            return False

        # Read ahead up to a whole batch: reading only what websockets buffered (16 frames by
        # default) made batches of ~35 events, and per-transaction costs ruled
        # (benchmarks/appview_ingest.py: 586 batches for 20,000 events instead of 21).
        reader = FrameReadAhead(ws, batch_size=self.batch_size)  # type: ignore[arg-type]
        try:
            while not stop.is_set() and not failed:
                frames = reader.take(timeout=1.0)
                if not frames:
                    continue
                events, error = self.verify_frames(frames)
                if events and not hand_over(events):
                    break
                if error is not None:
                    raise error
        finally:
            reader.close()
            hand_over(None)
            applier.join()
        if failed:
            raise failed[0]
