"""The streaming tar reader: the member formats it follows and the damage it reports."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from atdata.errors import ShardError
from atdata.shards.streams import MappedFile
from atdata.shards.tar import end_of_archive, member_header, members, padding, samples


def _tar(files: dict[str, bytes], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _reader(data: bytes):  # type: ignore[no-untyped-def]
    stream = io.BytesIO(data)
    return stream.read


def _walk(source: object, check_headers: bool) -> tuple[str, object]:
    try:
        return "read", [(n, bytes(b)) for n, b in members(source, "t.tar", check_headers=check_headers)]  # type: ignore[arg-type]
    except ShardError as e:
        return "refused", e


def _names(data: bytes, check_headers: bool = True) -> list[tuple[str, bytes]]:
    """The members of ``data`` as both walks see them, streamed and in memory: they must agree."""
    streamed = _walk(_reader(data), check_headers)
    in_memory = _walk(data, check_headers)
    assert streamed[0] == in_memory[0] and str(streamed[1]) == str(in_memory[1])
    if isinstance(in_memory[1], ShardError):
        raise in_memory[1]
    return in_memory[1]  # type: ignore[return-value]


LONG = "d/" + "x" * 150 + ".msgpack"


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_members_of_tarfile_archives_are_read_in_order(fmt: int) -> None:
    files = {"a.msgpack": b"1", "dir/b.msgpack": b"22" * 300, "c.json": b""}
    assert _names(_tar(files, fmt)) == list(files.items())


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_from_gnu_and_pax_headers_are_followed(fmt: int) -> None:
    assert _names(_tar({LONG: b"abc", "short.msgpack": b"d"}, fmt)) == [
        (LONG, b"abc"),
        ("short.msgpack", b"d"),
    ]


def test_ustar_prefix_names_are_joined() -> None:
    name = "p" * 120 + "/file.msgpack"
    assert _names(_tar({name: b"z"}, tarfile.USTAR_FORMAT)) == [(name, b"z")]


def test_directories_are_skipped() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        d = tarfile.TarInfo("folder")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        f = tarfile.TarInfo("folder/a.msgpack")
        f.size = 1
        tar.addfile(f, io.BytesIO(b"q"))
    assert _names(buf.getvalue()) == [("folder/a.msgpack", b"q")]


def test_written_headers_are_read_by_tarfile() -> None:
    data = member_header("k.msgpack", 5) + b"hello" + padding(5)
    data += end_of_archive()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (info,) = tar.getmembers()
        assert info.name == "k.msgpack" and tar.extractfile(info).read() == b"hello"  # type: ignore[union-attr]


def test_a_tar_cut_inside_a_member_is_reported_as_truncated() -> None:
    data = _tar({"a.msgpack": b"x" * 2000}, tarfile.USTAR_FORMAT)
    with pytest.raises(ShardError, match="truncated tar: member at byte 0 needs 2000 bytes") as err:
        _names(data[:1000])
    assert err.value.url == "t.tar"


def test_a_tar_cut_inside_a_header_is_reported_as_truncated() -> None:
    data = _tar({"a.msgpack": b"x", "b.msgpack": b"y"}, tarfile.USTAR_FORMAT)
    with pytest.raises(ShardError, match="ends inside the header at byte 1024"):
        _names(data[:1100])


def test_a_tar_without_its_end_marker_is_reported_as_truncated() -> None:
    data = _tar({"a.msgpack": b"x"}, tarfile.USTAR_FORMAT)
    with pytest.raises(ShardError, match="without the end-of-archive marker"):
        _names(data[:1024])


def test_a_damaged_header_fails_its_checksum() -> None:
    data = bytearray(_tar({"a.msgpack": b"x"}, tarfile.USTAR_FORMAT))
    data[3] ^= 0x20
    with pytest.raises(ShardError, match="checksum mismatch at byte 0"):
        _names(bytes(data))


def test_a_file_that_is_not_a_tar_is_refused() -> None:
    with pytest.raises(ShardError, match="not a tar file or corrupt tar header"):
        _names(b"this is plainly not a tar archive" * 40)


def test_a_memory_mapped_shard_reads_the_same_members(tmp_path: Path) -> None:
    path = tmp_path / "s.tar"
    data = _tar({"a.msgpack": b"1" * 700, "b.msgpack": b"2"}, tarfile.USTAR_FORMAT)
    path.write_bytes(data)
    reader = MappedFile(str(path))
    try:
        assert reader.buffer is not None
        got = [(n, bytes(b)) for n, b in members(reader.buffer, str(path))]
    finally:
        reader.close()
    assert got == _names(data)


def test_a_corrupt_pax_header_is_refused() -> None:
    data = bytearray(_tar({LONG: b"abc"}, tarfile.PAX_FORMAT))
    record = data.index(b" path=")
    data[record - 3 : record] = b"x0x"
    with pytest.raises(ShardError, match="corrupt pax header at byte 0"):
        _names(bytes(data))


def test_a_sample_key_is_the_name_up_to_the_first_dot_of_its_last_part() -> None:
    files = {
        "x/a.msgpack": b"1",
        "x/a.json": b"{}",
        "b.c.msgpack": b"2",  # extension "c.msgpack": a sample without a body
        "d.e/f.msgpack": b"3",  # the dot is in a folder name: key "d.e/f"
        "g": b"4",
        "h.msgpack": b"5",
        "h.msgpack ": b"6",  # not the extension: h's body stays b"5"
    }
    data = _tar(files, tarfile.USTAR_FORMAT)
    want = [("x/a", b"1"), ("b", None), ("d.e/f", b"3"), ("g", None), ("h", b"5")]
    for source in (_reader(data), data):  # streamed and in memory
        walk = samples(source, "t.tar", "msgpack")
        got = []
        while True:
            try:
                k, b = next(walk)
            except StopIteration as done:
                assert done.value == len(want)  # the sample count, for the sidecar check
                break
            got.append((k, None if b is None else bytes(b)))
        assert got == want


def test_two_bodies_under_one_key_are_two_samples() -> None:
    data = member_header("k.msgpack", 1) + b"a" + padding(1) + member_header("k.msgpack", 1) + b"b"
    data += padding(1) + end_of_archive()
    for source in (_reader(data), data):
        assert [(k, bytes(b)) for k, b in samples(source, "t.tar", "msgpack")] == [("k", b"a"), ("k", b"b")]
