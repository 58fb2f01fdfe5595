"""``ShardWriter``: samples into numbered tar shards, each with a sidecar of its count and sha-256."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Literal

from atdata.codec import encode
from atdata.errors import DatasetError, SampleTypeError
from atdata.shards.reader import EXTENSION
from atdata.shards.sidecar import Sidecar, write_sidecar
from atdata.shards.streams import filesystem
from atdata.shards.tar import end_of_archive, member_header, padding
from atdata.shards.urls import local_path, scheme
from atdata.types.packable import is_packable

_MAX_KEY_BYTES = 100 - len(EXTENSION) - 1


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise DatasetError(f"sample key must be a non-empty str, not {key!r}")
    if "." in key or "/" in key or "\\" in key or "\0" in key or key.startswith("__"):
        raise DatasetError(
            f"sample key {key!r} may not contain '.', '/', '\\' or NUL, nor start with '__' "
            "(WebDataset reads those as extensions, folders or metadata)"
        )
    if len(key.encode("utf-8")) > _MAX_KEY_BYTES:
        raise DatasetError(f"sample key {key!r} is longer than {_MAX_KEY_BYTES} bytes")
    return key


class ShardWriter:
    """Write samples into shards named by a ``%``-pattern: ``ShardWriter("out/frames-%06d.tar")``.

    The pattern is a local path or an object-store URL (``s3://bucket/frames-%06d.tar``, ...).

    A new shard starts after ``maxcount`` samples or before a sample that would take the shard
    past ``maxsize`` bytes. Each finished shard gets ``<shard>.json`` with its sample count and the
    sha-256 of its bytes; shards are written under a temporary name and appear whole. Every
    sample must be of one ``@atdata.packable`` class (``sample_type=``, else the first sample's),
    whose name each sidecar records. Keys default to a running number; pass ``key=`` to choose them
    (no '.', '/' or leading '__'). :meth:`write_dataframe` writes the rows of a pandas DataFrame.
    """

    def __init__(
        self,
        pattern: str,
        *,
        maxcount: int = 100_000,
        maxsize: int = 3_000_000_000,
        start_shard: int = 0,
        sample_type: type | None = None,
    ) -> None:
        kind = scheme(pattern)
        if kind == "http":
            raise DatasetError(
                f"ShardWriter writes local files and object stores (s3://, gs://, ...), not http: {pattern!r}"
            )
        self._remote = kind == "fsspec"
        self._pattern = pattern if self._remote else local_path(pattern)
        try:
            first, second = self._pattern % 0, self._pattern % 1
        except (TypeError, ValueError):
            raise DatasetError(
                f"shard pattern {pattern!r} needs exactly one integer field such as %06d"
            ) from None
        if first == second:
            raise DatasetError(f"shard pattern {pattern!r} gives every shard the same name")
        if maxcount < 1 or maxsize < 1:
            raise DatasetError("maxcount and maxsize must be positive")
        self.maxcount = maxcount
        self.maxsize = maxsize
        self.shards: list[str] = []
        """Paths of the shards finished so far, in order."""
        self._next_shard = start_shard
        self._count = 0
        if sample_type is not None and not is_packable(sample_type):
            raise SampleTypeError(
                f"ShardWriter(sample_type=) takes an @atdata.packable class, not {sample_type!r}"
            )
        self._sample_type: type | None = sample_type
        self._file: IO[bytes] | None = None
        self._path = ""
        self._hash: Any = None
        self._in_shard = 0
        self._bytes = 0

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def count(self) -> int:
        """Samples written so far."""
        return self._count

    def write(self, sample: Any, key: str | None = None) -> str:
        """Append one sample; returns its key."""
        cls = type(sample)
        if self._sample_type is None:
            if not is_packable(cls):
                raise SampleTypeError(f"ShardWriter.write takes @atdata.packable samples, not {cls.__name__}")
            self._sample_type = cls
        elif cls is not self._sample_type:
            raise DatasetError(
                f"ShardWriter got a {cls.__name__} after {self._count} samples of "
                f"{self._sample_type.__name__}; write one sample type per dataset"
            )
        key = f"{self._count:09d}" if key is None else _check_key(key)
        data = encode(sample)
        header = member_header(f"{key}.{EXTENSION}", len(data))
        record = len(header) + len(data) + (-len(data) % 512)
        if self._file is not None and (
            self._in_shard >= self.maxcount or self._bytes + record + 1024 > self.maxsize
        ):
            self._finish()
        if self._file is None:
            self._open()
        self._put(header)
        self._put(data)
        self._put(padding(len(data)))
        self._in_shard += 1
        self._count += 1
        return key

    def write_dataframe(
        self,
        df: Any,
        *,
        columns: Mapping[str, str] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        index_as: str | None = None,
    ) -> int:
        """Write each row of a pandas DataFrame as one sample of the writer's type; returns the count.

        Fields take the column of the same name (``v-0`` matches a field ``v_0``);
        ``columns={"column": "field"}`` maps the rest, and columns no field takes are left out.
        ``index_as="field"`` puts each row's index label into that field. Values convert as in
        strict construction (numpy and pandas values only when lossless; NaN, None and ``pd.NA``
        are None for optional fields). A row that does not fit raises
        :class:`~atdata.errors.RowError` naming its index, the column and the value, before
        anything of it is written; ``on_error="skip"`` logs and skips it. The writer's type is
        ``sample_type=`` or that of samples already written.
        """
        from atdata.shards.dataframe import rows_as_samples

        if self._sample_type is None:
            raise DatasetError(
                "write_dataframe needs the writer's sample type: ShardWriter(pattern, sample_type=MyType)"
            )
        written = 0
        for _, sample in rows_as_samples(
            self._sample_type, df, columns=columns, on_error=on_error, index_as=index_as
        ):
            self.write(sample)
            written += 1
        return written

    def close(self) -> None:
        """Finish the current shard (idempotent)."""
        if self._file is not None:
            self._finish()

    def _sample_type_name(self) -> str | None:
        return None if self._sample_type is None else self._sample_type.__name__

    def _open(self) -> None:
        self._path = self._pattern % self._next_shard
        self._next_shard += 1
        self._hash = hashlib.sha256()
        self._in_shard = 0
        self._bytes = 0
        if self._remote:
            # An object store shows an object only once its upload completes: it appears whole.
            fs, path = filesystem(self._path)
            self._file = fs.open(path, "wb")
            return
        parent = os.path.dirname(self._path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._file = open(self._path + ".partial", "wb")  # noqa: SIM115 - lives across calls

    def _put(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._hash.update(data)
        self._bytes += len(data)

    def _finish(self) -> None:
        assert self._file is not None
        self._put(end_of_archive())
        self._file.close()
        self._file = None
        sidecar = Sidecar(self._in_shard, self._hash.hexdigest(), self._bytes, self._sample_type_name())
        if self._remote:
            fs, path = filesystem(self._path)
            fs.pipe_file(path + ".json", (sidecar.to_json() + "\n").encode("utf-8"))
        else:
            os.replace(self._path + ".partial", self._path)
            write_sidecar(self._path, sidecar)
        self.shards.append(self._path)
