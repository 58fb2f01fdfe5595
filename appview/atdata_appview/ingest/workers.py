"""The CPU-bound part of verifying firehose frames, in a worker process beside the ingest.

Verifying a batch is mostly pure work on bytes: decoding frames, hashing CAR blocks, walking MST
proofs, decoding records, and checking each record against its lexicon. In one process all of it
holds the GIL that the applying thread, the websocket and the identity refresher need too, so the
ingest stays on one core. Here a worker process does that part (:func:`prepare_batch`) and the
follower keeps what needs its state: the DID documents (``#identity`` makes the cached one stale
from its place in the stream), the signature check against them, the host-authority rule and the
order of events. Batches go to the worker and come back in order; the next one is prepared while
the follower finishes the previous one.

A worker that dies or cannot start fails the batch like any other error: nothing of it was applied,
the follower reconnects from the stored cursor, and the pool is started afresh.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from atdata_appview.ingest.apply import CACHED_DERIVED_BYTES, CHECKED_CACHE, Checked, record_checks
from atdata_appview.ingest.events import Event, RejectedEvent
from atdata_appview.ingest.frames import CommitFrame, StreamError, UnsignedCommit, parse_frame, prepare_commit

log = logging.getLogger(__name__)


@dataclass
class PreparedBatch:
    """A batch of frames as far as they can be verified without DID documents, in stream order.

    ``error`` is the error frame that ended the batch (``(error, message)``), the frames before it
    being returned with it; ``checks`` holds the record checks, by (collection, CID)."""

    items: list[Event | UnsignedCommit]
    error: tuple[str, str | None] | None = None
    checks: dict[tuple[str, str | None], Checked] = field(default_factory=dict)


# Record checks already made in this (worker) process: a record seen again is not validated again.
_checked: OrderedDict[tuple[str, str | None], Checked] = OrderedDict()


def prepare_batch(frames: list[bytes], *, check_records: bool = True) -> PreparedBatch:
    """Decode and verify ``frames`` up to their signatures, and check the records they carry
    (unless ``check_records`` is false: the caller's applier then checks them)."""
    out = PreparedBatch([])
    for raw in frames:
        try:
            parsed = parse_frame(raw)
        except StreamError as e:
            out.error = (e.error, e.args[0])
            break
        try:
            item = prepare_commit(parsed.msg) if isinstance(parsed, CommitFrame) else parsed
        except Exception as e:  # a bug or an input nobody foresaw: the follower refuses this one
            seq = parsed.msg.seq if isinstance(parsed, CommitFrame) else None
            item = _internal_error(seq, getattr(parsed, "did", None), e)
        out.items.append(item)
        if check_records and isinstance(item, UnsignedCommit):
            for op in item.ops:
                if op.action == "delete" or (op.collection, op.cid) in out.checks:
                    continue
                key = (op.collection, op.cid)
                checked = _checked.get(key)
                if checked is None:
                    try:
                        checked = record_checks(op.collection, op.value, op.size)
                    except Exception:  # left to the applier, which records a poison event
                        log.exception("checking %s failed", op.uri)
                        continue
                    # Large records' rows are not kept (a hostile stream must not fill the memory).
                    small = op.size <= CACHED_DERIVED_BYTES
                    _checked[key] = checked if small else checked._replace(derived=None)
                    while len(_checked) > CHECKED_CACHE:
                        _checked.popitem(last=False)
                else:
                    _checked.move_to_end(key)
                out.checks[key] = checked
    return out


def _internal_error(seq: int | None, did: str | None, e: Exception) -> Event:
    log.exception("verifying event %s failed", seq)
    return RejectedEvent(seq, did, f"internal error while verifying: {e!r}"[:2000], resync=True)


def _ready() -> bool:
    return True


class VerifyPool:
    """One worker process, shared by every follower of this process, started on first use."""

    _lock = threading.Lock()
    _pool: ProcessPoolExecutor | None = None

    @classmethod
    def submit(cls, frames: list[bytes]) -> Future[PreparedBatch]:
        return cls._get().submit(prepare_batch, frames)

    @classmethod
    def start(cls) -> None:
        """Start the worker now and wait until it has imported what it needs (a one-time cost of a
        few hundred milliseconds, like the ingest's own imports)."""
        cls._get().submit(_ready).result()

    @classmethod
    def reset(cls) -> None:
        """Drop a broken pool; the next use starts a fresh worker."""
        with cls._lock:
            pool, cls._pool = cls._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    @classmethod
    def _get(cls) -> ProcessPoolExecutor:
        with cls._lock:
            if cls._pool is None:
                # spawn: the follower's process has threads (and maybe database connections) that a
                # forked child must not inherit.
                cls._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_import_all,
                )
            return cls._pool


def _import_all() -> None:
    # The models of subscribeRepos and the lexicons load lazily; load them before the first batch.
    from atproto_firehose import parse_subscribe_repos_message  # noqa: F401

    from atdata.lexicon.validator import default_lexicons

    default_lexicons()
