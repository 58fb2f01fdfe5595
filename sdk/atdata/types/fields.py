"""The field-type model: what a sample type's fields are, independent of Python annotations.

Packable classes, the codec, schema records and codegen all speak this small algebra, so that
each of them converts from or to it once instead of re-reading Python typing objects.
"""

from __future__ import annotations

import datetime as _dt
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import numpy as np

from atdata.errors import SampleTypeError

ScalarKind = Literal["str", "int", "float", "bool", "bytes", "datetime"]
SCALAR_TYPES: dict[ScalarKind, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "bytes": bytes,
    "datetime": _dt.datetime,
}
"""Scalar kinds and their Python types. A ``datetime`` travels as ISO 8601 text (in shards and records)."""


@dataclass(frozen=True)
class Scalar:
    kind: ScalarKind


@dataclass(frozen=True)
class ArrayType:
    """An ``NDArray``; ``dtype`` is a numpy dtype name (``"float32"``), ``shape`` uses None for any."""

    dtype: str | None = None
    shape: tuple[int | None, ...] | None = None
    dims: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LiteralType:
    values: tuple[str | int | bool, ...]


@dataclass(frozen=True)
class OptionalType:
    inner: FieldType


@dataclass(frozen=True)
class ListType:
    inner: FieldType


@dataclass(frozen=True)
class JsonType:
    """``dict[str, Any]`` holding JSON-like values (None, bool, int, float, str, lists, dicts)."""


@dataclass(frozen=True)
class RefType:
    """A nested sample type; ``cls`` is the packable class."""

    cls: type

    @property
    def name(self) -> str:
        return self.cls.__name__


FieldType = Scalar | ArrayType | LiteralType | OptionalType | ListType | JsonType | RefType


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    default: Any = MISSING
    doc: str | None = None
    unit: str | None = None

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass(frozen=True)
class TypeSpec:
    """Everything that defines a sample type: its name, docstring and ordered fields."""

    name: str
    fields: tuple[FieldSpec, ...]
    doc: str | None = None
    module: str | None = None
    field_index: dict[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.field_index.update({f.name: f for f in self.fields})


# --- annotation metadata users put in Annotated[...] -----------------------------------------


@dataclass(frozen=True)
class Array:
    """Constrain an ``NDArray`` field: ``Annotated[NDArray, atdata.Array("float32", (None, 64, 64))]``.

    ``shape`` entries are ints or None (any length); ``dims`` optionally names each axis.
    """

    dtype: str | None = None
    shape: tuple[int | None, ...] | None = None
    dims: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.dtype is not None:
            object.__setattr__(self, "dtype", normalize_dtype(self.dtype))
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(self.shape))
        if self.dims is not None:
            object.__setattr__(self, "dims", tuple(self.dims))
            if self.shape is not None and len(self.dims) != len(self.shape):
                raise SampleTypeError(
                    f"Array(dims={self.dims}) names {len(self.dims)} axes but shape "
                    f"{self.shape} has {len(self.shape)}"
                )


@dataclass(frozen=True)
class Unit:
    """The physical unit of a field: ``Annotated[float, atdata.Unit("s")]``."""

    unit: str


@dataclass(frozen=True)
class Doc:
    """A field's documentation, as an alternative to an attribute docstring."""

    text: str


