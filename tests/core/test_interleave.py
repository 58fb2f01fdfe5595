"""``atdata.interleave`` and ``atdata.provenance`` over real shards written by ShardWriter.

Three sources reach ``Reading`` through local lenses of one, two and three hops; the sample
indices tell the sources apart: Celsius 0.., Kelvin 100000.., Counts 200000...
"""

from __future__ import annotations

import collections
import logging
from pathlib import Path
from typing import Any

import pytest
from core_types import WriteShards
from hive_types import Celsius, Counts, Kelvin, Reading, failing_celsius

import atdata
from atdata.dataset import Batch
from atdata.errors import DatasetError, SourceError

KELVIN, COUNTS = 100_000, 200_000


def source_of(r: Reading) -> str:
    return "counts" if r.index >= COUNTS else "kelvin" if r.index >= KELVIN else "celsius"


@pytest.fixture
def sources(write_shards: WriteShards) -> list[atdata.Dataset[Any]]:
    """Celsius (7 samples, 3 shards), Kelvin (5, 2 shards), Counts (4, 2 shards), read as Reading."""
    c = write_shards([Celsius(c=float(i), index=i) for i in range(7)], maxcount=3, name="celsius")
    k = write_shards([Kelvin(k=273.15 + i, index=KELVIN + i) for i in range(5)], maxcount=3, name="kelvin")
    n = write_shards([Counts(counts=10 * i, index=COUNTS + i) for i in range(4)], maxcount=2, name="counts")
    return [
        atdata.Dataset[Celsius](c).as_type(Reading),
        atdata.Dataset[Kelvin](k).as_type(Reading),
        atdata.Dataset[Counts](n).as_type(Reading),
    ]


ALL = sorted([*range(7), *range(KELVIN, KELVIN + 5), *range(COUNTS, COUNTS + 4)])


def test_an_interleaved_hive_is_a_dataset_of_the_common_type(sources: list[atdata.Dataset[Any]]) -> None:
    hive = atdata.interleave(sources)
    assert isinstance(hive, atdata.Dataset)
    assert hive.sample_type is Reading
    assert len(hive) == 16


def test_without_weights_ordered_reads_every_sample_once_taking_sources_in_turn(
    sources: list[atdata.Dataset[Any]],
) -> None:
    got = list(atdata.interleave(sources).ordered())
    assert sorted(r.index for r in got) == ALL
    assert [source_of(r) for r in got[:6]] == ["celsius", "kelvin", "counts"] * 2


def test_without_weights_shuffled_reads_every_sample_once_per_epoch(
    sources: list[atdata.Dataset[Any]],
) -> None:
    hive = atdata.interleave(sources)
    first = [r.index for r in hive.shuffled(seed=1, buffer=4)]
    second = [r.index for r in hive.shuffled(seed=2, buffer=4)]
    assert sorted(first) == sorted(second) == ALL
    assert first != second


def test_the_same_seed_gives_the_same_order(sources: list[atdata.Dataset[Any]]) -> None:
    hive = atdata.interleave(sources)
    assert [r.index for r in hive.shuffled(seed=5)] == [r.index for r in hive.shuffled(seed=5)]


def test_batches_hold_samples_of_every_source(sources: list[atdata.Dataset[Any]]) -> None:
    batches = list(atdata.interleave(sources).ordered(batch_size=5))
    assert [len(b) for b in batches] == [5, 5, 5, 1]
    assert isinstance(batches[0], Batch)
    assert {source_of(r) for r in batches[0].samples} == {"celsius", "kelvin", "counts"}
    assert batches[0].celsius == [r.celsius for r in batches[0].samples]


def test_values_come_through_each_source_s_lens_path(sources: list[atdata.Dataset[Any]]) -> None:
    by_index = {r.index: r for r in atdata.interleave(sources).ordered()}
    assert by_index[3].celsius == 3.0
    assert by_index[KELVIN + 2].celsius == pytest.approx(2.0)
    assert by_index[COUNTS + 3].celsius == pytest.approx(3.0 - 273.15)


