"""Tensor batches from DataLoader workers cross in reused shared memory, and nothing held is overwritten.

Workers write each batch into one of their shared blocks and reuse a block only once the main
process has released every tensor of the batch in it (only where torch is installed).
"""

from __future__ import annotations

import gc
import marshal
import os
import resource
from typing import Any

import pytest
from core_types import Frame, WriteShards, frame

import atdata
from atdata.errors import DatasetError

torch = pytest.importorskip("torch")
from atdata.dataset import handoff  # noqa: E402  (needs torch)

pytestmark = pytest.mark.skipif(not handoff.available(), reason="needs memfd and descriptor passing (Linux)")

BATCHES = 24


@pytest.fixture
def many(write_shards: WriteShards) -> str:
    """48 Frames in 8 shards: 24 batches of 2, more than a worker keeps blocks for."""
    return write_shards([frame(i) for i in range(48)], maxcount=6, name="many")


def loader(pattern: str, **options: Any) -> Any:
    source = atdata.Dataset[Frame](pattern).to_torch(batch_size=2, tensors=True)
    options.setdefault("timeout", 120 if options.get("num_workers") else 0)  # torch: none without workers
    return torch.utils.data.DataLoader(source, batch_size=None, **options)


def expected_image(i: int) -> Any:
    return torch.arange(6, dtype=torch.float32).reshape(2, 3) + i


def test_tensors_the_user_holds_keep_their_values_while_later_batches_arrive(many: str) -> None:
    held = []
    for n, batch in enumerate(loader(many, num_workers=2)):
        if n % 3 == 0:
            held.append((batch["index"].clone(), batch["image"][1]))  # a view: the batch itself is dropped
    assert len(held) == BATCHES // 3
    for index, image in held:
        assert torch.equal(image, expected_image(int(index[1])))


def test_memory_of_released_batches_is_used_again(many: str) -> None:
    places = set()
    seen = []
    for batch in loader(many, num_workers=2):
        places.add(batch["image"].data_ptr())
        seen += batch["index"].tolist()
        assert all(
            torch.equal(image, expected_image(int(i))) for i, image in zip(batch["index"], batch["image"])
        )
    assert sorted(seen) == list(range(48))
    assert len(places) < BATCHES


def test_a_forked_childs_copy_of_a_batch_keeps_its_values_after_the_parent_drops_it(many: str) -> None:
    # The child shares the batch's memory: the parent releasing it must not let a worker reuse it.
    batches = iter(loader(many, num_workers=1, persistent_workers=True))
    first = next(batches)
    indices = first["index"].tolist()
    go, wait = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(wait)
        os.read(go, 1)  # until the parent has read every other batch
        images = [expected_image(i) for i in indices]
        intact = first["index"].tolist() == indices and all(map(torch.equal, first["image"], images))
        os._exit(0 if intact else 1)
    os.close(go)
    del first
    assert len(list(batches)) == BATCHES - 1
    os.write(wait, b"x")
    os.close(wait)
    assert os.waitpid(child, 0)[1] == 0


def test_a_forked_child_dropping_its_copy_of_a_batch_leaves_the_parents_intact(many: str) -> None:
    # Only the main process releases a block: a child's copy going must not let the worker reuse it.
    batches = iter(loader(many, num_workers=1, persistent_workers=True))
    first = next(batches)
    indices = first["index"].tolist()
    child = os.fork()
    if child == 0:
        del first
        gc.collect()
        os._exit(0)
    assert os.waitpid(child, 0)[1] == 0
    assert len(list(batches)) == BATCHES - 1  # the worker writes every later batch somewhere
    assert first["index"].tolist() == indices
    assert all(map(torch.equal, first["image"], [expected_image(i) for i in indices]))


def test_batches_from_spawned_workers_arrive_with_every_value(many: str) -> None:
    batches = list(loader(many, num_workers=2, multiprocessing_context="spawn"))
    assert sorted(i for b in batches for i in b["index"].tolist()) == list(range(48))
    for b in batches:
        assert all(torch.equal(image, expected_image(int(i))) for i, image in zip(b["index"], b["image"]))
        assert b["label"] == [f"frame-{int(i)}" for i in b["index"]]


def test_fields_a_collate_fn_changes_in_the_worker_arrive_changed(many: str) -> None:
    batches = list(loader(many, num_workers=2, collate_fn=_double_image_add_note))
    assert sorted(i for b in batches for i in b["index"].tolist()) == list(range(48))
    for b in batches:
        assert all(torch.equal(image, 2 * expected_image(int(i))) for i, image in zip(b["index"], b["image"]))
        assert b["note"] == "doubled"


def _double_image_add_note(batch: dict[str, Any]) -> dict[str, Any]:
    batch["image"] = batch["image"] * 2
    batch["note"] = "doubled"
    return batch


