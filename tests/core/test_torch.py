"""The PyTorch adapter: every sample once across DataLoader workers (only where torch is installed)."""

from __future__ import annotations

import pytest
from core_types import Frame

import atdata

torch = pytest.importorskip("torch")


def test_dataloader_workers_each_read_their_own_shards(frames: str) -> None:
    source = atdata.Dataset[Frame](frames).to_torch()
    loader = torch.utils.data.DataLoader(source, batch_size=None, num_workers=2, collate_fn=lambda s: s)
    assert sorted(s.index for s in loader) == list(range(10))


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
