"""The values lens code sees and returns: read-only records, and the conversions at the boundary.

Lens code never receives the host's objects. A sample arrives as a plain field dict and becomes a
:class:`Record` (fields read as attributes, nested sample types as records too); arrays become
read-only views and JSON containers private copies. What lens code returns is turned back into
plain data by :func:`to_plain`, which refuses anything that is not plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from atdata.errors import AtdataError
from atdata.types.fields import ListType, OptionalType, RefType, TypeSpec


@dataclass(frozen=True)
class RecordShape:
    """What the sandbox knows about a sample type: its name, field names, and nested types.

    ``fields`` (when not None) lets record factories refuse unknown field names; ``nested`` names
    the fields that hold a nested sample type (or a list of them), whose dicts become records.
    """

    name: str
    fields: tuple[str, ...] | None = None
    nested: tuple[tuple[str, RecordShape], ...] = ()

    @classmethod
    def of(cls, spec: TypeSpec) -> RecordShape:
        """The shape of a sample type, from its :class:`~atdata.types.fields.TypeSpec`."""
        from atdata.types.packable import spec_of

        nested: list[tuple[str, RecordShape]] = []
        for f in spec.fields:
            ft = f.type
            while isinstance(ft, (OptionalType, ListType)):
                ft = ft.inner
            if isinstance(ft, RefType):
                nested.append((f.name, cls.of(spec_of(ft.cls))))
        return cls(spec.name, tuple(f.name for f in spec.fields), tuple(nested))

    def types(self) -> dict[str, RecordShape]:
        """This shape and every nested one, by type name."""
        out = {self.name: self}
        for _, sub in self.nested:
            for name, shape in sub.types().items():
                out.setdefault(name, shape)
        return out

    def to_wire(self) -> list[Any]:
        return [self.name, None if self.fields is None else list(self.fields),
                [[name, sub.to_wire()] for name, sub in self.nested]]  # fmt: skip

    @classmethod
    def from_wire(cls, data: list[Any]) -> RecordShape:
        name, fields, nested = data
        return cls(
            str(name),
            None if fields is None else tuple(str(f) for f in fields),
            tuple((str(n), cls.from_wire(sub)) for n, sub in nested),
        )


class Record:
    """A read-only sample inside lens code: ``record.field`` reads a field.

    Lens code reads fields only through the runtime's attribute guard, which looks them up in
    ``_fields``; it can neither assign attributes nor reach ``_fields`` itself.
    """

    __slots__ = ("_fields", "_type")

    def __init__(self, type_name: str, fields: dict[str, Any]) -> None:
        self._type = type_name
        self._fields = fields

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={_short(v)}" for k, v in self._fields.items())
        return f"{self._type}({inner})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not Record:
            return NotImplemented
        return self._type == other._type and _fields_equal(self._fields, other._fields)

    __hash__ = None  # type: ignore[assignment]


def _fields_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k, va in a.items():
        vb = b[k]
        if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
            if not (isinstance(va, np.ndarray) and isinstance(vb, np.ndarray) and np.array_equal(va, vb)):
                return False
        elif va != vb:
            return False
    return True


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"<array {v.dtype} {v.shape}>"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


class RecordFactory:
    """What a sample type's name is bound to in lens code: ``Frame(a=1)`` makes a record.

    ``Frame(base, a=1)`` copies the fields of record ``base`` (or dict) and overrides ``a``.
    Nested sample types given as dicts become records, as they would arriving from outside.
    """

    __slots__ = ("_known", "_shape")

    def __init__(self, shape: RecordShape) -> None:
        self._shape = shape
        self._known = None if shape.fields is None else frozenset(shape.fields)

    def __call__(self, *base: Any, **fields: Any) -> Record:
        shape = self._shape
        if base:
            if len(base) > 1:
                raise TypeError(f"{shape.name}() takes at most one record to copy, then field=value pairs")
            src = base[0]
            if type(src) is Record:
                fields = {**src._fields, **fields}
            elif type(src) is dict:
                fields = {**src, **fields}
            else:
                raise TypeError(f"{shape.name}() can copy a record or dict, not {type(src).__name__}")
        known = self._known
        if known is not None and not known.issuperset(fields):
            unknown = ", ".join(repr(k) for k in fields if k not in known)
            raise TypeError(f"{shape.name} has no field(s) {unknown}")
        if shape.nested:
            _nest(fields, shape)
        return Record(shape.name, fields)

    def __repr__(self) -> str:
        return f"<record type {self._shape.name}>"


# --- into the sandbox -------------------------------------------------------------------------


def to_record(values: Mapping[str, Any], shape: RecordShape, *, private: bool) -> Record:
    """The record lens code sees for a plain field dict.

    With ``private`` (inline runs) the caller's data is never reachable: arrays become read-only
    views of private copies (so a lens can neither write into the caller's array, nor keep a view
    that later shows the caller's changes), every mapping (``OrderedDict``, ``defaultdict``, ...)
    becomes a private ``dict``, lists private lists, and ndarray subclasses (matrices, memmaps)
    plain arrays; masked arrays are refused, since their mask would be lost. A worker's data is
    its own, so it skips that.
    """
    fields = {k: _private(v) for k, v in values.items()} if private else dict(values)
    if shape.nested:
        _nest(fields, shape)
    return Record(shape.name, fields)


def _nest(fields: dict[str, Any], shape: RecordShape) -> None:
    """Turn the dicts of nested-sample-type fields into records, in place."""
    for name, sub in shape.nested:
        value = fields.get(name)
        if type(value) is dict:
            fields[name] = to_record(value, sub, private=False)
        elif type(value) is list:
            fields[name] = [to_record(v, sub, private=False) if type(v) is dict else v for v in value]


def as_record(value: Any, shape: RecordShape) -> Record:
    """What one lens step returned, as the record the next step receives (no copies).

    Raises :class:`NotPlainData` unless it is a record of the expected type or a dict.
    """
    if type(value) is Record:
        if value._type != shape.name:
            raise NotPlainData(f"returned a {value._type} record where a {shape.name} was expected")
        return value
    if type(value) is dict:
        return to_record(value, shape, private=False)
    raise NotPlainData(
        f"returned a {type(value).__name__}; return a {shape.name}(...) record or a dict of its fields"
    )


def _private(value: Any) -> Any:
    t = type(value)
    if t in _PLAIN_SCALARS:
        return value
    if t is np.ndarray:
        copy = value.copy()
        copy.setflags(write=False)
        return copy
    if t is dict:
        return {k: _private(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if isinstance(value, np.ma.MaskedArray):
            raise NotPlainData("a masked array can't be handed to a lens; pass .filled(...) or the mask")
        copy = np.array(value, subok=False, copy=True)  # a base ndarray the caller does not hold
        copy.setflags(write=False)
        return copy
    if isinstance(value, Mapping):
        return {k: _private(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_private(v) for v in value]
    return value


# --- out of the sandbox -----------------------------------------------------------------------

_PLAIN_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


class NotPlainData(AtdataError, TypeError):
    """Lens code returned something other than plain data; names the path to it."""


_PLAIN_KINDS = frozenset("biufcmMSU")


def plain_dtype_ok(dtype: np.dtype) -> bool:
    """Whether arrays of ``dtype`` may cross the boundary: no objects, records or raw voids."""
    return dtype.kind in _PLAIN_KINDS


#: At most this many containers and values are converted from one lens output: a value that
#: repeats one list in itself many levels deep is small in memory and enormous once expanded.
MAX_OUTPUT_NODES = 1 << 22


def to_plain(value: Any) -> Any:
    """Plain data (None, bool, int, float, str, bytes, arrays, lists, str-keyed dicts) for ``value``.

    Raises :class:`NotPlainData` naming the path to the first value that is not plain, or when
    the value holds more than :data:`MAX_OUTPUT_NODES` containers and values counted expanded.
    """
    budget = [MAX_OUTPUT_NODES]
    try:
        if type(value) is Record:
            # The common case, unrolled: a record of scalars and arrays.
            out = {}
            scalars = _PLAIN_SCALARS
            kinds = _PLAIN_KINDS
            ndarray = np.ndarray
            for k, v in value._fields.items():
                t = type(v)
                if t in scalars or (t is ndarray and v.dtype.kind in kinds):
                    out[k] = v
                else:
                    out[k] = _plain(v, budget)
            return out
        return _plain(value, budget)
    except _NotPlain:
        raise NotPlainData(_first_problem(value, "")) from None


class _NotPlain(AtdataError):
    pass


class _TooLarge(NotPlainData):
    pass


def _plain(value: Any, budget: list[int]) -> Any:
    # The hot path: no path strings are built unless something is wrong.
    t = type(value)
    if t in _PLAIN_SCALARS:
        return value
    budget[0] -= 1 + len(value) if t is list or t is tuple or t is dict else 1
    if budget[0] < 0:
        raise _TooLarge(
            f"the output holds more than {MAX_OUTPUT_NODES} values (a shared one counts each time)"
        )
    if t is np.ndarray:
        if value.dtype.kind in _PLAIN_KINDS:
            return value
        raise _NotPlain
    if t is Record:
        return {k: v if type(v) in _PLAIN_SCALARS else _plain(v, budget) for k, v in value._fields.items()}
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise _NotPlain
            out[k] = v if type(v) in _PLAIN_SCALARS else _plain(v, budget)
        return out
    if t is list or t is tuple:
        return [_plain(v, budget) for v in value]
    if isinstance(value, np.generic) and value.dtype.kind in _PLAIN_KINDS:
        item = value.item()
        if type(item) in _PLAIN_SCALARS:
            return item
    raise _NotPlain


def _first_problem(value: Any, path: str) -> str:
    where = path or "value"
    t = type(value)
    if t is Record:
        value = value._fields
        t = dict
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return f"{where}: dict keys must be str, not {type(k).__name__}"
            try:
                _plain(v, [MAX_OUTPUT_NODES])
            except _NotPlain:
                return _first_problem(v, f"{path}.{k}" if path else k)
    if t is list or t is tuple:
        for i, v in enumerate(value):
            try:
                _plain(v, [MAX_OUTPUT_NODES])
            except _NotPlain:
                return _first_problem(v, f"{path}[{i}]")
    if t is np.ndarray or isinstance(value, np.generic):
        return f"{where}: values of dtype {value.dtype} can't leave a lens"
    return f"{where}: a {t.__name__} is not plain data"


def output_fields(value: Any, type_name: str) -> dict[str, Any]:
    """The plain field dict of what ``get``/``put`` returned, which must be a record or a dict."""
    if type(value) is Record:
        if value._type != type_name:
            raise NotPlainData(f"returned a {value._type} record where a {type_name} was expected")
        return to_plain(value)  # type: ignore[no-any-return]
    if type(value) is dict:
        return to_plain(value)  # type: ignore[no-any-return]
    raise NotPlainData(
        f"returned a {type(value).__name__}; return a {type_name}(...) record or a dict of its fields"
    )
