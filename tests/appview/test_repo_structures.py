"""CAR reading, Merkle Search Trees and DAG-CBOR -> JSON: the repository formats the ingest reads."""

from __future__ import annotations

import hashlib

import libipld
import pytest

from atdata_appview.ingest import mst
from atdata_appview.ingest.atproto_json import to_json
from atdata_appview.ingest.car import CarError, cid_of, cid_str, read_car, supported_cid, write_car


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


def _section(cid: bytes, block: bytes) -> bytes:
    return bytes([len(cid) + len(block)]) + cid + block


@pytest.mark.parametrize(
    ("cid_prefix", "says"),
    [
        (bytes((1, 0x70, 0x12, 32)), "unsupported codec 0x70"),  # dag-pb
        (bytes((1, 0x71, 0x13, 32)), "unsupported multihash 0x13/32"),  # sha2-512 code, 32 bytes
        (bytes((1, 0x71, 0x12, 31)), "unsupported multihash 0x12/31"),
        (bytes((0, 0x71, 0x12, 32)), "unsupported CID version 0"),
    ],
)
def test_car_blocks_with_cids_we_cannot_check_are_refused_by_name(cid_prefix: bytes, says: str) -> None:
    block = libipld.encode_dag_cbor({"hello": "world"})
    root = cid_of(block)
    car = write_car(root, {root: block})
    odd = cid_prefix + hashlib.sha256(b"x").digest()[: cid_prefix[3]]
    with pytest.raises(CarError, match=says):
        read_car(car + _section(odd, b"x"))


def test_a_car_section_running_past_the_end_is_refused() -> None:
    block = libipld.encode_dag_cbor({"hello": "world"})
    root = cid_of(block)
    car = write_car(root, {root: block})
    with pytest.raises(CarError, match="truncated CAR block"):
        read_car(car[:-1])


def test_an_empty_block_hashes_like_any_other() -> None:
    empty = cid_of(b"", codec=0x55)
    assert read_car(write_car(empty, {empty: b""})).blocks == {empty: b""}
    with pytest.raises(CarError, match="does not hash"):
        read_car(write_car(empty, {empty: b"x"}))


def test_only_cidv1_sha256_links_are_supported_for_checking() -> None:
    good = cid_of(b"x")
    assert supported_cid(good) == good
    v0 = bytes((0x12, 32)) + bytes(32)
    with pytest.raises(CarError, match="unsupported CID Qm"):
        supported_cid(v0)
    with pytest.raises(CarError, match="is not a CID"):
        supported_cid(b"\x01\x71junk")


def test_an_mst_node_whose_subtree_link_is_not_a_link_is_malformed() -> None:
    node = libipld.encode_dag_cbor({"l": ["not", "a", "link"], "e": []})
    root = cid_of(node)
    with pytest.raises(mst.MalformedNode, match="subtree links"):
        mst.lookup({root: node}.__getitem__, root, "dev.atdata.schema/S1")


def test_car_sections_of_every_length_encoding_round_trip() -> None:
    # Section lengths of one, two and three varint bytes (under 128, under 16 KiB, above).
    blocks = {}
    for size in (10, 91, 92, 200, 16_347, 16_348, 40_000):
        block = libipld.encode_dag_cbor({"pad": b"x" * size})
        blocks[cid_of(block)] = block
    root = next(iter(blocks))
    assert read_car(write_car(root, blocks)).blocks == blocks