def normalize_dtype(dtype: Any) -> str:
    """Canonical numpy dtype name (``'<f4'``, ``np.float32`` and ``'float32'`` all give ``'float32'``)."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise SampleTypeError(f"{dtype!r} is not a numpy dtype") from e
    if dt.hasobject or dt.fields is not None:
        raise SampleTypeError(f"dtype {dt} is not allowed in a sample type (objects/records)")
    return str(dt.name if dt.byteorder in "=|" or dt.isnative else dt.str)


# --- reading Python annotations --------------------------------------------------------------


def _is_ndarray(tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    return origin is np.ndarray


def _ndarray_dtype(tp: Any) -> str | None:
    # NDArray[np.float32] is np.ndarray[tuple[int, ...], np.dtype[np.float32]]
    args = typing.get_args(tp)
    if len(args) == 2:
        dt_args = typing.get_args(args[1])
        if dt_args and isinstance(dt_args[0], type) and issubclass(dt_args[0], np.generic):
            return normalize_dtype(dt_args[0])
    return None


def field_type_of(annotation: Any, where: str) -> tuple[FieldType, str | None, str | None]:
    """Turn a Python annotation into (field type, unit, doc); ``where`` names it in errors.

    Units and docs may sit inside an optional (``Annotated[float, Unit("um")] | None``) or around it
    (``Annotated[float | None, Unit("um")]``): both spellings mean the same field.
    """
    unit: str | None = None
    doc: str | None = None
    array: Array | None = None
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = typing.get_args(annotation)
        non_none = [a for a in args if a is not type(None)]
        if len(args) == 2 and len(non_none) == 1 and typing.get_origin(non_none[0]) is typing.Annotated:
            inner, unit, doc = field_type_of(non_none[0], where)
            return (inner if isinstance(inner, OptionalType) else OptionalType(inner)), unit, doc
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        for m in meta:
            if isinstance(m, Unit):
                unit = m.unit
            elif isinstance(m, Doc):
                doc = m.text
            elif isinstance(m, Array):
                array = m
        annotation = base
    ft = _convert(annotation, where, array)
    return ft, unit, doc


def _convert(tp: Any, where: str, array: Array | None = None) -> FieldType:
    from atdata.types.packable import is_packable

    if typing.get_origin(tp) is typing.Annotated:
        inner, _, _ = field_type_of(tp, where)
        return inner
    if array is not None and not _is_ndarray(tp):
        raise SampleTypeError(f"{where}: atdata.Array(...) applies only to NDArray fields, not {tp!r}")
    if tp is Any:
        raise SampleTypeError(
            f"{where}: bare Any is not a sample field type; use dict[str, Any] for JSON-like data"
        )
    for kind, py in SCALAR_TYPES.items():
        if tp is py:
            return Scalar(kind)
    if _is_ndarray(tp):
        dtype = _ndarray_dtype(tp)
        if array is not None:
            if array.dtype and dtype and array.dtype != dtype:
                raise SampleTypeError(
                    f"{where}: NDArray dtype {dtype} conflicts with atdata.Array dtype {array.dtype}"
                )
            return ArrayType(array.dtype or dtype, array.shape, array.dims)
        return ArrayType(dtype)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        for v in args:
            if type(v) not in (str, int, bool):
                raise SampleTypeError(f"{where}: Literal values must be str, int or bool, not {v!r}")
        if len(set(args)) != len(args):
            raise SampleTypeError(f"{where}: Literal values repeat: {args!r}")
        return LiteralType(tuple(args))
    if origin in (Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1 and len(args) == 2:
            inner = _convert(non_none[0], where)
            if isinstance(inner, OptionalType):
                return inner
            return OptionalType(inner)
        raise SampleTypeError(
            f"{where}: only `X | None` unions are supported, not {tp!r}; split the field or use a Literal"
        )
    if origin is list:
        if len(args) != 1:
            raise SampleTypeError(f"{where}: list needs one item type, e.g. list[int]")
        return ListType(_convert(args[0], where + "[]"))
    if origin is dict:
        if args and (args[0] is not str or args[1] is not Any):
            raise SampleTypeError(
                f"{where}: dicts must be dict[str, Any] (JSON-like values), not {tp!r}; "
                "use a nested @atdata.packable class for typed structure"
            )
        return JsonType()
    if tp is dict:
        return JsonType()
    if isinstance(tp, type) and is_packable(tp):
        return RefType(tp)
    if isinstance(tp, (str, typing.ForwardRef)):
        raise SampleTypeError(f"{where}: unresolved forward reference {tp!r}; define the type first")
    raise SampleTypeError(
        f"{where}: unsupported field type {tp!r}; use str, int, float, bool, bytes, NDArray, "
        "Literal[...], X | None, list[...], dict[str, Any] or a nested @atdata.packable class"
    )


def annotation_of(ft: FieldType) -> Any:
    """The Python annotation that stands for a field type (used to build pydantic models)."""
    from numpy.typing import NDArray

    if isinstance(ft, Scalar):
        return SCALAR_TYPES[ft.kind]
    if isinstance(ft, ArrayType):
        return NDArray[Any]
    if isinstance(ft, LiteralType):
        return Literal.__getitem__(ft.values)
    if isinstance(ft, OptionalType):
        return annotation_of(ft.inner) | None
    if isinstance(ft, ListType):
        # A generic alias built from a value at run time, which a static checker cannot follow.
        return list[annotation_of(ft.inner)]  # type: ignore[misc]
    if isinstance(ft, JsonType):
        return dict[str, Any]
    if isinstance(ft, RefType):
        return ft.cls
    raise AssertionError(ft)


def describe(ft: FieldType) -> str:
    """A short human-readable spelling, e.g. ``list[float32[?,64,64]] | None``."""
    if isinstance(ft, Scalar):
        return ft.kind
    if isinstance(ft, ArrayType):
        dims = ",".join("?" if d is None else str(d) for d in ft.shape or ())
        shape = "" if ft.shape is None else f"[{dims}]"
        return f"NDArray[{ft.dtype or 'any'}]{shape}"
    if isinstance(ft, LiteralType):
        return "Literal[" + ", ".join(repr(v) for v in ft.values) + "]"
    if isinstance(ft, OptionalType):
        return describe(ft.inner) + " | None"
    if isinstance(ft, ListType):
        return f"list[{describe(ft.inner)}]"
    if isinstance(ft, JsonType):
        return "dict[str, Any]"
    if isinstance(ft, RefType):
        return ft.name
    raise AssertionError(ft)
