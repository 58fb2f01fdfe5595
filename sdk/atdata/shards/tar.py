"""A streaming tar reader, the WebDataset samples it groups members into, and the member headers
the writer emits.

Python's ``tarfile`` builds a TarInfo object per member and caps near 27k members/s here; this walker
parses only what a shard needs (name, size, type) from each 512-byte header, follows pax and GNU
long-name records, and hands out member bodies as slices of what the reader returned. A shard in
memory (mapped) is walked by offsets, grouping members into samples in the same loop: per sample,
that loop is most of what reading costs besides decoding.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator, Iterator
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


# name, size, type flag, magic, and the ustar prefix's first byte (the prefix at byte 345 is rarely
# set: read whole only then)
_FIELDS = struct.Struct("100s24x12s20xc100x5s83xc")
_PREFIX = 345
_SIZES_KEPT = 256  # size fields remembered per walk (samples of one type mostly share a few sizes)


class _Pending:
    """Names and sizes that pax and GNU long-name records set for the next regular member."""

    __slots__ = ("any", "long_name", "pax")

    def __init__(self) -> None:
        self.any = False
        self.long_name: str | None = None
        self.pax: dict[str, str] = {}

    def size(self, size: int, url: str, offset: int) -> int:
        if "size" not in self.pax:
            return size
        try:
            return int(self.pax["size"])
        except ValueError:
            raise ShardError(f"corrupt pax size at byte {offset}", url=url) from None

    def name(self, raw_name: bytes, header: Any, magic: bytes) -> str:
        """The name of a regular member, consuming what is pending."""
        if self.long_name is not None:
            name = self.long_name
        elif "path" in self.pax:
            name = self.pax["path"]
        else:
            name = _name(raw_name)
            if header[_PREFIX] != 0 and magic == b"ustar":
                name = _name(bytes(header[_PREFIX : _PREFIX + 155])) + "/" + name
        self.any, self.long_name, self.pax = False, None, {}
        return name

    def record(self, kind: bytes, body: Any, size: int, url: str, offset: int) -> None:
        """Take in a member that is not a regular file."""
        if kind == _PAX:
            self.pax = _pax_records(bytes(body[:size]), url, offset)
        elif kind == _GNU_LONGNAME:
            self.long_name = _name(bytes(body[:size]))
        elif kind not in _KEEP_PENDING:  # directories, links: nothing to read, pending names dropped
            self.long_name, self.pax = None, {}
        self.any = self.long_name is not None or bool(self.pax)


def _size(raw_size: bytes, url: str, offset: int) -> int:
    try:
        return int(raw_size[:11], 8)
    except ValueError:
        return _octal(raw_size, "size", url, offset)


def members(
    source: Callable[[int], Any] | memoryview | bytes, url: str, *, check_headers: bool = False
) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, body)`` for each regular file in a tar archive, in order.

    ``source`` is the whole archive in memory (a mapped file: bodies are slices of it), or a
    ``read(n)`` that returns exactly n bytes unless the stream ends. An archive that ends before the
    end-of-archive blocks, or inside a header or body, raises :class:`ShardError` (truncated).
    Every header's magic is checked, and its checksum for the first header, for headers without
    the ustar magic, and for all of them with ``check_headers``: summing 512 bytes costs more than
    the rest of the parsing, a header whose size is corrupt misaligns the next one (caught by its
    magic), and shard contents are covered by the sidecar's sha-256.
    """
    if callable(source):
        return _streamed(source, url, check_headers)
    return _in_memory(memoryview(source), url, check_headers, None)


def samples(
    source: Callable[[int], Any] | memoryview | bytes, url: str, extension: str
) -> Generator[tuple[str, Any], None, int]:
    """Yield ``(key, body)`` per WebDataset sample of a tar archive; return how many there were.

    A sample is the consecutive members sharing a key (the name up to the first dot of its last
    path part); ``body`` is its member named ``<key>.<extension>``, or None when it has none (two
    such members under one key give two samples). ``source`` and the checks are as for
    :func:`members`.
    """
    if callable(source):
        return _grouped(_streamed(source, url, False), extension)
    return _in_memory(memoryview(source), url, False, extension)


def split_key(name: str) -> tuple[str, str]:
    """``(key, extension)`` of a member name: split at the first dot of its last path part."""
    dot = name.find(".", name.rfind("/") + 1)
    return (name, "") if dot < 0 else (name[:dot], name[dot + 1 :])


