"""A DataLoader over an atdata dataset writes each worker's next index itself while the queue's
feeder thread is idle, everything reaching the workers in the order it was put, and waits for
results on one kept poll object (only where torch is installed)."""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from typing import Any

import pytest
from core_types import Frame, WriteShards, frame

import atdata

torch = pytest.importorskip("torch")
from atdata.dataset import handoff  # noqa: E402  (needs torch)
from atdata.dataset.loader_queues import DirectPut, ReadyPoll  # noqa: E402

pytestmark = pytest.mark.skipif(not handoff.available(), reason="needs memfd and descriptor passing (Linux)")


@pytest.fixture
def many(write_shards: WriteShards) -> str:
    """48 Frames in 8 shards of 6: each of two workers reads 4 shards, 12 batches of 2."""
    return write_shards([frame(i) for i in range(48)], maxcount=6, name="many")


def loader(pattern: str, **options: Any) -> Any:
    source = atdata.Dataset[Frame](pattern).to_torch(batch_size=2, tensors=True)
    return torch.utils.data.DataLoader(source, batch_size=None, timeout=120, **options)


def test_the_installed_torch_has_its_index_puts_written_directly_and_results_polled_once(many: str) -> None:
    # Relies on torch's private layout (the iterator's _try_get_data, plain multiprocessing queues):
    # a torch that moved them would silently lose this, and fails here instead.
    batches = iter(loader(many, num_workers=2, persistent_workers=True))
    assert sum(1 for _ in batches) == 24
    puts = [q.put for q in batches._index_queues]
    assert all(isinstance(put, DirectPut) for put in puts)
    assert all(put.written > 0 for put in puts)
    assert isinstance(batches._data_queue._poll, ReadyPoll)


