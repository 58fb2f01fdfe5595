"""CAR reading, Merkle Search Trees and DAG-CBOR -> JSON: the repository formats the ingest reads."""

from __future__ import annotations

import libipld
import pytest

from atdata_appview.ingest import mst
from atdata_appview.ingest.atproto_json import to_json
from atdata_appview.ingest.car import CarError, cid_of, cid_str, read_car, write_car


@pytest.mark.parametrize(
    ("key", "layer"),
    [  # the interop vectors of the ATProto repository spec
        ("2653ae71", 0),
        ("88bfafc7", 2),
        ("2a92d355", 4),
        ("884976f5", 6),
        ("app.bsky.feed.post/454397e440ec", 4),
        ("app.bsky.feed.post/9adeb165882c", 8),
    ],
)
def test_key_layers_match_the_spec_vectors(key: str, layer: int) -> None:
    assert mst.layer_of(key) == layer


@pytest.fixture
def tree() -> tuple[dict[str, bytes], dict[bytes, bytes], bytes]:
    items = {f"dev.atdata.schema/S{i}": cid_of(b"s%d" % i) for i in range(150)}
    items |= {f"app.bsky.feed.post/{i:05d}": cid_of(b"p%d" % i) for i in range(300)}
    blocks: dict[bytes, bytes] = {}
    return items, blocks, mst.build(items, blocks)


def test_a_walk_yields_every_key_in_order(tree: tuple[dict[str, bytes], dict[bytes, bytes], bytes]) -> None:
    items, blocks, root = tree
    walked = list(mst.walk(blocks.__getitem__, root))
    assert walked == sorted(items.items())


def test_a_prefix_walk_visits_only_the_subtrees_that_can_hold_the_prefix(
    tree: tuple[dict[str, bytes], dict[bytes, bytes], bytes],
) -> None:
    items, blocks, root = tree
    visited: list[bytes] = []

    def get(cid: bytes) -> bytes:
        visited.append(cid)
        return blocks[cid]

    ours = dict(mst.walk(get, root, "dev.atdata."))
    assert ours == {k: v for k, v in items.items() if k.startswith("dev.atdata.")}
    assert len(visited) < len(blocks)


def test_lookup_finds_present_keys_and_proves_absent_ones(
    tree: tuple[dict[str, bytes], dict[bytes, bytes], bytes],
) -> None:
    items, blocks, root = tree
    assert all(mst.lookup(blocks.__getitem__, root, k) == v for k, v in items.items())
    assert mst.lookup(blocks.__getitem__, root, "dev.atdata.schema/Nope") is None


def test_lookup_without_the_nodes_on_the_path_says_so(
    tree: tuple[dict[str, bytes], dict[bytes, bytes], bytes],
) -> None:
    _, blocks, root = tree
    with pytest.raises(mst.MissingBlock):
        mst.lookup({root: blocks[root]}.__getitem__, root, "dev.atdata.schema/S7")


def test_a_car_round_trips_and_every_block_is_hashed() -> None:
    block = libipld.encode_dag_cbor({"hello": "world"})
    root = cid_of(block)
    car = read_car(write_car(root, {root: block}))
    assert car.roots == [root] and car.blocks == {root: block}
    with pytest.raises(CarError, match="does not hash to its CID"):
        read_car(write_car(root, {root: block.replace(b"world", b"wxrld")}))


@pytest.mark.parametrize("garbage", [b"", b"\x05abc", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"])
def test_malformed_cars_are_refused(garbage: bytes) -> None:
    with pytest.raises(CarError):
        read_car(garbage)


def test_bytes_and_links_take_their_json_forms() -> None:
    link = cid_of(b"x")
    value = libipld.decode_dag_cbor(libipld.encode_dag_cbor({"raw": b"\x00\x01", "ref": link, "n": [1, "a"]}))
    assert to_json(value) == {"raw": {"$bytes": "AAE"}, "ref": {"$link": cid_str(link)}, "n": [1, "a"]}
