"""The PyTorch adapter: every sample once across DataLoader workers (only where torch is installed)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from core_types import Frame, Mixed, WriteShards, mixed

import atdata

torch = pytest.importorskip("torch")


def test_dataloader_workers_each_read_their_own_shards(frames: str) -> None:
    source = atdata.Dataset[Frame](frames).to_torch()
    loader = torch.utils.data.DataLoader(source, batch_size=None, num_workers=2, collate_fn=lambda s: s)
    assert sorted(s.index for s in loader) == list(range(10))


def test_workers_leave_the_main_process_sharing_strategy_alone(frames: str) -> None:
    # Workers hand tensors over by shared-memory file name; the user's own process is not changed.
    before = torch.multiprocessing.get_sharing_strategy()
    source = atdata.Dataset[Frame](frames).to_torch(batch_size=2, tensors=True)
    loader = torch.utils.data.DataLoader(source, batch_size=None, num_workers=2)
    assert sorted(int(i) for batch in loader for i in batch["index"]) == list(range(10))
    assert torch.multiprocessing.get_sharing_strategy() == before


def test_a_workers_tensor_batch_reaches_the_main_process_as_one_block_with_every_value(
    frames: str,
) -> None:
    # One shared-memory file per batch instead of one per field (the main process maps each): the
    # batch's tensors lie side by side in one block.
    source = atdata.Dataset[Frame](frames).to_torch(batch_size=3, tensors=True)
    loader = torch.utils.data.DataLoader(source, batch_size=None, num_workers=1)
    batches = list(loader)
    for batch in batches:
        tensors = [t for t in batch.values() if isinstance(t, torch.Tensor)]
        start = min(t.data_ptr() for t in tensors)
        end = max(t.data_ptr() + t.nbytes for t in tensors)
        assert len(tensors) > 1 and end - start < sum(t.nbytes for t in tensors) + 64 * len(tensors)
    assert sorted(int(i) for b in batches for i in b["index"]) == list(range(10))
    by_index = {int(i): image for b in batches for i, image in zip(b["index"], b["image"])}
    assert all(
        torch.equal(by_index[i], torch.arange(6, dtype=torch.float32).reshape(2, 3) + i) for i in range(10)
    )


def test_batches_pass_through_a_dataloader(frames: str) -> None:
    source = atdata.Dataset[Frame](frames).to_torch(batch_size=3)
    sizes = sorted(
        len(b) for b in torch.utils.data.DataLoader(source, batch_size=None, collate_fn=lambda b: b)
    )
    assert sizes == [1, 3, 3, 3]


def test_nodes_split_the_shards_between_them(frames: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        seen.append({s.index for s in atdata.Dataset[Frame](frames).to_torch(shuffle=True, seed=3)})
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(10))


def test_workers_started_by_spawn_receive_the_dataset(frames: str) -> None:
    source = atdata.Dataset[Frame](frames).to_torch(batch_size=5)
    loader = torch.utils.data.DataLoader(
        source, batch_size=None, num_workers=1, multiprocessing_context="spawn", collate_fn=_keep
    )
    assert sorted(i for b in loader for i in b.index) == list(range(10))


def _keep(x: object) -> object:
    return x


def test_tensors_true_hands_out_batches_of_tensors_and_lists(frames: str) -> None:
    source = atdata.Dataset[Frame](frames).to_torch(batch_size=3, tensors=True)
    batches = list(torch.utils.data.DataLoader(source, batch_size=None))
    first = batches[0]
    assert isinstance(first["image"], torch.Tensor) and first["image"].shape == (3, 2, 3)
    assert first["image"].dtype == torch.float32
    assert torch.equal(first["index"], torch.tensor([0, 1, 2]))
    assert first["label"] == ["frame-0", "frame-1", "frame-2"]
    assert first["metadata"][0] == {"i": 0, "even": True}
    assert sorted(i for b in batches for i in b["index"].tolist()) == list(range(10))


def test_tensors_true_hands_out_single_samples_as_dicts_of_tensors(frames: str) -> None:
    source = atdata.Dataset[Frame](frames).to_torch(tensors=True)
    sample = next(iter(source))
    assert torch.equal(sample["image"], torch.arange(6, dtype=torch.float32).reshape(2, 3))
    assert sample["index"] == torch.tensor(0) and sample["index"].dim() == 0
    assert sample["label"] == "frame-0"


def test_tensor_batches_collate_in_a_dataloader_with_workers(frames: str) -> None:
    source = atdata.Dataset[Frame](frames).to_torch(tensors=True)
    loader = torch.utils.data.DataLoader(source, batch_size=4, num_workers=2)
    batches = list(loader)
    assert all(isinstance(b["image"], torch.Tensor) for b in batches)
    assert sorted(i for b in batches for i in b["index"].tolist()) == list(range(10))


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (tensors by dtype, shape and value)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    if hasattr(a, "__dict__"):
        return _same(vars(a), vars(b))
    return bool(a == b)


@pytest.mark.parametrize(
    ("workers", "context", "memfd"),
    [(1, "fork", True), (2, "fork", True), (2, "fork", False), (2, "spawn", True)],
    ids=["one-worker", "two-workers", "no-memfd", "spawn"],
)
def test_worker_batches_hold_what_a_loader_without_workers_gives(
    write_shards: WriteShards, monkeypatch: pytest.MonkeyPatch, workers: int, context: str, memfd: bool
) -> None:
    # Tensors for arrays and numbers, lists for the rest, arrays inside lists as tensors: every
    # field kind, in batches with and without None, the same whichever way batches leave a worker.
    if not memfd:
        monkeypatch.setattr("atdata.dataset.handoff.available", lambda: False)
    pattern = write_shards([mixed(i) for i in range(16)], maxcount=4, name="mixed")
    source = atdata.Dataset[Mixed](pattern).to_torch(batch_size=2, tensors=True)
    expected = {int(b["count"][0]): b for b in torch.utils.data.DataLoader(source, batch_size=None)}
    assert isinstance(expected[0]["maybe"], torch.Tensor) and isinstance(expected[2]["maybe"], list)
    loader = torch.utils.data.DataLoader(
        source, batch_size=None, num_workers=workers, multiprocessing_context=context, timeout=120
    )
    got = {int(b["count"][0]): b for b in loader}
    assert sorted(got) == sorted(expected) == list(range(0, 16, 2))
    assert all(_same(got[k], expected[k]) for k in expected)


def _keep(x: object) -> object:
    return x


class _Probe(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Records whether the DataLoader iterating it is seen to hand its items to default_convert."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def __iter__(self) -> Any:
        from atdata.dataset.torch_adapter import _given_to_default_convert

        self.seen.append(_given_to_default_convert(sys._getframe(1), self))
        return iter(())


class _Wrapping(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """A user's dataset that sees another's items first (here: adds a field to each)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __iter__(self) -> Any:
        for item in self.inner:
            yield {**item, "seen": True}


