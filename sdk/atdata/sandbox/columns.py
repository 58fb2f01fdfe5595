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
        np.stack(self.rows, out=out)


def pack(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``items`` as ``{"n": N, "columns": {field: {"stack": array} | {"list": values}}}``.

    Arrays of at least one dimension that share shape and dtype across the batch are a
    :class:`Stack` (sent as one array whose rows are the items' arrays); anything else is a plain
    list. A batch whose items
    do not share their keys is ``{"items": items}``.
    """
    if len(items) < 2:
        return {"items": list(items)}
    keys = items[0].keys()
    if any(item.keys() != keys for item in items):
        return {"items": list(items)}
    ndarray = np.ndarray
    columns: dict[str, Any] = {}
    for key in keys:
        values = [item[key] for item in items]
        first = values[0]
        if type(first) is ndarray and first.ndim:
            shape, dtype = first.shape, first.dtype
            # One array repeated stays one array (sent once), not a stack of copies.
            if all(type(v) is ndarray and v.shape == shape and v.dtype == dtype for v in values) and len(
                {id(v) for v in values}
            ) == len(values):
                columns[key] = {"stack": Stack(values)}
                continue
        columns[key] = {"list": values}
    return {"n": len(items), "columns": columns}


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
