"""A DataLoader worker's tensor batches handed to the main process through reused shared memory.

By default torch sends a tensor from a worker through a fresh shared-memory file per storage: the
worker creates, sizes, fills and registers it with torch's shm manager, the main process opens,
maps and registers it, and both unmap it and tell the manager when the batch is freed. Profiled
with batches of 64 16 KB arrays (1 MB), that was most of the main process's work per batch, and
the main process's share is what a second worker cannot parallelise (two workers and the main
process share two cores).

Here each worker keeps a few blocks of shared memory (anonymous ``memfd`` files, which the kernel
frees with the last process that maps them, so a crash leaks nothing) and hands each block's
descriptor to the main process once. A batch then crosses as its block's number, the places of
its fields in the block as one JSON string (the main process reads each layout once and keeps it),
and its other values (strings, dicts, lists with None) as one ``marshal`` string where they are
plain data, else pickled as usual; the main process hands out tensors that are views of its own
mapping of the block, so nothing is created, mapped or unmapped per batch, and the worker writes
each array once, straight into the block. Everything the main process does per batch is what a
second worker cannot add (two workers and the main process share two cores): it builds each
batch's objects with as few calls as it can.

A block is written again only after the main process has said that every tensor of the batch it
held is gone: the batch's tensors are views of one base array, whose weak reference's callback
sends (block, shipment) back to the worker over a pipe. A batch the user keeps keeps its block
(the worker makes another); a batch still alive in the main process when it forks retires its
block instead (the worker drops it and makes another), since the child shares that memory and may
still read it. Anything that stops a release (a full pipe, a worker gone) only leaves a block unused.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import logging
import marshal
import math
import mmap
import os
import secrets
import select
import struct
import threading
import weakref
from collections.abc import Iterable
from multiprocessing import reduction
from typing import Any, NamedTuple

import numpy as np
import torch

from atdata.codec.decode import _json_ok
from atdata.dataset import loader_queues
from atdata.errors import DatasetError

log = logging.getLogger(__name__)

_ALIGN = 64
_GRAIN = 1 << 16
_RELEASE = struct.Struct("<QQQ")  # block id, shipment number, 1 if the block is retired
_READ = _RELEASE.size * 4096


def available() -> bool:
    """Whether batches can go this way here: anonymous shared files and descriptor passing (Linux)."""
    return hasattr(os, "memfd_create") and reduction.HAVE_SEND_HANDLE


class Rows(NamedTuple):
    """A column to stack into the block: the samples' arrays, all of one shape and dtype."""

    arrays: list[np.ndarray]
    dtype: torch.dtype


