"""A minimal repository writer for tests and benchmarks: signed commits, repo exports and firehose frames.

The appview only reads repositories; this writes them so that replays (benchmarks) and tests can
produce exactly the bytes a PDS would, including ones a PDS never would (wrong keys, broken blocks).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import libipld
from atproto_crypto.consts import P256_CURVE_ORDER, P256_JWT_ALG, SECP256K1_CURVE_ORDER, SECP256K1_JWT_ALG
from atproto_crypto.did import format_did_key, format_multikey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from atdata.lexicon.formats import datetime_text
from atdata_appview.ingest import mst
from atdata_appview.ingest.car import cid_of, write_car

_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_clock = itertools.count(int(time.time() * 1_000_000))


def next_tid() -> str:
    """A fresh, strictly increasing TID (microsecond timestamp, base32-sortable)."""
    n = next(_clock) << 10
    return "".join(_TID_CHARS[(n >> (5 * i)) & 31] for i in range(12, -1, -1))


class SigningKey:
    """An ECDSA key on secp256k1 (``k256``) or P-256 (``p256``), signing the ATProto way."""

    def __init__(self, curve: str = "k256") -> None:
        if curve == "k256":
            self._key = ec.generate_private_key(ec.SECP256K1())
            self._alg, self._order = SECP256K1_JWT_ALG, SECP256K1_CURVE_ORDER
        elif curve == "p256":
            self._key = ec.generate_private_key(ec.SECP256R1())
            self._alg, self._order = P256_JWT_ALG, P256_CURVE_ORDER
        else:
            raise ValueError(f"unknown curve {curve!r} (k256 or p256)")
        point = self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.did_key = format_did_key(self._alg, point)
        self.multikey = format_multikey(self._alg, point)

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(SHA256())))
        if s > self._order // 2:
            s = self._order - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def did_document(did: str, key: SigningKey, handle: str | None, pds: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{handle}"] if handle else [],
        "verificationMethod": [
            {
                "id": f"{did}#atproto",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": key.multikey,
            }
        ],
        "service": [],
    }
    if pds:
        doc["service"].append(
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
        )
    return doc


@dataclass(frozen=True)
class Commit:
    cid: bytes
    rev: str
    since: str | None
    car: bytes  # the commit, the tree nodes it adds and the records written: a PDS's diff
    ops: list[dict[str, Any]]


@dataclass
class RepoWriter:
    did: str
    key: SigningKey
    records: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # path -> (cid, block)
    rev: str | None = None
    head: bytes | None = None
    tree_nodes: set[bytes] = field(default_factory=set)  # the current tree's node CIDs

    def commit(self, writes: list[tuple[str, str, Any]], *, sign_with: SigningKey | None = None) -> Commit:
        """Apply ``(action, path, record)`` writes and sign a commit (with another key if asked)."""
        new_blocks: dict[bytes, bytes] = {}
        ops: list[dict[str, Any]] = []
        for action, path, value in writes:
            prev = self.records.get(path)
            if action == "delete":
                self.records.pop(path, None)
                ops.append({"action": "delete", "path": path, "cid": None, "prev": prev[0] if prev else None})
                continue
            block = libipld.encode_dag_cbor(value)
            cid = cid_of(block)
            self.records[path] = (cid, block)
            new_blocks[cid] = block
            op: dict[str, Any] = {"action": action, "path": path, "cid": cid}
            if prev:
                op["prev"] = prev[0]
            ops.append(op)
        tree: dict[bytes, bytes] = {}
        root = mst.build({p: c for p, (c, _) in self.records.items()}, tree)
        since, self.rev = self.rev, next_tid()
        unsigned = {"did": self.did, "version": 3, "data": root, "rev": self.rev, "prev": None}
        sig = (sign_with or self.key).sign(libipld.encode_dag_cbor(unsigned))
        commit_block = libipld.encode_dag_cbor({**unsigned, "sig": sig})
        self.head = cid_of(commit_block)
        # Like a PDS, send what the previous state lacks (the commit, new tree nodes, new records) and
        # the nodes proving each delete: the path to where the key would be in the new tree.
        new_nodes = {cid: block for cid, block in tree.items() if cid not in self.tree_nodes}
        for op in ops:
            if op["action"] == "delete":
                proof: list[bytes] = []
                mst.lookup(tree.__getitem__, root, op["path"], visited=proof)
                new_nodes.update((cid, tree[cid]) for cid in proof)
        self.tree_nodes = set(tree)
        blocks = {self.head: commit_block, **new_nodes, **new_blocks}
        return Commit(self.head, self.rev, since, write_car(self.head, blocks), ops)

    def export(self) -> bytes:
        """The whole repository as ``com.atproto.sync.getRepo`` returns it (requires one commit)."""
        assert self.head is not None and self.rev is not None
        tree: dict[bytes, bytes] = {}
        root = mst.build({p: c for p, (c, _) in self.records.items()}, tree)
        unsigned = {"did": self.did, "version": 3, "data": root, "rev": self.rev, "prev": None}
        commit_block = libipld.encode_dag_cbor(
            {**unsigned, "sig": self.key.sign(libipld.encode_dag_cbor(unsigned))}
        )
        head = cid_of(commit_block)
        records = {cid: block for cid, block in self.records.values()}
        return write_car(head, {head: commit_block, **tree, **records})


def _frame(kind: str, body: dict[str, Any]) -> bytes:
    return libipld.encode_dag_cbor({"op": 1, "t": kind}) + libipld.encode_dag_cbor(body)


def commit_frame(seq: int, did: str, commit: Commit) -> bytes:
    return _frame(
        "#commit",
        {
            "seq": seq,
            "rebase": False,
            "tooBig": False,
            "repo": did,
            "commit": commit.cid,
            "rev": commit.rev,
            "since": commit.since,
            "blocks": commit.car,
            "ops": commit.ops,
            "blobs": [],
            "time": datetime_text(),
        },
    )


def identity_frame(seq: int, did: str, handle: str | None = None) -> bytes:
    body: dict[str, Any] = {"seq": seq, "did": did, "time": datetime_text()}
    if handle:
        body["handle"] = handle
    return _frame("#identity", body)


def sync_frame(seq: int, writer: RepoWriter) -> bytes:
    """A #sync event: the repo's current signed commit, telling consumers to take its state as is."""
    assert writer.head is not None and writer.rev is not None
    commit_block = writer.export()  # a superset of the lone commit block a PDS sends
    return _frame(
        "#sync",
        {"seq": seq, "did": writer.did, "rev": writer.rev, "blocks": commit_block, "time": datetime_text()},
    )


def account_frame(seq: int, did: str, active: bool, status: str | None = None) -> bytes:
    body: dict[str, Any] = {"seq": seq, "did": did, "time": datetime_text(), "active": active}
    if status:
        body["status"] = status
    return _frame("#account", body)


__all__ = [
    "Commit",
    "RepoWriter",
    "SigningKey",
    "account_frame",
    "commit_frame",
    "did_document",
    "identity_frame",
    "next_tid",
    "sync_frame",
]
