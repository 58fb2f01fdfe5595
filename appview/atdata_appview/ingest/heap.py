"""The cyclic garbage collector's settings for a process that ingests: set once, when ingest is set up.

Verifying a batch allocates and frees tens of thousands of containers (decoded frames, records, rows),
and the batch's live objects stay reachable until it commits. With CPython's default young-generation
threshold (700 allocations) the collector ran several hundred times per 20,000 events, each time
walking the batch's live objects again and promoting them into older generations that it then walked
too (benchmarks/appview_ingest.py: a threshold of 20,000 cut the ingest's CPU per event by about a
sixth). What exists when ingest is set up (modules, lexicons, atproto models, caches, whatever the
host process built) is also moved out of the collector's reach for good.

Nothing is lost: every object is still freed by reference counting as before; only garbage *cycles*
wait longer (up to 20,000 container allocations) before they are found, which holds a few megabytes
at most. Frozen objects' cycles are never collected, so a collection runs first and none are pending.
"""

from __future__ import annotations

import gc
import threading

YOUNG_THRESHOLD = 20_000
"""Container allocations (net of frees) between two young-generation collections (CPython: 700)."""

_lock = threading.Lock()
_done: list[bool] = []


def prepare_for_ingest() -> None:
    """Once per process: collect, freeze what exists, and raise the young-generation threshold
    (keeping the older generations' ratios). Later calls do nothing."""
    with _lock:
        if _done:
            return
        _done.append(True)
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
