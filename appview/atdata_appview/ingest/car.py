"""CAR v1 reading that keeps each block's bytes, so CIDs can be recomputed rather than trusted.

The ``atproto`` package's ``CAR.from_bytes`` hands back decoded blocks only; verifying a record against
its CID needs the exact bytes it was hashed from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import libipld

from atdata.errors import AtdataError

DAG_CBOR = 0x71
RAW = 0x55
SHA2_256 = 0x12


class CarError(AtdataError, ValueError):
    """The bytes are not a well-formed CAR, or a block does not hash to its CID."""


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise CarError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CarError("varint too long")


def cid_of(block: bytes, codec: int = DAG_CBOR) -> bytes:
    """The binary CIDv1 (sha2-256) of ``block``."""
    return bytes((1, codec, SHA2_256, 32)) + hashlib.sha256(block).digest()


def cid_str(cid: bytes) -> str:
    return str(libipld.encode_cid(cid))


def cid_bytes(cid: str) -> bytes:
    """The binary form of a CID string (as CAR sections and decoded DAG-CBOR links carry it)."""
    info = libipld.decode_cid(cid)
    mh = info["hash"]
    if info["version"] != 1 or mh["code"] != SHA2_256 or mh["size"] != 32:
        raise CarError(f"unsupported CID {cid}: only CIDv1 with sha2-256")
    return bytes((1, info["codec"], SHA2_256, 32)) + mh["digest"]


# The first four bytes of every CID a CAR block may have here: CIDv1, DAG-CBOR or raw, sha2-256 of
# 32 bytes. Each is followed by the digest alone.
_BLOCK_CID_PREFIXES = frozenset({bytes((1, DAG_CBOR, SHA2_256, 32)), bytes((1, RAW, SHA2_256, 32))})


def supported_cid(cid: bytes) -> bytes:
    """``cid`` (a binary CID, as a decoded DAG-CBOR link) if it is one a CAR block can be checked
    against (CIDv1, sha2-256), else :class:`CarError` naming it."""
    if len(cid) == 36 and cid[0] == 1 and cid[1] < 0x80 and cid[2:4] == b"\x12\x20":
        return cid
    try:
        shown = cid_str(cid)
    except ValueError:
        raise CarError(f"{cid[:64].hex()} is not a CID") from None
    raise CarError(f"unsupported CID {shown}: only CIDv1 with sha2-256")


@dataclass(frozen=True)
class Car:
    roots: list[bytes]
    blocks: dict[bytes, bytes]  # binary CID -> block bytes, every one checked against its CID

    def decode(self, cid: bytes) -> object:
        """The DAG-CBOR value of a block; KeyError if the CAR does not hold it."""
        return libipld.decode_dag_cbor(self.blocks[cid])


def read_car(data: bytes) -> Car:
    """Parse a CAR v1 and check that every block hashes to its CID (sha2-256, CIDv1 only)."""
    view = memoryview(data)
    header_len, pos = _varint(view, 0)
    if header_len == 0 or pos + header_len > len(data):
        raise CarError("truncated CAR header")
    try:
        header = libipld.decode_dag_cbor(bytes(view[pos : pos + header_len]))
    except ValueError as e:
        raise CarError(f"CAR header is not DAG-CBOR: {e}") from None
    if (
        not isinstance(header, dict)
        or header.get("version") != 1
        or not isinstance(header.get("roots"), list)
    ):
        raise CarError("CAR header must be {version: 1, roots: [...]}")
    roots = [r for r in header["roots"] if isinstance(r, bytes)]
    pos += header_len
    blocks: dict[bytes, bytes] = {}
    size = len(data)
    while pos < size:
        # Sections are mostly under 16 KiB: lengths of one or two bytes are read without a call.
        first = data[pos]
        if first < 0x80:
            section_len = first
            pos += 1
        elif pos + 1 < size and data[pos + 1] < 0x80:
            section_len = (first & 0x7F) | (data[pos + 1] << 7)
            pos += 2
        else:
            section_len, pos = _varint(data, pos)
        end = pos + section_len
        if end > size:
            raise CarError("truncated CAR block")
        if section_len >= 36 and data[pos : pos + 4] in _BLOCK_CID_PREFIXES:
            # The usual CID, read without decoding varints one byte at a time.
            cid = data[pos : pos + 36]
            block = data[pos + 36 : end]
            if hashlib.sha256(block).digest() != cid[4:]:
                raise CarError(f"block {cid_str(cid)} does not hash to its CID")
            blocks[cid] = block
            pos = end
            continue
        version, p = _varint(view, pos)
        if version != 1:
            raise CarError(f"unsupported CID version {version} in CAR block")
        codec, p = _varint(view, p)
        hash_code, p = _varint(view, p)
        hash_len, p = _varint(view, p)
        if hash_code != SHA2_256 or hash_len != 32:
            raise CarError(f"unsupported multihash 0x{hash_code:x}/{hash_len} in CAR block")
        cid = bytes(view[pos : p + hash_len])
        block = bytes(view[p + hash_len : end])
        if hashlib.sha256(block).digest() != cid[-32:]:
            raise CarError(f"block {cid_str(cid)} does not hash to its CID")
        if codec not in (DAG_CBOR, RAW):
            raise CarError(f"unsupported codec 0x{codec:x} in CAR block {cid_str(cid)}")
        blocks[cid] = block
        pos = end
    return Car(roots=roots, blocks=blocks)


def write_car(root: bytes, blocks: dict[bytes, bytes]) -> bytes:
    """Serialize blocks as a CAR v1 with one root (used to build repos and commits)."""
    out = bytearray()
    header = libipld.encode_dag_cbor({"version": 1, "roots": [root]})
    out += _encode_varint(len(header)) + header
    for cid, block in blocks.items():
        out += _encode_varint(len(cid) + len(block)) + cid + block
    return bytes(out)


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
