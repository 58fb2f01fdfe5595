"""A batch of field dicts sent as columns: one array per array field, one list per other field.

Samples of one type carry arrays of one shape and dtype in each field (a 64x64 image per frame).
Sent item by item, every array costs a descriptor to write and to read back, on both sides of the
process boundary; sent as a column, a field's arrays are one stacked array (one descriptor, one
copy into the shared-memory arena) and each item gets a view of its row. Fields whose values
differ in kind, shape or dtype, and batches whose items do not share their keys, travel as they
are. :func:`unpack` checks what it is given (a worker's answer is untrusted): the right number of
rows in every column, or a :class:`ValueError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class Stack:
    """Arrays of one shape and dtype, to be sent as one stacked array without stacking them first.

    :func:`atdata.sandbox.wire.encode` writes the rows straight into the arena (one copy); the
    receiver gets an ordinary array of shape ``(len(rows), *row shape)``.
    """

    __slots__ = ("dtype", "rows", "shape")

    def __init__(self, rows: list[np.ndarray[Any, Any]]) -> None:
        self.rows = rows
        self.shape: tuple[int, ...] = (len(rows), *rows[0].shape)
        self.dtype = rows[0].dtype

    def write_into(self, out: np.ndarray[Any, Any]) -> None:
        # Rows joined end to end along their first axis: the same bytes as np.stack, without
        # making a view with a new axis per row first.
        np.concatenate(self.rows, out=out.reshape(-1, *self.shape[2:]))


_AS_IS = frozenset({np.ndarray, str, int, float, bool, bytes, type(None)})
"""Types :func:`atdata.types.packable.as_plain` returns unchanged (it converts samples, lists and
datetimes)."""


def _stacks(values: list[Any]) -> bool:
    """Whether ``values`` are distinct arrays of one shape and dtype, of at least one dimension."""
    first = values[0]
    if type(first) is not np.ndarray or not first.ndim:
        return False
    shape, dtype = first.shape, first.dtype
    # One array repeated stays one array (sent once), not a stack of copies.
    return all(type(v) is np.ndarray and v.shape == shape and v.dtype == dtype for v in values) and len(
        {id(v) for v in values}
    ) == len(values)


class Batch:
    """Items to send, held as columns until they are cut into parts (:meth:`packed`).

    Made from plain field dicts (:meth:`of_dicts`) or straight from samples of one packable
    class (:meth:`of_samples`, which reads their fields as ``as_plain`` would give them, without
    a dict per sample). Items that do not share their fields are held as they are.
    """

    __slots__ = ("columns", "items", "n", "stacked")

    def __init__(
        self, n: int, columns: dict[str, list[Any]] | None, items: list[dict[str, Any]] | None
    ) -> None:
        self.n = n
        self.columns = columns
        self.items = items
        self.stacked = {name for name, values in (columns or {}).items() if n and _stacks(values)}

    def __len__(self) -> int:
        return self.n

    @classmethod
    def of_dicts(cls, items: Sequence[dict[str, Any]]) -> Batch:
        items = list(items)
        if not items:
            return cls(0, {}, None)
        keys = items[0].keys()
        if any(item.keys() != keys for item in items):
            return cls(len(items), None, items)
        return cls(len(items), {key: [item[key] for item in items] for key in keys}, None)

    @classmethod
    def of_samples(cls, samples: Sequence[Any]) -> Batch:
        """Samples as the plain field dicts ``as_plain`` makes of them, in columns."""
        from atdata.types.packable import as_plain

        kind = type(samples[0]) if samples else None
        spec = getattr(kind, "__atdata_spec__", None)
        if spec is None or any(type(s) is not kind for s in samples):
            return cls.of_dicts([as_plain(s) for s in samples])
        fields = [s.__dict__ for s in samples]
        columns: dict[str, list[Any]] = {}
        for f in spec.fields:
            values = [d[f.name] for d in fields]
            if not _AS_IS.issuperset(map(type, values)):
                values = [as_plain(v) for v in values]
            columns[f.name] = values
        return cls(len(samples), columns, None)

    def item_bytes(self) -> int | list[int]:
        """Array bytes of each item (one number when every item carries the same)."""
        ndarray = np.ndarray
        if self.columns is None:
            assert self.items is not None
            return [sum(v.nbytes for v in item.values() if type(v) is ndarray) for item in self.items]
        uniform: int = sum(values[0].nbytes for name, values in self.columns.items() if name in self.stacked)
        varying = [values for name, values in self.columns.items() if name not in self.stacked]
        if not any(ndarray in set(map(type, values)) for values in varying):
            return uniform
        return [
            uniform + sum(v.nbytes for v in row if type(v) is ndarray) for row in zip(*varying, strict=True)
        ]

    def packed(self, lo: int = 0, hi: int | None = None) -> dict[str, Any]:
        """Items ``lo:hi`` as ``{"n": N, "columns": {field: {"stack": Stack} | {"list": values}}}``.

        Arrays that share shape and dtype across the batch are a :class:`Stack` (sent as one
        array whose rows are the items' arrays); anything else is a plain list. Fewer than two
        items, or items that do not share their fields, are ``{"items": items}``.
        """
        hi = self.n if hi is None else hi
        whole = lo == 0 and hi == self.n
        if self.columns is None:
            assert self.items is not None
            return {"items": self.items if whole else self.items[lo:hi]}
        if hi - lo < 2:
            names = list(self.columns)
            return {"items": [{k: self.columns[k][i] for k in names} for i in range(lo, hi)]}
        columns: dict[str, Any] = {}
        for name, values in self.columns.items():
            part = values if whole else values[lo:hi]
            columns[name] = {"stack": Stack(part)} if name in self.stacked else {"list": part}
        return {"n": hi - lo, "columns": columns}


def pack(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``items`` in the form :meth:`Batch.packed` gives."""
    return Batch.of_dicts(items).packed()


def unpack(packed: Any, n: int | None = None) -> list[dict[str, Any]]:
    """The field dicts ``packed`` holds; ValueError when it is not a batch of ``n`` (when given)."""
    if type(packed) is not dict:
        raise ValueError("a batch is not a mapping")
    if "items" in packed:
        items = packed["items"]
        if type(items) is not list or len(items) != (len(items) if n is None else n):
            raise ValueError(f"a batch of {n} items holds something else")
        if any(type(i) is not dict for i in items):
            raise ValueError(f"a batch of {n} items holds something else")
        return items
    columns = packed.get("columns")
    if n is None:
        n = packed.get("n")
    if type(n) is not int or packed.get("n") != n or type(columns) is not dict:
        raise ValueError(f"a batch of {n} items holds something else")
    names: list[str] = []
    rows: list[Any] = []
    for name, column in columns.items():
        if type(column) is not dict or len(column) != 1:
            raise ValueError(f"column {name!r} is malformed")
        if "stack" in column:
            stacked = column["stack"]
            if type(stacked) is not np.ndarray or stacked.ndim < 2 or stacked.shape[0] != n:
                raise ValueError(f"column {name!r} does not hold {n} arrays")
            rows.append(list(stacked))
        else:
            values = column.get("list")
            if type(values) is not list or len(values) != n:
                raise ValueError(f"column {name!r} does not hold {n} values")
            rows.append(values)
        names.append(name)
    if not names:
        return [{} for _ in range(n)]
    return [dict(zip(names, row)) for row in zip(*rows)]