def test_weights_set_the_mix_of_sources_over_ten_thousand_samples(write_shards: WriteShards) -> None:
    small = write_shards([Celsius(c=0.0, index=i) for i in range(500)], maxcount=100, name="small")
    large = write_shards([Kelvin(k=0.0, index=KELVIN + i) for i in range(9_500)], maxcount=1000, name="large")
    hive = atdata.interleave(
        [atdata.Dataset[Celsius](small).as_type(Reading), atdata.Dataset[Kelvin](large).as_type(Reading)],
        weights=[3, 1],
        seed=0,
    )
    counts = collections.Counter(source_of(r) for r in hive.shuffled(seed=0))
    assert sum(counts.values()) == len(hive) == 10_000
    # Expected 7500 / 2500; three standard deviations of a binomial over 10,000 draws is about 130.
    assert abs(counts["celsius"] - 7_500) < 130
    assert abs(counts["kelvin"] - 2_500) < 130


def test_weights_must_match_the_sources(sources: list[atdata.Dataset[Any]]) -> None:
    with pytest.raises(DatasetError, match="2 weights for 3 sources"):
        atdata.interleave(sources, weights=[1, 2])
    with pytest.raises(DatasetError, match="non-negative"):
        atdata.interleave(sources, weights=[1, -1, 1])


def test_sources_of_different_types_are_refused(write_shards: WriteShards) -> None:
    c = atdata.Dataset[Celsius](write_shards([Celsius(c=1.0, index=0)], name="c"))
    k = atdata.Dataset[Kelvin](write_shards([Kelvin(k=1.0, index=0)], name="k"))
    with pytest.raises(DatasetError, match="holds Kelvin, not Celsius"):
        atdata.interleave([c, k])


def test_as_type_reads_every_source_as_the_new_type(write_shards: WriteShards) -> None:
    k1 = atdata.Dataset[Kelvin](write_shards([Kelvin(k=274.15, index=1)], name="k1"))
    k2 = atdata.Dataset[Kelvin](write_shards([Kelvin(k=275.15, index=2)], name="k2"))
    got = list(atdata.interleave([k1, k2]).as_type(Reading).ordered())
    assert [r.celsius for r in got] == pytest.approx([1.0, 2.0])


# --- a failing source --------------------------------------------------------------------------


def test_a_failing_source_raises_an_error_naming_it(write_shards: WriteShards) -> None:
    good = atdata.Dataset[Kelvin](write_shards([Kelvin(k=1.0, index=KELVIN)], name="good")).as_type(Reading)
    bad = atdata.Dataset[Celsius](write_shards([Celsius(c=1.0, index=0)], name="bad")).as_type(
        Reading, lens=failing_celsius
    )
    with pytest.raises(SourceError, match=r"source #1 Dataset\[Reading\]\(.*bad-0000.tar\) failed") as e:
        list(atdata.interleave([good, bad]).ordered())
    assert "cannot read sample 0" in str(e.value)


def test_a_failing_source_is_skipped_with_a_logged_reason_and_the_others_go_on(
    write_shards: WriteShards, caplog: pytest.LogCaptureFixture
) -> None:
    good = atdata.Dataset[Kelvin](
        write_shards([Kelvin(k=1.0, index=KELVIN + i) for i in range(4)], name="good")
    ).as_type(Reading)
    bad = atdata.Dataset[Celsius](write_shards([Celsius(c=1.0, index=0)], name="bad")).as_type(
        Reading, lens=failing_celsius
    )
    with caplog.at_level(logging.WARNING, logger="atdata.interleave"):
        got = list(atdata.interleave([good, bad], on_error="skip").ordered())
    assert [r.index for r in got] == [KELVIN + i for i in range(4)]
    assert "skipping the rest of source #1" in caplog.text and "cannot read sample 0" in caplog.text


def test_a_skipped_source_leaves_a_weighted_mix_too(write_shards: WriteShards) -> None:
    good = atdata.Dataset[Kelvin](
        write_shards([Kelvin(k=1.0, index=KELVIN + i) for i in range(20)], name="good")
    ).as_type(Reading)
    bad = atdata.Dataset[Celsius](write_shards([Celsius(c=1.0, index=0)], name="bad")).as_type(
        Reading, lens=failing_celsius
    )
    got = list(atdata.interleave([good, bad], weights=[1, 1], on_error="skip").ordered())
    assert got and all(source_of(r) == "kelvin" for r in got)


def test_a_corrupt_shard_in_one_source_names_that_source(write_shards: WriteShards, tmp_path: Path) -> None:
    good = atdata.Dataset[Celsius](write_shards([Celsius(c=1.0, index=0)], name="good"))
    broken = tmp_path / "broken-0000.tar"
    broken.write_bytes(b"not a tar at all" * 64)
    with pytest.raises(SourceError, match=r"broken-0000\.tar"):
        list(atdata.interleave([good, atdata.Dataset[Celsius](str(broken))]).ordered())


