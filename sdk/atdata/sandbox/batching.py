"""How a run of items is cut into batches for worker processes.

A batch is bounded in items and in array bytes (it must fit the worker's arena slot and its
memory limit), and one big batch is spread over several workers only when each part is worth a
round trip.
"""

from __future__ import annotations

import itertools

from atdata.sandbox.columns import Batch

MAX_BATCH_ITEMS = 4096
MAX_BATCH_BYTES = 32 << 20
MIN_SPLIT_ITEMS = 16  # a batch is spread over several workers only if each gets this many items


def batch_ranges(batch: Batch, limit_bytes: int) -> list[tuple[int, int]]:
    """Index ranges of the batches to send: bounded in items and in array bytes."""
    sizes = batch.item_bytes()
    n = len(batch)
    if isinstance(sizes, int):  # every item the same size: cut at once
        step = max(1, min(MAX_BATCH_ITEMS, limit_bytes // sizes if sizes else n))
        return [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    out: list[tuple[int, int]] = []
    start = 0
    size = 0
    for i, item_bytes in enumerate(sizes):
        if i > start and (i - start >= MAX_BATCH_ITEMS or size + item_bytes > limit_bytes):
            out.append((start, i))
            start, size = i, 0
        size += item_bytes
    if start < n:
        out.append((start, n))
    return out


def spread(ranges: list[tuple[int, int]], workers: int) -> list[tuple[int, int]]:
    """One range cut into up to ``workers`` parts of at least :data:`MIN_SPLIT_ITEMS` items."""
    if len(ranges) != 1 or workers < 2:
        return ranges
    lo, hi = ranges[0]
    parts = min(workers, (hi - lo) // MIN_SPLIT_ITEMS)
    if parts < 2:
        return ranges
    cuts = [lo + (hi - lo) * k // parts for k in range(parts + 1)]
    return list(itertools.pairwise(cuts))
