"""The PyTorch adapter: a Dataset as an ``IterableDataset`` that splits shards by node and worker.

Imported only by ``Dataset.to_torch`` (torch comes with the ``torch`` extra). The class lives at
module level so DataLoader workers started with spawn or forkserver can unpickle it.

With ``tensors=True`` each item is a dict of the sample's (or batch's) fields the way ``webdataset``
and Hugging Face ``datasets`` users expect from a torch pipeline: arrays as tensors (a batch's
stacked along a new leading axis), numbers and booleans as tensors, everything else (strings,
dicts, optional values that are None in a batch) as the value or the list of values. A worker
hands such a batch to the main process in shared memory it reuses (``handoff``); single samples,
and platforms without ``memfd``, go torch's way, one shared block per sample. Where the DataLoader
would give a batch to torch's ``default_convert`` (``batch_size=None``, no ``collate_fn``), the
worker does the little of its work that changes anything and hands the batch over sealed, so that
``default_convert`` does not walk every string and dict of it.
"""

from __future__ import annotations

import numbers
import os
import pickle
import sys
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from atdata.codec.decode import _json_ok
from atdata.dataset.batch import Batch
from atdata.errors import DatasetError
from atdata.extras import missing

try:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as torch_mp
    from torch.utils.data import IterableDataset, default_convert, get_worker_info
except ModuleNotFoundError as e:
    if e.name != "torch":
        raise
    raise missing("torch", "torch") from None
try:  # where torch's DataLoader keeps a worker's collate_fn (private: absent, items are not sealed)
    from torch.utils.data._utils.fetch import _BaseDatasetFetcher as _Fetcher
except ImportError:  # pragma: no cover - another torch layout
    _Fetcher = None  # type: ignore[assignment,misc]
from atdata.dataset import handoff, loader_queues  # after torch: they need it
from atdata.types.packable import spec_of

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


class AtdataIterable(IterableDataset):  # type: ignore[type-arg]
    """Each DataLoader worker on each node reads a disjoint set of shards.

    Shuffled order is the same permutation of shards everywhere (from ``seed`` and the epoch set
    with ``set_epoch``), split round-robin into slots, so nothing is read twice.
    """

    def __init__(self, dataset: Dataset[Any], *, tensors: bool = False, **options: Any) -> None:
        super().__init__()
        self.dataset = dataset
        self.options = options
        self.tensors = tensors
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[Any]:
        worker = get_worker_info() is not None
        if worker:
            _check_sendable(self.dataset.sample_type)
            _share_by_name()
        items = self.dataset._iterate(split=slot(), epoch=self.epoch, **self.options)
        if not self.tensors:
            return items
        if not worker:
            return map(as_tensors, items)
        caller = sys._getframe(1)
        sealed = _given_to_default_convert(caller, self)
        if handoff.available():
            loader_queues.results_written_directly(caller)
        return (_for_the_main_process(item, sealed) for item in items)


def _given_to_default_convert(frame: FrameType | None, dataset: Any) -> bool:
    """Whether ``frame``, the caller of ``iter(dataset)``, is a DataLoader fetcher that hands each
    item of ``dataset`` straight to torch's ``default_convert`` (``batch_size=None``, no
    ``collate_fn`` of the user's).

    Torch tells a dataset nothing of the kind, so this looks at the caller (once per epoch and
    worker). Only the direct caller counts: a dataset wrapping this one (a subclass's ``__iter__``,
    a ``ChainDataset``) sees its items first and gets plain dicts. Any other torch layout answers
    no, which only keeps ``default_convert``'s walk.
    """
    fetcher = None if frame is None or _Fetcher is None else frame.f_locals.get("self")
    return (
        isinstance(fetcher, _Fetcher)
        and getattr(fetcher, "dataset", None) is dataset
        and getattr(fetcher, "collate_fn", None) is default_convert
        and getattr(fetcher, "auto_collation", None) is False
    )


def _share_by_name() -> None:
    """In a DataLoader worker: hand tensors to the main process by shared-memory file name.

    The default strategy passes a file descriptor per tensor, each over its own socket connection
    that the worker's resource-sharer thread answers (it needs this worker's GIL, which decoding
    holds): measured at about 20 us of the main process's time per sample, enough that two workers
    were no faster than one. By name, the main process opens the memory itself. Only this worker
    process, which the DataLoader made for it, is changed; torch's shm manager removes the files
    once no process holds them.
    """
    if torch_mp.get_sharing_strategy() != "file_system":  # type: ignore[no-untyped-call]
        torch_mp.set_sharing_strategy("file_system")  # type: ignore[no-untyped-call]


def _check_sendable(sample_type: type) -> None:
    """Raise here, in the worker, if samples could not be sent to the main process.

    Otherwise the worker's queue thread only logs the PicklingError and the main process waits for
    samples that never come; an exception raised in a worker reaches the main process instead.
    """
    try:
        pickle.dumps(sample_type)
    except Exception as e:
        raise DatasetError(
            f"samples of {sample_type.__qualname__} cannot be sent from a DataLoader worker to the main "
            f"process ({type(e).__name__}: {e}); define the class at module level, or build it with "
            "atdata.from_schema or atdata.resolve"
        ) from None


_PLAIN_VALUES = frozenset((str, int, float, bool, bytes, type(None)))