def test_iterating_again_with_new_workers_leaves_no_descriptors_behind(many: str) -> None:
    # Each epoch's workers are new; the main process lets go of the last ones' blocks and pipes.
    # (How many blocks the current workers made depends on timing: those are counted apart.)
    batches = loader(many, num_workers=2)
    others, blocks = [], []
    for _ in range(5):
        assert sum(1 for _ in batches) == BATCHES
        gc.collect()  # torch's finished iterators, whose queues hold pipes, may sit in reference cycles
        other, mapped = _descriptors()
        others.append(other)
        blocks.append(mapped)
    assert others[-1] <= others[1]
    assert blocks[1] and blocks[-1] and blocks[1].isdisjoint(blocks[-1])


def _descriptors() -> tuple[int, set[int]]:
    """This process's open descriptors other than shared blocks, and the inodes of the blocks."""
    other, mapped = 0, set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            inode = os.stat(f"/proc/self/fd/{fd}").st_ino
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith("/memfd:atdata-batch-"):
            mapped.add(inode)
        else:
            other += 1
    return other, mapped


def test_a_worker_that_cannot_make_shared_memory_says_so_in_the_main_process(many: str) -> None:
    with pytest.raises(DatasetError, match=r"could not make .* bytes of shared memory for a batch"):
        list(loader(many, num_workers=1, worker_init_fn=_no_files_over_4_kb))


def _no_files_over_4_kb(worker: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))


def test_plain_columns_arrive_as_a_loader_without_workers_gives_them(many: str) -> None:
    # Strings and JSON dicts cross as one marshal string: the same values, of the same exact types.
    expected = {int(b["index"][0]): b for b in loader(many)}
    got = {int(b["index"][0]): b for b in loader(many, num_workers=2)}
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        batch = got[key]
        assert list(batch) == list(want)
        assert type(batch["label"]) is list and batch["label"] == want["label"]
        assert all(type(x) is str for x in batch["label"])
        for have, meant in zip(batch["metadata"], want["metadata"]):
            assert type(have) is dict and list(have.items()) == list(meant.items())
            assert [type(v) for v in have.values()] == [int, bool]
        assert torch.equal(batch["image"], want["image"]) and batch["image"].dtype == want["image"].dtype


@pytest.mark.parametrize(
    "values",
    [
        ["text", 1, 2.5, True, None, [1, "a", None], {"k": {"n": [False, 0.0]}}],
        [],
    ],
    ids=["plain", "none"],
)
def test_plain_values_are_carried_in_one_marshal_string(values: list[Any]) -> None:
    carried = handoff._carried(values)
    assert isinstance(carried, bytes)
    back = marshal.loads(carried)
    assert back == tuple(values) and [type(v) for v in back] == [type(v) for v in values]


class _Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [b"bytes", (1, 2), _Text("a str subclass"), {1: "int key"}, [bytearray(b"x")], torch.tensor(1), 1j],
    ids=["bytes", "tuple", "str-subclass", "int-key", "bytearray", "tensor", "complex"],
)
def test_values_marshal_would_change_are_pickled_as_they_are(value: Any) -> None:
    carried = handoff._carried(["plain", value])
    assert isinstance(carried, tuple) and carried[1] is value


def test_a_list_holding_itself_is_pickled() -> None:
    looped: list[Any] = []
    looped.append(looped)
    carried = handoff._carried([looped])
    assert isinstance(carried, tuple) and carried[0] is looped


def _shipment() -> tuple[Any, tuple[Any, ...]]:
    """A real shipment of a batch packed in this process (its worker side and main side are one)."""
    batch = handoff.pack({"image": torch.ones(2, 3), "label": ["a", "b"], "meta": [{"i": 1}, {"i": 2}]})
    receive, args = handoff.Sealed(batch).__reduce__()
    return receive, args


def test_a_shipment_received_in_the_same_process_holds_every_value() -> None:
    receive, args = _shipment()
    got = receive(*args)
    assert torch.equal(got["image"], torch.ones(2, 3))
    assert got["label"] == ["a", "b"] and got["meta"] == [{"i": 1}, {"i": 2}]


@pytest.mark.parametrize(
    ("index", "forged", "message"),
    [
        (8, ("only one",), "layout names 2 other values but which carries 1"),
        (8, b"\x00not marshal", "values this process cannot read"),
        (7, '[["image","float32",[2,3],-64],"label","meta"]', "cannot read"),
        (7, '[["image","no_such_dtype",[2,3],0],"label","meta"]', "cannot read"),
        (7, "{not json", "batch layout this process cannot read"),
        (7, '[["image","float32",[4096,4096],0],"label","meta"]', "bytes in shared block"),
    ],
    ids=["too-few-values", "not-marshal", "negative-offset", "unknown-dtype", "not-json", "past-the-block"],
)
def test_a_shipment_whose_layout_or_values_do_not_fit_is_refused(
    index: int, forged: Any, message: str
) -> None:
    receive, args = _shipment()
    forged_args = list(args)
    forged_args[index] = forged
    with pytest.raises(DatasetError, match=message):
        receive(*forged_args)
