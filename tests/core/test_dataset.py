"""Dataset: typed ordered and shuffled iteration, batches, lengths, and bad shards."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from core_types import (
    Everything,
    Frame,
    Inner,
    IntFrame,
    LabelOnly,
    WideFrame,
    WriteShards,
    everything,
    frame,
)

import atdata
from atdata.dataset import Batch
from atdata.errors import DatasetError, LengthUnknownError, ShardError, ShardIntegrityError
from atdata.shards import expand


def _shard_paths(pattern: str) -> list[Path]:
    return [Path(p) for p in expand(pattern)]


def _foreign(pattern: str) -> str:
    """The shards as another writer leaves them: sidecars that do not name the stored type."""
    for shard in _shard_paths(pattern):
        sidecar = Path(f"{shard}.json")
        d = json.loads(sidecar.read_text())
        d.pop("type", None)
        sidecar.write_text(json.dumps(d))
    return pattern


def test_ordered_yields_typed_samples_in_write_order(frames: str) -> None:
    got = list(atdata.Dataset[Frame](frames).ordered())
    assert got == [frame(i) for i in range(10)]
    assert all(type(s) is Frame for s in got)


def test_the_sample_type_can_be_passed_by_keyword(frames: str) -> None:
    assert [s.index for s in atdata.Dataset(frames, sample_type=Frame)] == list(range(10))


def test_a_dataset_without_a_sample_type_says_how_to_give_one(frames: str) -> None:
    with pytest.raises(DatasetError, match=r"Dataset\[MyType\]"):
        next(iter(atdata.Dataset(frames).ordered()))


def test_brace_patterns_name_every_shard(frames: str) -> None:
    assert len(atdata.Dataset[Frame](frames).shards) == 4


def test_file_urls_and_path_lists_read_the_same_samples(frames: str) -> None:
    paths = _shard_paths(frames)
    as_urls = atdata.Dataset[Frame]([p.as_uri() for p in paths])
    as_paths = atdata.Dataset[Frame](paths)
    assert [s.index for s in as_urls] == [s.index for s in as_paths] == list(range(10))


def test_a_missing_local_shard_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nothing-0000.tar")
    with pytest.raises(ShardError, match="shard file not found") as err:
        list(atdata.Dataset[Frame](missing))
    assert err.value.url == missing


def test_len_comes_from_the_sidecars(frames: str) -> None:
    assert len(atdata.Dataset[Frame](frames)) == 10


def test_len_without_sidecars_is_a_type_error_but_iteration_works(frames: str) -> None:
    Path(_shard_paths(frames)[1].as_posix() + ".json").unlink()
    ds = atdata.Dataset[Frame](frames)
    with pytest.raises(LengthUnknownError, match=r"data-0001\.tar has no sidecar"):
        len(ds)
    assert len(list(ds)) == 10


def test_batches_stack_arrays_along_a_new_leading_axis(frames: str) -> None:
    batch = next(iter(atdata.Dataset[Frame](frames).ordered(batch_size=4)))
    assert isinstance(batch, Batch) and len(batch) == 4
    assert batch.image.shape == (4, 2, 3) and batch.image.dtype == np.float32
    assert np.array_equal(batch.image[2], frame(2).image)


def test_batches_give_other_fields_as_lists(frames: str) -> None:
    batch = next(iter(atdata.Dataset[Frame](frames).ordered(batch_size=4)))
    assert batch.index == [0, 1, 2, 3]
    assert batch.label == ["frame-0", "frame-1", "frame-2", "frame-3"]
    assert batch["metadata"][1] == {"i": 1, "even": False}


def test_batches_carry_their_samples_and_keys(frames: str) -> None:
    batch = next(iter(atdata.Dataset[Frame](frames).ordered(batch_size=2)))
    assert batch.keys == ["000000000", "000000001"]
    assert batch.samples == [frame(0), frame(1)]


def test_the_last_batch_holds_the_remainder(frames: str) -> None:
    sizes = [len(b) for b in atdata.Dataset[Frame](frames).ordered(batch_size=4)]
    assert sizes == [4, 4, 2]


def test_a_batch_has_no_attribute_for_an_unknown_field(frames: str) -> None:
    batch = next(iter(atdata.Dataset[Frame](frames).ordered(batch_size=2)))
    with pytest.raises(AttributeError, match="no field 'colour'"):
        _ = batch.colour


def test_shuffled_with_a_seed_repeats_its_order(frames: str) -> None:
    ds = atdata.Dataset[Frame](frames)
    first = [s.index for s in ds.shuffled(seed=7, buffer=4)]
    again = [s.index for s in ds.shuffled(seed=7, buffer=4)]
    assert first == again
    assert sorted(first) == list(range(10))


def test_shuffled_with_another_seed_changes_the_order(frames: str) -> None:
    ds = atdata.Dataset[Frame](frames)
    orders = {tuple(s.index for s in ds.shuffled(seed=seed, buffer=4)) for seed in range(5)}
    assert len(orders) > 1 and tuple(range(10)) not in orders


def test_shuffled_batches_hold_every_sample_once(frames: str) -> None:
    batches = list(atdata.Dataset[Frame](frames).shuffled(batch_size=3, seed=1))
    assert sorted(i for b in batches for i in b.index) == list(range(10))
    assert batches[0].image.shape == (3, 2, 3)


def test_a_sidecar_count_mismatch_raises_an_integrity_error(frames: str) -> None:
    sidecar = Path(str(_shard_paths(frames)[0]) + ".json")
    content = json.loads(sidecar.read_text())
    content["samples"] = 4
    sidecar.write_text(json.dumps(content))
    with pytest.raises(ShardIntegrityError, match="holds 3 samples, its sidecar says 4") as err:
        list(atdata.Dataset[Frame](frames))
    assert err.value.url is not None and err.value.url.endswith("data-0000.tar")


def test_changed_shard_bytes_fail_the_sha256_check(frames: str) -> None:
    shard = _shard_paths(frames)[2]
    data = bytearray(shard.read_bytes())
    i = data.index(b"frame-")
    data[i : i + 6] = b"FRAME-"
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardIntegrityError, match="sha-256 is"):
        list(atdata.Dataset[Frame](frames))


def test_a_shard_changed_after_a_verified_read_is_checked_again(frames: str) -> None:
    ds = atdata.Dataset[Frame](frames)
    assert len(list(ds)) == 10
    shard = _shard_paths(frames)[0]
    data = bytearray(shard.read_bytes())
    data[data.index(b"frame-")] = ord("F")
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardIntegrityError, match="sha-256 is"):
        list(ds)


def test_a_shard_rewritten_in_place_after_a_read_is_read_from_its_new_bytes(
    write_shards: WriteShards,
) -> None:
    # Later epochs reuse a shard's mapping while the file is unchanged; a rewrite (same inode,
    # same size) must not be read from the old one.
    old = _shard_paths(write_shards([frame(i) for i in range(3)], name="old"))[0]
    new = _shard_paths(write_shards([frame(i + 5) for i in range(3)], name="new"))[0]
    assert old.stat().st_size == new.stat().st_size
    assert [f.index for f in atdata.Dataset[Frame](str(old))] == [0, 1, 2]
    with open(old, "r+b") as f:  # in place: the file keeps its inode
        f.write(new.read_bytes())
    Path(str(old) + ".json").write_bytes(Path(str(new) + ".json").read_bytes())
    assert [f.index for f in atdata.Dataset[Frame](str(old))] == [5, 6, 7]


def test_verify_false_skips_the_sidecar_check(frames: str) -> None:
    sidecar = Path(str(_shard_paths(frames)[0]) + ".json")
    content = json.loads(sidecar.read_text())
    content["sha256"] = "0" * 64
    sidecar.write_text(json.dumps(content))
    assert len(list(atdata.Dataset[Frame](frames, verify=False))) == 10


def test_a_truncated_shard_raises_naming_the_shard(frames: str) -> None:
    shard = _shard_paths(frames)[1]
    shard.write_bytes(shard.read_bytes()[:700])
    Path(str(shard) + ".json").unlink()
    with pytest.raises(ShardError, match="truncated tar") as err:
        list(atdata.Dataset[Frame](frames))
    assert err.value.url == str(shard)


def test_a_corrupt_msgpack_member_names_shard_and_key(write_shards: WriteShards) -> None:
    pattern = write_shards([frame(0), frame(1)])
    shard = _shard_paths(pattern)[0]
    data = bytearray(shard.read_bytes())
    body = 1024 + 512  # the second member's body
    data[body] = 0xC1  # a byte msgpack never uses
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardError, match="corrupt msgpack member") as err:
        list(atdata.Dataset[Frame](pattern, verify=False))
    assert (err.value.url, err.value.key) == (str(shard), "000000001")


def test_a_missing_field_names_shard_key_and_field(write_shards: WriteShards) -> None:
    pattern = _foreign(write_shards([LabelOnly(index=0, label="a")]))
    with pytest.raises(ShardError, match="missing required field") as err:
        list(atdata.Dataset[Frame](pattern))
    assert err.value.key == "000000000" and err.value.field == "image"
    assert str(err.value).startswith(f"shard {_shard_paths(pattern)[0]}, sample '000000000', field 'image'")


def test_a_wrong_dtype_names_shard_key_and_field(write_shards: WriteShards) -> None:
    pattern = _foreign(write_shards([IntFrame(image=np.zeros((2, 3), dtype=np.int64), index=0, label="a")]))
    with pytest.raises(ShardError, match="expected dtype float32, got int64") as err:
        list(atdata.Dataset[Frame](pattern))
    assert (err.value.key, err.value.field) == ("000000000", "image")


def test_a_wrong_shape_names_shard_key_and_field(write_shards: WriteShards) -> None:
    pattern = _foreign(
        write_shards([WideFrame(image=np.zeros((2, 4), dtype=np.float32), index=0, label="a")])
    )
    with pytest.raises(ShardError, match=r"expected shape \(2, 3\), got \(2, 4\)") as err:
        list(atdata.Dataset[Frame](pattern))
    assert (err.value.key, err.value.field) == ("000000000", "image")


def test_on_error_skip_logs_and_skips_bad_samples(
    write_shards: WriteShards, caplog: pytest.LogCaptureFixture
) -> None:
    good = [IntFrame(image=np.zeros((2, 3), dtype=np.float32), index=i, label="ok") for i in (0, 2)]
    bad = IntFrame(image=np.zeros((2, 3), dtype=np.int8), index=1, label="bad")
    pattern = _foreign(write_shards([good[0], bad, good[1]]))
    with caplog.at_level(logging.WARNING, logger="atdata.dataset"):
        got = list(atdata.Dataset[Frame](pattern, on_error="skip"))
    assert [s.index for s in got] == [0, 2]
    (record,) = caplog.records
    assert "sample '000000001', field 'image'" in record.getMessage()
    assert str(_shard_paths(pattern)[0]) in record.getMessage()


def test_on_error_skip_moves_past_a_truncated_shard(frames: str, caplog: pytest.LogCaptureFixture) -> None:
    shard = _shard_paths(frames)[0]
    shard.write_bytes(shard.read_bytes()[:700])
    Path(str(shard) + ".json").unlink()
    with caplog.at_level(logging.WARNING, logger="atdata.dataset"):
        got = [s.index for s in atdata.Dataset[Frame](frames, on_error="skip")]
    assert got == list(range(3, 10))
    assert "truncated tar" in caplog.records[0].getMessage()


def test_on_error_must_be_raise_or_skip(frames: str) -> None:
    with pytest.raises(DatasetError, match="on_error"):
        atdata.Dataset[Frame](frames, on_error="ignore")  # type: ignore[arg-type]


def test_a_transformed_dataset_maps_chunks_of_samples_with_their_keys(frames: str) -> None:
    seen: list[list[str]] = []

    def relabel(samples: list[Frame], keys: list[str]) -> list[LabelOnly]:
        seen.append(keys)
        return [LabelOnly(index=s.index, label=k) for s, k in zip(samples, keys)]

    derived = atdata.Dataset[Frame](frames)._transformed(LabelOnly, relabel, chunk=4)
    got = list(derived.ordered())
    assert [s.label for s in got] == [f"{i:09d}" for i in range(10)]
    assert [len(k) for k in seen] == [4, 4, 2]
    assert len(derived) == 10 and derived.sample_type is LabelOnly


def test_stacked_arrays_are_writable_copies(frames: str) -> None:
    batch = next(iter(atdata.Dataset[Frame](frames).ordered(batch_size=2)))
    batch.image[0, 0, 0] = -1.0
    assert batch.image[0, 0, 0] == -1.0 and batch.samples[0].image[0, 0] == 0.0


def test_batches_of_mismatched_arrays_name_the_field_and_samples(write_shards: WriteShards) -> None:
    pattern = write_shards(
        [
            IntFrame(image=np.zeros(s, dtype=np.float32), index=i, label="x")
            for i, s in enumerate([(2,), (3,)])
        ]
    )
    batch = next(iter(atdata.Dataset[IntFrame](pattern).ordered(batch_size=2)))
    with pytest.raises(DatasetError, match=r"cannot stack field 'image'.*'000000001' has float32\[3\]"):
        _ = batch.image


def test_an_unreadable_sidecar_is_an_integrity_error(frames: str) -> None:
    Path(str(_shard_paths(frames)[0]) + ".json").write_text("{not json")
    with pytest.raises(ShardIntegrityError, match="unreadable sidecar"):
        len(atdata.Dataset[Frame](frames))


def test_fields_with_a_none_in_the_batch_come_as_a_list(write_shards: WriteShards) -> None:
    pattern = write_shards([everything(0), everything(1)])
    batch = next(iter(atdata.Dataset[Everything](pattern).ordered(batch_size=2)))
    assert isinstance(batch.maybe_inner, list) and batch.maybe_inner[1] is None
    assert isinstance(batch.maybe_inner[0], Inner)
    assert np.array_equal(batch.any_array, np.stack([everything(0).any_array, everything(1).any_array]))


def test_the_sidecar_names_the_stored_type(frames: str) -> None:
    assert json.loads(Path(f"{_shard_paths(frames)[0]}.json").read_text())["type"] == "Frame"


def test_opening_shards_as_another_type_fails_at_construction_with_both_names(frames: str) -> None:
    with pytest.raises(
        DatasetError, match=r"holds samples of type Frame, but the dataset was opened as LabelOnly"
    ):
        atdata.Dataset[LabelOnly](frames)
    with pytest.raises(DatasetError, match=r"type Frame.*opened as LabelOnly"):
        atdata.Dataset(frames, sample_type=LabelOnly)


def test_sidecars_without_a_stored_type_still_open(frames: str) -> None:
    ds = atdata.Dataset[Frame](_foreign(frames))
    assert len(ds) == 10 and next(iter(ds)) == frame(0)


def test_a_sidecar_with_a_malformed_type_is_refused(frames: str) -> None:
    sidecar = Path(f"{_shard_paths(frames)[0]}.json")
    d = json.loads(sidecar.read_text())
    d["type"] = ["Frame"]
    sidecar.write_text(json.dumps(d))
    with pytest.raises(ShardIntegrityError, match="type must be a sample type name"):
        len(atdata.Dataset[Frame](frames))