@pytest.mark.parametrize(
    ("wrap", "options", "recognised"),
    [
        (False, {"batch_size": None}, True),
        (False, {"batch_size": None, "collate_fn": _keep}, False),
        (False, {"batch_size": 2}, False),
        (True, {"batch_size": None}, False),
    ],
    ids=["default-convert", "own-collate-fn", "collating", "wrapped"],
)
def test_the_installed_torch_is_seen_to_hand_items_to_default_convert(
    wrap: bool, options: dict[str, Any], recognised: bool
) -> None:
    # Workers skip default_convert's walk only where this holds: a torch that moved its fetcher
    # would silently lose that, and fails here instead.
    probe = _Probe()
    list(torch.utils.data.DataLoader(_Wrapping(probe) if wrap else probe, **options))
    assert probe.seen == [recognised]


def test_a_dataset_wrapping_to_torch_gets_dicts_in_workers(frames: str) -> None:
    source = _Wrapping(atdata.Dataset[Frame](frames).to_torch(batch_size=3, tensors=True))
    batches = list(torch.utils.data.DataLoader(source, batch_size=None, num_workers=2, timeout=120))
    assert all(b["seen"] for b in batches)
    assert sorted(int(i) for b in batches for i in b["index"]) == list(range(10))


def test_arrays_inside_list_columns_are_memory_torch_may_write(write_shards: WriteShards) -> None:
    # default_convert makes each of them a tensor: of a shard's read-only buffer, torch warns that
    # writing it is undefined; the adapter hands over a copy of each read-only one instead.
    from atdata.dataset.torch_adapter import as_tensors

    pattern = write_shards([mixed(i) for i in range(4)], maxcount=4, name="mixed")
    batch = next(iter(atdata.Dataset[Mixed](pattern).ordered(batch_size=4)))
    sample = next(iter(atdata.Dataset[Mixed](pattern).ordered()))
    assert not batch["arrays"][0][0].flags.writeable and not sample.arrays[0].flags.writeable
    columns, fields = as_tensors(batch), as_tensors(sample)
    nested = [a for row in columns["arrays"] for a in row] + [
        a for a in columns["maybe_array"] if a is not None
    ]
    nested += fields["arrays"]
    assert len(nested) == 4 * 2 + 3 + 2
    assert all(isinstance(a, np.ndarray) and a.flags.writeable for a in nested)
    assert all(np.array_equal(a, b) for a, b in zip(columns["arrays"][1], batch["arrays"][1]))