def _tensor(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        # Shards' arrays are read-only views of the read buffer; torch needs memory it may write.
        return torch.from_numpy(value if value.flags.writeable else value.copy())
    if isinstance(value, (bool, numbers.Number, np.generic)) and not isinstance(value, complex):
        return torch.tensor(value)
    if type(value) is list:
        return _writable(value)
    return value


def _writable(values: list[Any]) -> list[Any]:
    """``values`` with each read-only array in it, or in a list inside it, copied (the list copied
    only then): ``default_convert`` makes a tensor of each array, and a tensor of a shard's read
    buffer would be memory torch may not write (it warns so) and that the next epoch reads again."""
    if _PLAIN_VALUES.issuperset(map(type, values)):
        return values
    out: list[Any] | None = None
    for i, value in enumerate(values):
        owned: Any
        if type(value) is np.ndarray:
            owned = value if value.flags.writeable else value.copy()
        elif type(value) is list:
            owned = _writable(value)
        else:
            continue
        if owned is not value:
            if out is None:
                out = list(values)
            out[i] = owned
    return values if out is None else out


_PLAIN_NUMBERS = frozenset((bool, int, float))


def _column(values: Any) -> Any:
    if isinstance(values, np.ndarray):
        return _tensor(values)
    if not values:
        return values
    # The usual column holds Python numbers of one or two exact types: decided by one set, in C.
    if _PLAIN_NUMBERS.issuperset(map(type, values)) or all(
        isinstance(v, (bool, numbers.Real, np.generic)) and not isinstance(v, np.ndarray) for v in values
    ):
        return torch.tensor(values)
    return _writable(values) if type(values) is list else values


_ALIGN = 64


def one_block(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with its tensors made views of one block of memory.

    A DataLoader worker hands each tensor's memory to the main process as a shared-memory file,
    which the main process opens and maps: per field, that cost more of the main process's time
    than reading the sample cost the worker, so a second worker added nothing. One block per
    batch is one file.
    """
    tensors = [(k, v) for k, v in fields.items() if isinstance(v, torch.Tensor)]
    if len(tensors) < 2:
        return fields
    starts: list[int] = []
    total = 0
    for _, t in tensors:
        total = -(-total // _ALIGN) * _ALIGN  # every view starts aligned for its dtype
        starts.append(total)
        total += t.numel() * t.element_size()
    block = torch.empty(total, dtype=torch.uint8)
    out = dict(fields)
    for (name, t), start in zip(tensors, starts):
        view = block[start : start + t.numel() * t.element_size()].view(t.dtype).view(t.shape)
        view.copy_(t)
        out[name] = view
    return out


def _for_the_main_process(item: Any, sealed: bool) -> Any:
    """In a worker: a batch packed into one of the worker's shared blocks (in one block of torch's
    where there is no ``memfd``), a sample in one block.

    ``sealed``: the DataLoader gives each item to torch's ``default_convert``, which walks every
    value of every column (each dict of a dict column, each string), converting arrays and numpy
    scalars and copying the rest. Profiled with 64 samples of seven fields, that walk was the
    largest part of a worker's time per batch. A column it would only copy is left as it is, any
    other goes through ``default_convert`` here, and the batch is handed over in a wrapper that
    ``default_convert`` passes through: the main process gets what it got before.
    """
    if not isinstance(item, Batch):
        return one_block(as_tensors(item))
    if not handoff.available():
        batch = one_block(as_tensors(item))
    else:
        fields: dict[str, Any] = {}
        for f in spec_of(item.sample_type).fields:
            arrays = item.arrays(f.name)
            dtype = None if arrays is None else _torch_dtype(arrays[0].dtype)
            if arrays is not None and dtype is not None:
                # Stacked straight into the block: the column is written once, not stacked then copied.
                fields[f.name] = handoff.Rows(arrays, dtype)
            else:
                fields[f.name] = _column(item[f.name])
        batch = handoff.pack(fields)
    if not sealed:
        return batch
    for name, value in list(batch.items()):
        if not _kept_by_default_convert(value):
            batch[name] = default_convert(value)  # type: ignore[no-untyped-call]
    return handoff.Sealed(batch)


def _kept_by_default_convert(value: Any) -> bool:
    """Whether torch's ``default_convert`` returns ``value`` unchanged or as an equal copy: a tensor,
    or a list of plain values or of JSON values (no arrays, numpy scalars or tuples to convert)."""
    if isinstance(value, torch.Tensor):
        return True
    return type(value) is list and (_PLAIN_VALUES.issuperset(map(type, value)) or _json_ok(value))


_TORCH_DTYPES: dict[np.dtype[Any], torch.dtype | None] = {}


def _torch_dtype(dtype: np.dtype[Any]) -> torch.dtype | None:
    """The tensor dtype for arrays of ``dtype``, or None where torch has none (it then says why)."""
    if dtype not in _TORCH_DTYPES:
        try:
            _TORCH_DTYPES[dtype] = torch.from_numpy(np.empty(0, dtype)).dtype
        except (TypeError, ValueError):
            _TORCH_DTYPES[dtype] = None
    return _TORCH_DTYPES[dtype]


def as_tensors(item: Any) -> dict[str, Any]:
    """A sample or a :class:`Batch` as a dict of its fields, arrays and numbers as torch tensors."""
    if isinstance(item, Batch):
        return {f.name: _column(item[f.name]) for f in spec_of(item.sample_type).fields}
    return {f.name: _tensor(getattr(item, f.name)) for f in spec_of(item).fields}


def adapter(
    dataset: Dataset[Any], *, batch_size: int | None, shuffle: bool, seed: int, buffer: int, tensors: bool
) -> Any:
    return AtdataIterable(
        dataset, batch_size=batch_size, shuffle=shuffle, seed=seed, buffer=buffer, tensors=tensors
    )
