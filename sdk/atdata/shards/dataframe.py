"""Rows of a pandas DataFrame as samples of one type: the core of ``ShardWriter.write_dataframe``.

Columns are matched to fields by name (a column whose name is not a Python identifier, such as
astroCAST's ``v_mask_centroid_local-0``, matches the field with each other character replaced by
``_``), with a ``{column: field}`` mapping (pandas' ``rename`` convention) for the rest; columns no
field takes are left out. ``index_as`` names a field that takes each row's index label. Each row
goes through the sample type's ordinary strict construction, so numpy and pandas values are
converted only when lossless (:mod:`atdata.types.lossless`). pandas is never imported here: any object
with ``columns``, ``index`` and per-column ``tolist()`` works, so pandas stays an optional
dependency.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from atdata.errors import DatasetError, RowError, SampleValidationError
from atdata.types.packable import spec_of

log = logging.getLogger("atdata.shards")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _identifier(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


def field_columns(
    sample_type: type, df: Any, columns: Mapping[str, str] | None, index_as: str | None = None
) -> dict[str, str]:
    """``{field: column}`` for the fields the DataFrame fills; a required field with no column raises."""
    spec = spec_of(sample_type)
    present = [str(c) for c in df.columns]
    renamed = dict(columns or {})
    for column, field in renamed.items():
        if column not in present:
            raise DatasetError(
                f"columns= maps {column!r} to {field!r}, but the DataFrame has no column {column!r}; "
                f"its columns are {present}"
            )
        if field not in spec.field_index:
            raise DatasetError(
                f"columns= maps {column!r} to {field!r}, which is not a field of {spec.name} "
                f"(fields: {[f.name for f in spec.fields]})"
            )
    taken = {field: column for column, field in renamed.items()}
    by_identifier: dict[str, list[str]] = {}
    for column in present:
        if column not in renamed and column not in spec.field_index:
            by_identifier.setdefault(_identifier(column), []).append(column)
    out: dict[str, str] = {}
    for f in spec.fields:
        similar = by_identifier.get(f.name, [])
        if f.name in taken:
            out[f.name] = taken[f.name]
        elif f.name in present and f.name not in renamed:
            out[f.name] = f.name
        elif len(similar) == 1:
            out[f.name] = similar[0]
        elif len(similar) > 1:
            raise DatasetError(
                f"columns {similar} could all be {spec.name}.{f.name}; choose one with "
                f"columns={{{similar[0]!r}: {f.name!r}}}"
            )
        elif f.required and f.name != index_as:
            raise DatasetError(
                f"{spec.name}.{f.name} is required but the DataFrame has no column for it; "
                f"its columns are {present}; map one with columns={{'<column>': {f.name!r}}}"
            )
    if index_as is not None:
        if index_as not in spec.field_index:
            raise DatasetError(f"index_as={index_as!r} is not a field of {spec.name}")
        out.pop(index_as, None)
    return out


def rows_as_samples(
    sample_type: type,
    df: Any,
    *,
    columns: Mapping[str, str] | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    index_as: str | None = None,
) -> Iterator[tuple[Any, Any]]:
    """``(index label, sample)`` per row; a bad row raises :class:`RowError` or, with "skip", is logged."""
    if on_error not in ("raise", "skip"):
        raise DatasetError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    mapping = field_columns(sample_type, df, columns, index_as)
    if len(set(map(str, df.columns))) != len(df.columns):
        raise DatasetError("the DataFrame has repeated column names; rename them first")
    names = list(mapping)
    by_name = {str(c): c for c in df.columns}
    # Whole columns at once: tolist() is far cheaper than building a Series per row.
    cells = [df[by_name[mapping[name]]].tolist() for name in names]
    index = list(df.index)
    for i, label in enumerate(index):
        values = {name: col[i] for name, col in zip(names, cells, strict=True)}
        if index_as is not None:
            values[index_as] = label
        try:
            sample = sample_type(**values)
        except SampleValidationError as e:
            path, msg, _ = e.problems[0]
            field = path.split(".", 1)[0].split("[", 1)[0]
            column = "<index>" if field == index_as else mapping.get(field)
            value = _short(values.get(field))
            error = RowError(
                f"row {label!r} of the DataFrame does not fit {spec_of(sample_type).name}: "
                f"column {column!r} (field {path}) has {value}: {msg}",
                row=label,
                column=column,
                value=value,
            )
            if on_error == "raise":
                raise error from None
            log.warning("skipping row: %s", error)
            continue
        yield label, sample
