"""``Batch``: several samples viewed column-wise, arrays stacked along a new leading axis."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import numpy as np

from atdata.errors import DatasetError
from atdata.types.fields import ArrayType, FieldType, OptionalType
from atdata.types.packable import spec_of

T = TypeVar("T")


def _is_array(ft: FieldType) -> bool:
    return isinstance(ft.inner if isinstance(ft, OptionalType) else ft, ArrayType)


class Batch(Generic[T]):
    """Samples of one type, read by field: ``batch.image`` is an array of shape ``(n, *image.shape)``.

    Array fields are stacked (computed on first access, then cached); every other field, and
    optional arrays with a None in the batch, come as a list with one value per sample.
    ``batch["name"]`` reaches a field whose name is also an attribute here (``samples``, ``keys``).
    """

    __slots__ = ("_cache", "_spec", "keys", "sample_type", "samples")

    def __init__(self, sample_type: type[T], samples: list[T], keys: list[str]) -> None:
        self.sample_type = sample_type
        self.samples = samples
        """The samples themselves, in order."""
        self.keys = keys
        """The key of each sample, in the same order."""
        self._spec = spec_of(sample_type)
        self._cache: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        arrays = self.arrays(name)
        column: Any = [s.__dict__[name] for s in self.samples] if arrays is None else self._stack(arrays)
        self._cache[name] = column
        return column

    def arrays(self, name: str) -> list[np.ndarray] | None:
        """The samples' arrays of field ``name``, checked to stack (one shape and dtype), unstacked.

        None when the field is not an array field, or a sample has None for it. For whoever
        stacks the column into memory of its own (a DataLoader worker's shared block) rather
        than into a new array.
        """
        f = self._spec.field_index.get(name)
        if f is None:
            raise KeyError(f"{self._spec.name} has no field {name!r}")
        if not _is_array(f.type):
            return None
        values = [s.__dict__[name] for s in self.samples]
        if not values or not all(isinstance(v, np.ndarray) for v in values):
            return None
        first = values[0]
        for key, v in zip(self.keys, values):
            if v.shape != first.shape or v.dtype != first.dtype:
                raise DatasetError(
                    f"cannot stack field {name!r} of a {self._spec.name} batch: sample {self.keys[0]!r} "
                    f"has {first.dtype}{list(first.shape)}, sample {key!r} has {v.dtype}{list(v.shape)}"
                )
        return values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{self._spec.name} batch has no field {name!r}") from None

    @staticmethod
    def _stack(values: list[np.ndarray]) -> np.ndarray:
        first = values[0]
        if all(v.flags.c_contiguous for v in values):
            # Joining the raw buffers is about three times faster than np.stack over the unaligned
            # read-only views the codec returns, and gives a writable, aligned array all the same.
            joined = bytearray().join([v.data for v in values])
            return np.frombuffer(joined, first.dtype).reshape((len(values), *first.shape))
        return np.stack(values)

    def __repr__(self) -> str:
        return f"Batch[{self._spec.name}](size={len(self.samples)})"