def _grouped(named: Iterator[tuple[str, Any]], extension: str) -> Generator[tuple[str, Any], None, int]:
    count = 0
    key: str | None = None
    body: Any = None
    for name, data in named:
        k, ext = split_key(name)
        if k != key:
            if key is not None:
                count += 1
                yield key, body
            key, body = k, None
        if ext == extension:
            if body is not None:
                count += 1
                yield key, body
            body = data
    if key is not None:
        count += 1
        yield key, body
    return count


def _streamed(read: Callable[[int], Any], url: str, check_headers: bool) -> Iterator[tuple[str, Any]]:
    offset = 0
    pending = _Pending()
    unpack = _FIELDS.unpack_from
    while True:
        header = read(BLOCK)
        if len(header) < BLOCK:
            if len(header) == 0:
                raise ShardError(
                    f"truncated tar: ends at byte {offset} without the end-of-archive marker", url=url
                )
            raise ShardError(f"truncated tar: ends inside the header at byte {offset}", url=url)
        raw_name, raw_size, kind, magic, prefix = unpack(header)
        if raw_name[0] == 0 and header == _ZERO:
            return
        if check_headers or offset == 0 or magic != b"ustar":
            _check_sum(header, url, offset)
        size = _size(raw_size, url, offset)
        if pending.any:
            size = pending.size(size, url, offset)
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
            if pending.any or prefix != b"\0":
                name = pending.name(raw_name, header, magic)
            else:
                end = raw_name.find(0)
                name = (raw_name if end < 0 else raw_name[:end]).decode("utf-8", "surrogateescape")
            yield name, body[:size] if size != padded else body
        else:
            pending.record(kind, body, size, url, start)


def _in_memory(
    buf: memoryview, url: str, check_headers: bool, extension: str | None
) -> Generator[tuple[str, Any], None, int]:
    # The same walk as _streamed, by offsets into one buffer: no read call or header copy per member.
    # With an extension, members are grouped into samples in this loop, by the same rule as
    # _grouped (kept in step with it; tests run both on the same archives): a generator between
    # walking and grouping cost as much as the grouping itself.
    total = len(buf)
    pos = 0
    pending = _Pending()
    unpack = _FIELDS.unpack_from
    sizes: dict[bytes, tuple[int, int]] = {}  # size field -> (size, size padded to blocks)
    suffix = "." + extension if extension is not None else ""
    cut = -len(suffix)
    count = 0
    key: str | None = None
    body: Any = None
    while True:
        if total - pos < BLOCK:
            if total == pos:
                raise ShardError(
                    f"truncated tar: ends at byte {pos} without the end-of-archive marker", url=url
                )
            raise ShardError(f"truncated tar: ends inside the header at byte {pos}", url=url)
        raw_name, raw_size, kind, magic, prefix = unpack(buf, pos)
        if raw_name[0] == 0 and buf[pos : pos + BLOCK] == _ZERO:
            break
        if check_headers or pos == 0 or magic != b"ustar":
            _check_sum(buf[pos : pos + BLOCK], url, pos)
        known = sizes.get(raw_size)
        if known is None:
            size = _size(raw_size, url, pos)
            known = (size, (size + BLOCK - 1) & ~(BLOCK - 1))
            if len(sizes) < _SIZES_KEPT:
                sizes[raw_size] = known
        size, padded = known
        if pending.any:
            size = pending.size(size, url, pos)
            padded = (size + BLOCK - 1) & ~(BLOCK - 1)
        start = pos + BLOCK
        end = start + padded
        if end > total:
            after = total - start
            raise ShardError(
                f"truncated tar: member at byte {pos} needs {size} bytes, the file ends after {after}",
                url=url,
            )
        if kind not in _REGULAR:
            pending.record(kind, buf[start:end], size, url, pos)
            pos = end
            continue
        if pending.any or prefix != b"\0":
            name = pending.name(raw_name, buf[pos : pos + BLOCK], magic)
        else:
            nul = raw_name.find(0)
            name = (raw_name if nul < 0 else raw_name[:nul]).decode("utf-8", "surrogateescape")
        data = buf[start : start + size]
        pos = end
        if extension is None:
            yield name, data
            continue
        if name.endswith(suffix) and "." not in (k := name[:cut]):
            ext = extension  # "<key>.<extension>", as ShardWriter names members: one test, no search
        else:
            k, ext = split_key(name)
        if k != key:
            if key is not None:
                count += 1
                yield key, body
            key, body = k, None
        if ext == extension:
            if body is not None:
                count += 1
                yield key, body
            body = data
    if key is not None:
        count += 1
        yield key, body
    return count


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