# --- provenance --------------------------------------------------------------------------------


def test_provenance_names_the_shard_key_and_lens_path_of_each_sample(
    sources: list[atdata.Dataset[Any]],
) -> None:
    for r in atdata.interleave(sources).ordered():
        p = atdata.provenance(r)
        expected = {
            "celsius": ("celsius_to_reading",),
            "kelvin": ("kelvin_to_celsius", "celsius_to_reading"),
            "counts": ("counts_to_kelvin", "kelvin_to_celsius", "celsius_to_reading"),
        }[source_of(r)]
        assert p.lens_path == expected
        assert Path(p.shard).name.startswith(source_of(r) + "-")
        assert p.key and p.dataset_uri is None and p.dataset_cid is None


def test_provenance_keys_are_the_keys_of_the_shard_members(write_shards: WriteShards) -> None:
    ds = atdata.Dataset[Celsius](write_shards([Celsius(c=float(i), index=i) for i in range(3)], name="c"))
    batch = next(iter(ds.ordered(batch_size=3)))
    assert [atdata.provenance(s).key for s in batch.samples] == batch.keys
    assert [atdata.provenance(s).lens_path for s in ds.ordered()] == [()] * 3


def test_provenance_of_a_sample_made_in_code_is_an_error() -> None:
    with pytest.raises(DatasetError, match="has no provenance"):
        atdata.provenance(Celsius(c=1.0, index=0))


def test_provenance_does_not_change_equality_or_encoding(write_shards: WriteShards) -> None:
    ds = atdata.Dataset[Celsius](write_shards([Celsius(c=2.0, index=7)], name="c"))
    (read,) = list(ds.ordered())
    assert read == Celsius(c=2.0, index=7)
    assert read.model_dump() == {"c": 2.0, "index": 7}


# --- PyTorch -------------------------------------------------------------------------------------


def test_dataloader_workers_read_every_sample_of_every_source_once(
    sources: list[atdata.Dataset[Any]],
) -> None:
    torch = pytest.importorskip("torch")
    hive = atdata.interleave(sources).to_torch(shuffle=True, seed=3)
    loader = torch.utils.data.DataLoader(hive, batch_size=None, num_workers=2, collate_fn=_keep)
    got = list(loader)
    assert sorted(r.index for r in got) == ALL
    assert all(atdata.provenance(r).lens_path for r in got)  # provenance crosses from the workers


def test_workers_started_by_spawn_receive_the_interleaved_dataset(write_shards: WriteShards) -> None:
    torch = pytest.importorskip("torch")
    # Plain sources: a function under @atdata.lens does not pickle (its module name now holds the Lens).
    a = atdata.Dataset[Celsius](
        write_shards([Celsius(c=0.0, index=i) for i in range(5)], maxcount=2, name="a")
    )
    b = atdata.Dataset[Celsius](write_shards([Celsius(c=0.0, index=KELVIN + i) for i in range(3)], name="b"))
    loader = torch.utils.data.DataLoader(
        atdata.interleave([a, b]).to_torch(batch_size=4),
        batch_size=None,
        num_workers=1,
        multiprocessing_context="spawn",
        collate_fn=_keep,
    )
    got = [r for batch in loader for r in batch.samples]
    assert sorted(r.index for r in got) == [*range(5), *range(KELVIN, KELVIN + 3)]
    assert all(atdata.provenance(r).key for r in got)


def test_ranks_split_the_shards_of_all_sources(
    sources: list[atdata.Dataset[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    seen = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        seen.append([r.index for r in atdata.interleave(sources).to_torch(shuffle=True, seed=3)])
    assert set(seen[0]).isdisjoint(seen[1])
    assert sorted(seen[0] + seen[1]) == ALL


def test_set_epoch_reshuffles(sources: list[atdata.Dataset[Any]]) -> None:
    pytest.importorskip("torch")
    hive = atdata.interleave(sources).to_torch(shuffle=True, seed=3)
    first = [r.index for r in hive]
    hive.set_epoch(1)
    second = [r.index for r in hive]
    assert sorted(first) == sorted(second) == ALL
    assert first != second


def _keep(x: object) -> object:
    return x