class _Part(NamedTuple):
    """Where a field's tensor is in a block: contiguous, ``offset`` bytes in."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    nbytes: int


Placed = tuple[str, str, tuple[int, ...], int]
"""A field in the block: its name, its dtype's name in torch, its shape, its offset. A batch's
fields travel as the JSON of these (``_layout_key``), which the main process reads with ``json``."""


# --- the worker's side ---------------------------------------------------------------------------


class _Block:
    """One shared block in a worker: free when no view of it is alive here and no shipment is out."""

    __slots__ = ("confirmed", "fd", "id", "local", "memory", "pending", "size")

    def __init__(self, block_id: int, size: int) -> None:
        self.id = block_id
        self.size = size
        self.fd = os.memfd_create(f"atdata-batch-{block_id}")
        try:
            os.ftruncate(self.fd, size)
            self.memory = mmap.mmap(self.fd, size)
        except BaseException:
            os.close(self.fd)
            raise
        self.local = False
        self.pending: set[int] = set()
        self.confirmed = False  # the main process has it: it released a shipment of it

    @property
    def free(self) -> bool:
        return not self.local and not self.pending

    def close(self) -> None:
        os.close(self.fd)
        with contextlib.suppress(BufferError):  # the last view here is still being freed; then it goes
            self.memory.close()


class _Ring:
    """This worker's blocks and the pipe on which the main process releases them."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.token = secrets.token_hex(16)
        self.lock = threading.RLock()
        self.blocks: dict[int, _Block] = {}
        self.forgotten: list[int] = []
        self.next_block = 0
        self.next_shipment = 0
        self.confirmed = False  # the main process has the pipe's write end
        self.releases, self.release_end = os.pipe()
        os.set_blocking(self.releases, False)
        self.partial = b""

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.releases, _READ)
            except BlockingIOError:
                return
            if not data:
                return
            data = self.partial + data
            cut = len(data) - len(data) % _RELEASE.size
            self.partial = data[cut:]
            for block_id, shipment, retired in _RELEASE.iter_unpack(data[:cut]):
                self.confirmed = True
                block = self.blocks.get(block_id)
                if block is None:
                    continue
                block.pending.discard(shipment)
                block.confirmed = True
                if retired:  # a process forked from the main one may still read it: never write it again
                    del self.blocks[block_id]
                    block.close()

    def take(self, size: int) -> _Block:
        """A free block of at least ``size`` bytes, marked as in use here."""
        with self.lock:
            self._drain()
            free = [b for b in self.blocks.values() if b.free]
            fitting = [b for b in free if b.size >= size]
            if fitting:
                block = min(fitting, key=lambda b: b.size)
            else:
                for small in free:  # outgrown: a larger block replaces it
                    del self.blocks[small.id]
                    self.forgotten.append(small.id)
                    small.close()
                try:
                    block = _Block(self.next_block, -(-size // _GRAIN) * _GRAIN)
                except OSError as e:
                    raise DatasetError(
                        f"a DataLoader worker could not make {size:,} bytes of shared memory for a batch "
                        f"({e}); free memory, or use a smaller batch_size"
                    ) from None
                self.next_block += 1
                self.blocks[block.id] = block
            block.local = True
            return block

    def _unused_here(self, block: _Block) -> None:
        with self.lock:
            block.local = False

    def ship(self, batch: SharedBatch) -> tuple[Any, ...]:
        """The pickled form of ``batch``: its block's number, where its tensors are, other values."""
        layout: list[Placed | str] = []
        values: list[Any] = []
        for name, value in batch.items():
            view, placed = batch._parts.get(name, (None, None))
            if placed is not None and value is view:
                layout.append(placed)
            else:  # not in the block, or replaced after packing (a collate_fn): sent the ordinary way
                layout.append(name)
                values.append(value)
        if len(values) == len(layout):
            return (dict, (dict(batch),))
        block = batch._block
        with self.lock:
            # Descriptors go with every shipment until the main process shows it has them.
            pipe = None if self.confirmed else reduction.DupFd(self.release_end)
            fd = None if block.confirmed else reduction.DupFd(block.fd)
            shipment = self.next_shipment
            self.next_shipment += 1
            block.pending.add(shipment)
            forgotten = tuple(self.forgotten)
            self.forgotten.clear()
        return (
            _receive,
            (
                self.token,
                pipe,
                block.id,
                block.size,
                fd,
                forgotten,
                shipment,
                _layout_key(layout),
                _carried(values),
            ),
        )


_layout_keys: dict[tuple[Placed | str, ...], str] = {}


def _layout_key(layout: list[Placed | str]) -> str:
    """``layout`` as one string (JSON), made once per layout: the main process reads one string per
    batch instead of a tuple per field, and looks its prepared layout up by it."""
    entries = tuple(layout)
    key = _layout_keys.get(entries)
    if key is None:
        if len(_layout_keys) >= _MAX_LAYOUTS:
            _layout_keys.clear()
        key = _layout_keys[entries] = json.dumps(entries, separators=(",", ":"))
    return key


def _carried(values: list[Any]) -> tuple[Any, ...] | bytes:
    """The batch's values that are not in the block, as they cross: one ``marshal`` string when every
    one is plain data (str, int, float, bool, None, and lists and str-keyed dicts of them, exact
    types: what ``marshal`` gives back as it was), else the tuple itself, pickled the ordinary way.

    A column of strings or of dicts is 64 objects or more a batch, all built again in the main
    process; ``marshal.loads`` builds them with about a third less of its time than unpickling
    (no memo), and the main process's time is what a second worker cannot add.
    """
    try:
        if all(map(_json_ok, values)):
            return marshal.dumps(tuple(values))
    except (RecursionError, ValueError):  # a list holding itself, or a value marshal refuses after all
        pass
    return tuple(values)


_ring: _Ring | None = None
_ring_lock = threading.Lock()


def _worker_ring() -> _Ring:
    global _ring
    with _ring_lock:
        if _ring is None or _ring.pid != os.getpid():
            _ring = _Ring()
        return _ring


class SharedBatch(dict[str, Any]):
    """A worker's batch: a dict of its fields whose tensors are views of one shared block.

    It is a dict to the worker's own code (a ``collate_fn`` sees fields as usual) and pickles
    as the block's number and its fields' places; a field replaced after packing is sent the
    ordinary way.
    """

    __slots__ = ("_block", "_parts", "_ring")

    _ring: _Ring
    _block: _Block
    _parts: dict[str, tuple[torch.Tensor, Placed]]

    def __copy__(self) -> SharedBatch:
        clone = SharedBatch(self)
        clone._ring, clone._block, clone._parts = self._ring, self._block, self._parts
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        # A copy owns its memory: a plain dict of copied values, not more views of the block.
        return {name: copy.deepcopy(value, memo) for name, value in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        # Runs on the queue's feeder thread, where an exception is only logged and the main
        # process would wait forever: anything unexpected sends the batch torch's way instead.
        try:
            return self._ring.ship(self)
        except Exception:
            log.warning("sending a batch through torch's shared memory instead of the ring", exc_info=True)
            return (dict, (dict(self),))


class Sealed:
    """A worker's batch that torch's ``default_convert`` passes through untouched (it is no mapping,
    sequence or array), pickled as the batch itself: the main process unpickles the dict."""

    __slots__ = ("batch",)

    def __init__(self, batch: dict[str, Any]) -> None:
        self.batch = batch

    def __reduce__(self) -> tuple[Any, ...]:
        if isinstance(self.batch, SharedBatch):
            return self.batch.__reduce__()
        return (dict, (self.batch,))


def pack(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with its tensors and :class:`Rows` written into one of this worker's blocks.

    Tensors on the CPU are copied in; other values stay as they are. Returns a plain dict when
    there is nothing to place.
    """
    parts: dict[str, _Part] = {}
    total = 0
    for name, value in fields.items():
        if isinstance(value, Rows):
            first, dtype = value.arrays[0], value.dtype
            shape, nbytes = (len(value.arrays), *first.shape), len(value.arrays) * first.nbytes
        elif (
            isinstance(value, torch.Tensor)
            and value.device.type == "cpu"
            and not value.requires_grad
            and _numpy_dtype(value.dtype) is not None  # the main process makes its views with numpy
        ):
            shape, nbytes, dtype = tuple(value.shape), value.numel() * value.element_size(), value.dtype
        else:
            continue
        total = -(-total // _ALIGN) * _ALIGN  # every field starts aligned for its dtype
        parts[name] = _Part(dtype, shape, _contiguous(shape), total, nbytes)
        total += nbytes
    if not parts:
        return {name: value.arrays if isinstance(value, Rows) else value for name, value in fields.items()}
    ring = _worker_ring()
    block = ring.take(max(total, 1))
    try:
        base = np.frombuffer(block.memory, np.uint8, count=total)
        weakref.finalize(base, ring._unused_here, block).atexit = False
    except BaseException:
        ring._unused_here(block)
        raise
    storage = torch.from_numpy(base).untyped_storage()
    out = SharedBatch()
    out._ring, out._block, out._parts = ring, block, {}
    for name, value in fields.items():
        part = parts.get(name)
        if part is None:
            out[name] = value
            continue
        view = _view(storage, part)
        if isinstance(value, Rows):
            _stack_into(value.arrays, base[part.offset : part.offset + part.nbytes])
        else:
            view.copy_(value)
        out[name] = view
        out._parts[name] = (view, (name, _dtype_name(part.dtype), part.shape, part.offset))
    return out


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _contiguous(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides = [1] * len(shape)
    for axis in range(len(shape) - 2, -1, -1):
        strides[axis] = strides[axis + 1] * max(shape[axis + 1], 1)
    return tuple(strides)


def _view(storage: torch.UntypedStorage, part: _Part) -> torch.Tensor:
    """The tensor at ``part`` of the block ``storage`` holds (one storage for the batch's tensors)."""
    return torch.empty(0, dtype=part.dtype).set_(
        storage, part.offset // part.dtype.itemsize, part.shape, part.stride
    )


def _stack_into(arrays: list[np.ndarray], memory: np.ndarray) -> None:
    first = arrays[0]
    out = memory.view(first.dtype)
    if first.ndim:
        np.concatenate(arrays, out=out.reshape((len(arrays) * first.shape[0], *first.shape[1:])))
    else:
        np.stack(arrays, out=out)


# --- the main process's side ---------------------------------------------------------------------

_forks = 0  # forks of this process so far: a batch alive across a fork retires its block


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(before=_count_fork)


class _Received:
    """The main process's side of one worker's ring: its blocks, mapped, and the release pipe."""

    def __init__(self, token: str, pipe: int) -> None:
        self.token = token
        self.pipe: int | None = pipe
        self.blocks: dict[int, mmap.mmap] = {}
        self.last = -1
        self.lock = threading.RLock()

    def release(self, block_id: int, shipment: int, forks: int) -> None:
        retired = forks != _forks
        with self.lock:
            if retired:
                self.blocks.pop(block_id, None)
            if self.pipe is None:
                return
            # If the worker is gone or the pipe is full, the block is simply not used again.
            with contextlib.suppress(OSError):
                os.write(self.pipe, _RELEASE.pack(block_id, shipment, retired))

    def worker_gone(self) -> bool:
        with self.lock:
            if self.pipe is None:
                return True
            poll = select.poll()
            poll.register(self.pipe, select.POLLOUT)
            return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))

    def close(self) -> None:
        """Forget the worker's blocks (mapped until the last batch in them goes) and its pipe."""
        with self.lock:
            if self.pipe is not None:
                os.close(self.pipe)
                self.pipe = None
            self.blocks.clear()


_received: dict[str, _Received] = {}
_received_lock = threading.Lock()


def _descriptor(dup: Any) -> int:
    fd: int = dup.detach()
    os.set_inheritable(fd, False)
    return fd


def _write_indices_directly() -> None:
    """A new worker's first batch: the DataLoader receiving it writes its index puts itself
    (``loader_queues``), found from the calling frames; any surprise leaves torch's way as it is."""
    from atdata.dataset.torch_adapter import AtdataIterable  # imports this module: here, not above

    try:
        loader_queues.installed_from_caller(AtdataIterable)
    except Exception:  # pragma: no cover - a torch or multiprocessing this was not written for
        log.debug("index puts left to torch's queue feeder threads", exc_info=True)


def _ring_for(token: str, pipe: Any) -> _Received:
    ring = _received.get(token) if pipe is None else None  # the usual case: one lookup, no lock
    if ring is not None:
        return ring
    with _received_lock:
        ring = _received.get(token)
        if pipe is not None:
            fd = _descriptor(pipe)
            if ring is None:
                os.set_blocking(fd, False)
                for gone in [r for r in _received.values() if r.worker_gone()]:
                    gone.close()
                    del _received[gone.token]
                ring = _received[token] = _Received(token, fd)
                _write_indices_directly()
            else:
                os.close(fd)
    if ring is None:
        raise DatasetError(
            "a DataLoader worker sent a batch in shared memory this process was never given (were "
            "its earlier batches unpickled elsewhere?); iterate the DataLoader in one process"
        )
    return ring


class _Layout(NamedTuple):
    """A batch's layout, made ready once in the main process: how to build each field."""

    total: int  # bytes of the block the batch's tensors use
    fields: tuple[tuple[str, np.dtype[Any] | None, tuple[int, ...], int], ...]
    """(name, dtype, shape, offset) of each tensor in order; dtype None for the next other value."""
    values: int  # how many other values the batch carries


_layouts: dict[str, _Layout] = {}
_MAX_LAYOUTS = 1024


def _compiled(layout: str) -> _Layout:
    """``layout`` (the worker's JSON of its fields' places) ready to build from; kept, since a worker
    sends every batch of a shape alike."""
    done = _layouts.get(layout)
    if done is not None:
        return done
    try:
        entries = json.loads(layout)
    except ValueError:
        entries = None
    if type(entries) is not list:
        raise DatasetError(
            f"a DataLoader worker sent a batch layout this process cannot read: {layout[:200]!r}"
        )
    fields: list[tuple[str, np.dtype[Any] | None, tuple[int, ...], int]] = []
    total = values = 0
    for entry in entries:
        if type(entry) is str:
            fields.append((entry, None, (), 0))
            values += 1
            continue
        name, dtype_name, shape, offset = (
            entry if type(entry) is list and len(entry) == 4 else (entry, None, None, None)
        )
        dtype = getattr(torch, dtype_name, None) if type(dtype_name) is str else None
        numpy_dtype = _numpy_dtype(dtype) if isinstance(dtype, torch.dtype) else None
        if (
            type(name) is not str
            or numpy_dtype is None
            or type(shape) is not list
            or not all(type(n) is int and n >= 0 for n in shape)
            or type(offset) is not int
            or offset < 0
        ):
            raise DatasetError(
                f"a DataLoader worker sent field {entry!r} of a batch, which this process cannot read"
            )
        fields.append((name, numpy_dtype, tuple(shape), offset))
        total = max(total, offset + math.prod(shape) * numpy_dtype.itemsize)
    done = _Layout(total, tuple(fields), values)
    if len(_layouts) >= _MAX_LAYOUTS:
        _layouts.clear()
    _layouts[layout] = done
    return done


_NUMPY_DTYPES: dict[torch.dtype, np.dtype[Any] | None] = {}


def _numpy_dtype(dtype: torch.dtype) -> np.dtype[Any] | None:
    """The numpy dtype of ``dtype``'s tensors, if numpy has one (``bfloat16`` has none)."""
    if dtype not in _NUMPY_DTYPES:
        try:
            _NUMPY_DTYPES[dtype] = torch.empty(0, dtype=dtype).numpy().dtype
        except (TypeError, RuntimeError):
            _NUMPY_DTYPES[dtype] = None
    return _NUMPY_DTYPES[dtype]


_Alive = dict[int, tuple["weakref.ref[np.ndarray]", _Received, int, int, int]]
_alive: _Alive = {}
"""Shipments whose tensors are alive here, by the id of the weak reference that reports their end
(lighter per batch than ``weakref.finalize``). Emptied at exit: the workers are going too. Emptied
in a forked child: its copies of batches are not its to release, only the main process's are."""
atexit.register(_alive.clear)
os.register_at_fork(after_in_child=_alive.clear)


def _gone(ref: weakref.ref[np.ndarray], alive: _Alive = _alive) -> None:
    """The last tensor of a shipment is gone: its block may be written again."""
    shipment = alive.pop(id(ref), None)
    if shipment is not None:
        _, ring, block_id, number, forks = shipment
        ring.release(block_id, number, forks)


def _receive(
    token: str,
    pipe: Any,
    block_id: int,
    size: int,
    fd: Any,
    forgotten: Iterable[int],
    shipment: int,
    layout: str,
    values: tuple[Any, ...] | bytes,
) -> dict[str, Any]:
    """In the main process: the batch as a dict, its tensors views of the worker's block."""
    ring = _ring_for(token, pipe)
    with ring.lock:
        if fd is not None:
            handle = _descriptor(fd)
            try:
                if block_id not in ring.blocks:
                    ring.blocks[block_id] = mmap.mmap(handle, size)
            finally:
                os.close(handle)
        for gone in forgotten:
            ring.blocks.pop(gone, None)
        if shipment <= ring.last:
            raise DatasetError(
                f"a DataLoader worker's batch {shipment} arrived after batch {ring.last} (a batch "
                "unpickled twice or out of order): its shared memory may be reused, so it is refused"
            )
        ring.last = shipment
        memory = ring.blocks.get(block_id)
    if memory is None:
        raise DatasetError(
            f"a DataLoader worker sent a batch in shared block {block_id}, which this process was "
            "never given; iterate the DataLoader in one process"
        )
    plan = _compiled(layout)
    if plan.total > len(memory):
        raise DatasetError(
            f"a DataLoader worker sent a batch of {plan.total:,} bytes in shared block {block_id} of "
            f"{len(memory):,} bytes; it is refused"
        )
    # marshal builds objects and runs nothing; the worker is this process's own child, whose pickles
    # could run code here anyway: it is checked for being whole, not trusted less than they are.
    try:
        rest = marshal.loads(values) if type(values) is bytes else values
    except (ValueError, EOFError, TypeError, MemoryError) as e:
        raise DatasetError(
            f"a DataLoader worker sent a batch whose values this process cannot read ({e}); it is refused"
        ) from None
    if type(rest) is not tuple or len(rest) != plan.values:
        raise DatasetError(
            f"a DataLoader worker sent a batch whose layout names {plan.values} other values but "
            f"which carries {len(rest) if type(rest) is tuple else type(rest).__name__}; it is refused"
        )
    # Every tensor holds a view of ``base``: when the last is gone, so is ``base``, and the worker
    # hears that the block is free.
    base = np.frombuffer(memory, np.uint8, count=plan.total)
    end = weakref.ref(base, _gone)
    _alive[id(end)] = (end, ring, block_id, shipment, _forks)
    out: dict[str, Any] = {}
    value = iter(rest).__next__
    for name, dtype, shape, offset in plan.fields:
        out[name] = value() if dtype is None else torch.from_numpy(np.ndarray(shape, dtype, base, offset))
    return out