def test_batches_arrive_in_the_order_of_a_loader_whose_feeder_threads_write_every_index(many: str) -> None:
    # In order, two workers alternate: worker 0 reads shards 0, 2, 4, 6 and worker 1 shards 1, 3, 5, 7.
    shard = [list(range(s * 6, s * 6 + 6)) for s in range(8)]
    worker = [[i for s in (w, w + 2, w + 4, w + 6) for i in shard[s]] for w in (0, 1)]
    expected = [worker[n % 2][(n // 2) * 2 : (n // 2) * 2 + 2] for n in range(24)]
    batches = loader(many, num_workers=2, persistent_workers=True)
    for _ in range(3):  # later epochs: every index is written directly
        assert [b["index"].tolist() for b in batches] == expected


def test_a_loader_left_early_stops_its_workers_and_the_next_one_reads_everything(many: str) -> None:
    batches = iter(loader(many, num_workers=2))
    for _ in range(3):
        next(batches)
    workers = list(batches._workers)
    batches._shutdown_workers()  # what deleting the iterator does: a None put to each worker
    assert all(not w.is_alive() for w in workers)
    assert sorted(i for b in loader(many, num_workers=2) for i in b["index"].tolist()) == list(range(48))


def test_a_direct_put_keeps_the_order_of_everything_put_while_the_feeder_is_busy() -> None:
    # Small items are written directly when the feeder is idle; a large one goes through the feeder,
    # and what follows it waits its turn: the reader sees the order of the puts.
    q = multiprocessing.get_context("fork").Queue()
    q.put("start")  # the feeder thread starts, as torch's first puts start it
    assert q.get(timeout=30) == "start"
    put = q.put = DirectPut(q)
    items: list[Any] = []
    for n in range(400):
        items.append(b"x" * 100_000 if n % 50 == 0 else (n, None))
    reader_got: list[Any] = []
    reader = threading.Thread(target=lambda: reader_got.extend(q.get(timeout=30) for _ in items))
    reader.start()
    for n, item in enumerate(items):
        if n % 7 == 0:  # now and then the feeder has caught up and waits, as between torch's batches
            _until(lambda: not q._buffer and bool(q._notempty._waiters))
        put(item)
    reader.join(60)
    assert reader_got == items
    assert 0 < put.written < len(items)
    q.close()
    q.join_thread()


def test_a_closed_queue_refuses_a_direct_put() -> None:
    q = multiprocessing.get_context("fork").Queue()
    put = DirectPut(q)
    q.close()
    with pytest.raises(ValueError, match="is closed"):
        put((0, None))


def _until(condition: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds * 1000)):
        if condition():
            return
        time.sleep(0.001)


@pytest.mark.parametrize("index", [(0, None), (12345, None), (2**40, None)])
def test_torchs_iterable_index_is_pickled_as_forking_pickler_would(index: Any) -> None:
    import pickle
    from multiprocessing.reduction import ForkingPickler

    assert pickle.dumps(index) == bytes(ForkingPickler.dumps(index))


def test_a_ready_poll_answers_as_the_queue_would_for_each_timeout() -> None:
    q = multiprocessing.get_context("fork").Queue()
    q._poll = ReadyPoll(q._reader)
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    assert time.monotonic() - started >= 0.19
    with pytest.raises(queue.Empty):
        q.get(block=False)
    q.put({"batch": 1})
    assert q.get(timeout=30) == {"batch": 1}
    assert q.empty()
    q.put("later")
    _until(lambda: not q.empty())
    assert q.get(timeout=0) == "later"


def test_a_ready_poll_of_a_closed_reader_fails_as_the_queue_would() -> None:
    q = multiprocessing.get_context("fork").Queue()
    q._poll = ReadyPoll(q._reader)
    q._reader.close()
    with pytest.raises(OSError, match="handle is closed"):
        q.get(timeout=1)


def test_a_ready_poll_sees_the_writers_going_as_readable() -> None:
    # Connection.poll answers True when the other end is gone (the read then fails): so does this.
    reader, writer = multiprocessing.Pipe(duplex=False)
    poll = ReadyPoll(reader)
    assert not poll(0)
    writer.close()
    assert poll(5)
    with pytest.raises(EOFError):
        reader.recv_bytes()


class _WorkerProbe(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Yields, from a DataLoader worker, whether its loop's result queue is found and fits."""

    def __iter__(self) -> Any:
        import sys

        from atdata.dataset import loader_queues

        found = loader_queues.worker_results(sys._getframe(1))
        yield {"found": found is not None, "fits": loader_queues._fits(found)}


def test_the_installed_torch_shows_a_workers_result_queue_to_its_dataset() -> None:
    # Workers write their batches themselves only where this holds: a torch that moved its worker
    # loop would silently lose that, and fails here instead.
    got = list(torch.utils.data.DataLoader(_WorkerProbe(), batch_size=None, num_workers=1, timeout=120))
    assert got == [{"found": True, "fits": True}]


def test_workers_write_their_batches_themselves_and_every_batch_arrives(many: str) -> None:
    batches = loader(many, num_workers=2, persistent_workers=True)
    for _ in range(2):
        assert sorted(i for b in batches for i in b["index"].tolist()) == list(range(48))


class _Counted:
    """Counts how often it is pickled (here, in the writing process)."""

    pickled = 0

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        type(self).pickled += 1
        return (_Counted, (self.payload,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Counted) and other.payload == self.payload


def test_a_result_that_finds_the_pipe_full_goes_through_the_feeder_pickled_once() -> None:
    # A worker never waits on a full pipe in its own thread: with nobody reading, every put returns;
    # the feeder sends what found no room, each item pickled once (a batch's shipment made once),
    # and the reader then gets everything in order.
    q = multiprocessing.get_context("fork").Queue()
    q.put("start")
    assert q.get(timeout=30) == "start"
    put = q.put = DirectPut(q, limit=1 << 20, room=True)
    items = [_Counted(bytes([n]) * 20_000) for n in range(12)]  # 240 KB: more than the pipe holds
    _Counted.pickled = 0

    def put_all() -> None:
        for item in items:
            _until(lambda: bool(q._notempty._waiters), seconds=0.5)  # idle, unless blocked on the full pipe
            put(item)

    putter = threading.Thread(target=put_all, daemon=True)
    putter.start()
    putter.join(60)
    assert not putter.is_alive()
    assert [q.get(timeout=30) for _ in items] == items
    assert _Counted.pickled == len(items)
    assert 0 < put.written < len(items)
    q.close()
    q.join_thread()


def test_a_worker_does_not_wait_for_the_write_lock_another_holds() -> None:
    # Another worker preempted while writing holds the shared lock: this one's thread goes on, and
    # its item follows through the feeder once the lock is free.
    q = multiprocessing.get_context("fork").Queue()
    q.put("start")
    assert q.get(timeout=30) == "start"
    put = q.put = DirectPut(q, limit=1 << 20, room=True)
    _until(lambda: bool(q._notempty._waiters))
    assert q._wlock.acquire(timeout=30)
    done = threading.Event()
    putter = threading.Thread(target=lambda: (put((1, "batch")), done.set()), daemon=True)
    putter.start()
    assert done.wait(30)
    assert put.written == 0
    q._wlock.release()
    assert q.get(timeout=30) == (1, "batch")
    q.close()
    q.join_thread()
