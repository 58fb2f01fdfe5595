"""Reading (and, for tests and replays, building) ATProto Merkle Search Trees.

A node is ``{"l": link|None, "e": [{"p": prefix_len, "k": key_suffix, "v": value_link, "t": link|None}]}``;
keys are ``<collection>/<rkey>`` and sort bytewise. A key's layer is the number of leading zero 2-bit
chunks of its sha-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import libipld

from atdata.errors import AtdataError
from atdata_appview.ingest.car import cid_of

GetBlock = Callable[[bytes], bytes]  # binary CID -> block bytes; KeyError when absent


class MissingBlock(AtdataError, KeyError):
    """A node the walk needs is not among the blocks at hand."""


class MalformedNode(AtdataError, ValueError):
    """A block is not an MST node."""


# More nodes than any repository a PDS would serve (each holds many keys); bounds a hostile walk.
MAX_NODES = 10_000_000


def _node(get: GetBlock, cid: bytes) -> tuple[bytes | None, list[tuple[bytes, bytes, bytes | None]]]:
    """(left link, [(full key, value link, right link)]) of the node at ``cid``."""
    try:
        raw = get(cid)
    except KeyError:
        raise MissingBlock(cid) from None
    try:
        node: Any = libipld.decode_dag_cbor(raw)
        left = node.get("l")
        entries = []
        prev = b""
        for e in node["e"]:
            key = prev[: e["p"]] + e["k"]
            value, right = e["v"], e.get("t")
            if type(key) is not bytes or type(value) is not bytes:
                raise TypeError("keys and values must be bytes")
            if not (right is None or type(right) is bytes):
                raise TypeError("subtree links must be links or null")
            entries.append((key, value, right))
            prev = key
        if not (left is None or type(left) is bytes):
            raise TypeError("subtree links must be links or null")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise MalformedNode(f"not an MST node: {e}") from None
    return left, entries


def walk(get: GetBlock, root: bytes, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """Yield ``(key, value CID)`` in key order for keys starting with ``prefix``, visiting only the
    subtrees that can hold such keys. Iterative: a hostile tree may be thousands of nodes deep."""
    lo = prefix.encode()
    hi = lo + b"\xff"  # keys are ASCII, so every key with the prefix sorts below this
    # The stack holds what is left to do, last first: a node to expand, or a key to yield.
    stack: list[tuple[bytes, bytes | None]] = [(root, None)]
    seen = 0
    while stack:
        cid, value = stack.pop()
        if value is not None:
            yield _key(cid), value
            continue
        seen += 1
        if seen > MAX_NODES:
            raise MalformedNode(f"the tree has more than {MAX_NODES} nodes")
        left, entries = _node(get, cid)
        todo: list[tuple[bytes, bytes | None]] = []
        below = left
        for key, val, right in entries:
            # `below` holds keys smaller than `key` (and larger than the previous entry's key).
            if below is not None and key > lo:
                todo.append((below, None))
            below = None
            if key >= hi:
                break
            if key.startswith(lo):
                todo.append((key, val))
            below = right
        if below is not None:
            todo.append((below, None))
        stack.extend(reversed(todo))


def _key(raw: bytes) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedNode(f"MST key {raw[:80]!r} is not ASCII") from None


def lookup(get: GetBlock, root: bytes, key: str, *, visited: list[bytes] | None = None) -> bytes | None:
    """The value CID stored under ``key``, or None if the tree does not hold it. ``visited``, when
    given, collects the nodes read: the proof of the answer a commit must carry."""
    target = key.encode()
    cid: bytes | None = root
    depth = 0
    while cid is not None:
        if visited is not None:
            visited.append(cid)
        depth += 1
        if depth > 1000:  # 4**1000 keys: no honest tree is this deep
            raise MalformedNode("the tree is more than 1000 levels deep")
        left, entries = _node(get, cid)
        below = left
        for k, value, right in entries:
            if target == k:
                return value
            if target < k:
                break
            below = right
        cid = below
    return None


def layer_of(key: str) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    zeros = 0
    for byte in digest:
        for shift in (6, 4, 2, 0):
            if (byte >> shift) & 0b11:
                return zeros
            zeros += 1
    return zeros


def build(items: dict[str, bytes], blocks: dict[bytes, bytes]) -> bytes:
    """Build the MST holding ``items`` (key -> value CID), add its nodes to ``blocks``, return the root."""
    entries = sorted((k.encode(), v, layer_of(k)) for k, v in items.items())
    top = max((layer for _, _, layer in entries), default=0)

    def node(group: list[tuple[bytes, bytes, int]], layer: int) -> bytes | None:
        if not group:
            return None
        left: bytes | None = None
        out: list[dict[str, Any]] = []
        pending: list[tuple[bytes, bytes, int]] = []
        prev = b""
        for key, value, key_layer in group:
            if key_layer < layer:
                pending.append((key, value, key_layer))
                continue
            sub = node(pending, layer - 1)
            pending = []
            if out:
                out[-1]["t"] = sub
            else:
                left = sub
            shared = 0
            while shared < min(len(prev), len(key)) and prev[shared] == key[shared]:
                shared += 1
            out.append({"k": key[shared:], "p": shared, "t": None, "v": value})
            prev = key
        sub = node(pending, layer - 1)
        if out:
            out[-1]["t"] = sub
        else:
            left = sub
        block = libipld.encode_dag_cbor({"e": out, "l": left})
        cid = cid_of(block)
        blocks[cid] = block
        return cid

    root = node(entries, top)
    if root is None:  # the empty repository is one empty node
        block = libipld.encode_dag_cbor({"e": [], "l": None})
        root = cid_of(block)
        blocks[root] = block
    return root
