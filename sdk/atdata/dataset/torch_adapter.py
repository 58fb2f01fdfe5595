"""The PyTorch adapter: a Dataset as an ``IterableDataset`` that splits shards by node and worker.

Imported only by ``Dataset.to_torch`` (torch is not a dependency of atdata). The class lives at
module level so DataLoader workers started with spawn or forkserver can unpickle it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info

if TYPE_CHECKING:
    from atdata.dataset.dataset import Dataset


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def slot() -> tuple[int, int]:
    """This process's share of the shards: ``(slot, number of slots)`` over nodes times workers."""
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    rank, world = _rank_and_world()
    return rank * workers + worker, world * workers


class AtdataIterable(IterableDataset):  # type: ignore[type-arg, misc]
    """Each DataLoader worker on each node reads a disjoint set of shards.

    Shuffled order is the same permutation of shards everywhere (from ``seed`` and the epoch set
    with ``set_epoch``), split round-robin into slots, so nothing is read twice.
    """

    def __init__(self, dataset: Dataset[Any], **options: Any) -> None:
        super().__init__()
        self.dataset = dataset
        self.options = options
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[Any]:
        return self.dataset._iterate(split=slot(), epoch=self.epoch, **self.options)


def adapter(dataset: Dataset[Any], *, batch_size: int | None, shuffle: bool, seed: int, buffer: int) -> Any:
    return AtdataIterable(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed, buffer=buffer)
