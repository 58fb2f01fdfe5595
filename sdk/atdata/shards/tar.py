"""A streaming tar reader and the member headers the writer emits.

Python's ``tarfile`` builds a TarInfo object per member and caps near 27k members/s here; this walker
parses only what a shard needs (name, size, type) from each 512-byte header, follows pax and GNU
long-name records, and hands out member bodies as slices of what the reader returned.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from atdata.errors import ShardError

BLOCK = 512
_ZERO = bytes(BLOCK)
_REGULAR = (b"0", b"\0", b"7")  # '7' is a contiguous file
_PAX, _GNU_LONGNAME = b"x", b"L"
_KEEP_PENDING = (b"g", b"K")  # global pax headers and GNU long link names


def _octal(field: Any, what: str, url: str, offset: int) -> int:
    raw = bytes(field)
    if raw[0] & 0x80:  # GNU base-256 for values too large for octal
        return int.from_bytes(raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise ShardError(
            f"not a tar file or corrupt tar header at byte {offset}: bad {what} field {raw!r}", url=url
        ) from None


def _check_sum(header: Any, url: str, offset: int) -> None:
    raw = bytes(header)
    stored = _octal(raw[148:156], "checksum", url, offset)
    unsigned = sum(raw[:148]) + 256 + sum(raw[156:])
    if stored != unsigned:
        signed = unsigned - 2 * sum(b for b in raw[:148] + raw[156:] if b > 127)
        if stored != signed:
            raise ShardError(f"tar header checksum mismatch at byte {offset} (corrupt shard)", url=url)


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_records(data: bytes, url: str, offset: int) -> dict[str, str]:
    """The ``length key=value\n`` records of a pax extended header."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        if length <= space - pos:
            raise ShardError(f"corrupt pax header at byte {offset}", url=url)
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        out[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


# name, size, type flag, magic (the ustar prefix at byte 345 is rarely set: read only then)
_FIELDS = struct.Struct("100s24x12s20xc100x5s")
_PREFIX = 345


def members(
    read: Callable[[int], Any], url: str, *, check_headers: bool = False
) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, body)`` for each regular file in a tar stream, in order.

    ``read(n)`` must return exactly n bytes unless the stream ends. A stream that ends before the
    end-of-archive blocks, or inside a header or body, raises :class:`ShardError` (truncated).
    Every header's magic is checked, and its checksum for the first header, for headers without
    the ustar magic, and for all of them with ``check_headers``: summing 512 bytes costs more than
    the rest of the parsing, a header whose size is corrupt misaligns the next one (caught by its
    magic), and shard contents are covered by the sidecar's sha-256.
    """
    offset = 0
    long_name: str | None = None
    pax: dict[str, str] = {}
    unpack = _FIELDS.unpack_from
    while True:
        header = read(BLOCK)
        if len(header) < BLOCK:
            if len(header) == 0:
                raise ShardError(
                    f"truncated tar: ends at byte {offset} without the end-of-archive marker", url=url
                )
            raise ShardError(f"truncated tar: ends inside the header at byte {offset}", url=url)
        raw_name, raw_size, kind, magic = unpack(header)
        if raw_name[0] == 0 and header == _ZERO:
            return
        if check_headers or offset == 0 or magic != b"ustar":
            _check_sum(header, url, offset)
        try:
            size = int(raw_size[:11], 8)
        except ValueError:
            size = _octal(raw_size, "size", url, offset)
        if pax and "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise ShardError(f"corrupt pax size at byte {offset}", url=url) from None
        padded = (size + BLOCK - 1) & ~(BLOCK - 1)
        body = read(padded) if padded else b""
        if len(body) < padded:
            raise ShardError(
                f"truncated tar: member at byte {offset} needs {size} bytes, the file ends after {len(body)}",
                url=url,
            )
        start = offset
        offset += BLOCK + padded
        if kind in _REGULAR:
            if long_name is not None:
                name = long_name
                long_name = None
            elif pax and "path" in pax:
                name = pax["path"]
            else:
                end = raw_name.find(0)
                name = (raw_name if end < 0 else raw_name[:end]).decode("utf-8", "surrogateescape")
                if header[_PREFIX] != 0 and magic == b"ustar":
                    name = _name(bytes(header[_PREFIX : _PREFIX + 155])) + "/" + name
            if pax:
                pax = {}
            yield name, body[:size] if size != padded else body
        elif kind == _PAX:
            pax = _pax_records(bytes(body[:size]), url, start)
        elif kind == _GNU_LONGNAME:
            long_name = _name(bytes(body[:size]))
        elif kind not in _KEEP_PENDING:  # directories, links: nothing to read, pending names dropped
            long_name, pax = None, {}


def member_header(name: str, size: int) -> bytes:
    """A ustar header for a regular file, with fixed owner and time so shards are reproducible."""
    raw_name = name.encode("utf-8")
    if len(raw_name) > 100:
        raise ValueError(f"member name {name!r} is longer than 100 bytes")
    h = bytearray(BLOCK)
    h[0 : len(raw_name)] = raw_name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    if size < 8**11:
        h[124:136] = b"%011o\0" % size
    else:
        h[124:136] = b"\x80" + size.to_bytes(11, "big")
    h[136:148] = b"00000000000\0"
    h[148:156] = b"        "
    h[156] = 0x30
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


def end_of_archive() -> bytes:
    """The two zero blocks that end an archive.

    Not padded to tar's 10 KiB record size (readers do not need it) so that ``maxsize`` bounds
    the whole file.
    """
    return bytes(2 * BLOCK)
