"""``@atdata.packable``: turn an annotated class into a validated sample type.

The decorated class becomes a pydantic model (strict: no silent coercion of "3" into 3) whose
fields are described by a :class:`~atdata.types.fields.TypeSpec`, the single source that the
codec, schema records and codegen read. Arrays compare by value and print as summaries.
"""

from __future__ import annotations

import ast
import copyreg
import datetime as _dt
import inspect
import itertools
import math
import sys
import textwrap
import typing
from typing import Any, ClassVar, TypeVar, dataclass_transform

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic._internal._model_construction import ModelMetaclass
from pydantic.fields import FieldInfo

from atdata.errors import SampleTypeError, SampleValidationError
from atdata.types.fields import (
    MISSING,
    SCALAR_TYPES,
    ArrayType,
    FieldSpec,
    FieldType,
    JsonType,
    ListType,
    LiteralType,
    OptionalType,
    RefType,
    Scalar,
    TypeSpec,
    field_type_of,
)
from atdata.types.lossless import SCALAR_COERCERS, array_as_list, array_from_sequence, is_missing

T = TypeVar("T")


class PackableMeta(ModelMetaclass):
    """The metaclass of sample types: it lets pickle rebuild a class that exists in no module (one
    built from a schema record) through the ``__atdata_reduce__`` it carries, see
    :mod:`atdata.schema.by_reference`."""


def _reduce_class(cls: type) -> Any:
    # A class defined in code pickles by its importable name, as any class does.
    return cls.__dict__.get("__atdata_reduce__") or cls.__qualname__


copyreg.pickle(PackableMeta, _reduce_class)


class Packable(BaseModel, metaclass=PackableMeta):
    """Base of every class made by :func:`packable`. Not meant to be subclassed directly."""

    model_config = ConfigDict(
        strict=True,
        arbitrary_types_allowed=True,
        validate_assignment=True,
        extra="forbid",
        revalidate_instances="never",
        protected_namespaces=(),
    )
    __atdata_spec__: ClassVar[TypeSpec]

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise _wrap_validation(type(self).__name__, e) from None
        axes = shared_axes(type(self))
        if axes:
            check_shared_axes(self, axes)

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as e:
            raise _wrap_validation(type(self).__name__, e) from None

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            values_equal(self.__dict__[f.name], other.__dict__[f.name])
            for f in self.__atdata_spec__.fields
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr_args__(self) -> Any:
        for f in self.__atdata_spec__.fields:
            yield f.name, _Summary(self.__dict__[f.name])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.__repr_args__())
        return f"{type(self).__name__}({args})"

    __str__ = __repr__


class _Summary:
    """Prints arrays as dtype and shape instead of their contents."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        v = self.value
        if isinstance(v, np.ndarray):
            return f"ndarray({v.dtype}, shape={v.shape})"
        if isinstance(v, list) and v and isinstance(v[0], np.ndarray):
            return "[" + ", ".join(repr(_Summary(x)) for x in v) + "]"
        text = repr(v)
        return text if len(text) <= 200 else text[:197] + "..."


def values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray({value.dtype}, shape={value.shape})"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _wrap_validation(cls_name: str, e: ValidationError) -> SampleValidationError:
    problems = []
    for err in e.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        ctx = err.get("ctx") or {}
        if "error" in ctx and isinstance(ctx["error"], Exception):
            msg = str(ctx["error"])
        problems.append((loc, msg, _short(err.get("input"))))
    return SampleValidationError(cls_name, problems)


# --- value checks for the field kinds pydantic does not know -------------------------------


def check_array(ft: ArrayType, value: Any) -> np.ndarray:
    if isinstance(value, (list, tuple)):
        value = array_from_sequence(value, ft.dtype)
    if not isinstance(value, np.ndarray):
        raise ValueError(f"expected a numpy ndarray, got {type(value).__name__}")
    if ft.dtype is not None and value.dtype.name != ft.dtype and value.dtype.str != ft.dtype:
        raise ValueError(f"expected dtype {ft.dtype}, got {value.dtype}")
    if value.dtype.hasobject:
        raise ValueError("object arrays are not allowed in samples")
    if ft.shape is not None and (
        value.ndim != len(ft.shape)
        or any(want is not None and want != got for want, got in zip(ft.shape, value.shape, strict=True))
    ):
        want_s = "(" + ", ".join("?" if d is None else str(d) for d in ft.shape) + ")"
        raise ValueError(f"expected shape {want_s}, got {value.shape}")
    return value


# --- axes that several array fields share by name ---------------------------------------------

_AXES: dict[type, dict[str, list[tuple[str, int]]]] = {}


def shared_axes(cls: type) -> dict[str, list[tuple[str, int]]]:
    """Axis names used by more than one array field: name -> [(field, axis index), ...].

    ``Array(dims=("time",))`` on ``values`` and on ``timestamps`` says both run along the same time
    axis, so a sample whose two arrays disagree in its length is refused (a lens that returns 64
    values against 5 timestamps fails instead of producing a misaligned sample).
    """
    cached = _AXES.get(cls)
    if cached is None:
        seen: dict[str, list[tuple[str, int]]] = {}
        for f in spec_of(cls).fields:
            ft = f.type.inner if isinstance(f.type, OptionalType) else f.type
            if isinstance(ft, ArrayType) and ft.dims:
                for i, dim in enumerate(ft.dims):
                    seen.setdefault(dim, []).append((f.name, i))
        cached = {dim: uses for dim, uses in seen.items() if len(uses) > 1}
        _AXES[cls] = cached
    return cached


def check_shared_axes(sample: Any, axes: dict[str, list[tuple[str, int]]]) -> None:
    values = sample.__dict__
    for dim, uses in axes.items():
        lengths = [
            (name, values[name].shape[i]) for name, i in uses if isinstance(values.get(name), np.ndarray)
        ]
        if len({n for _, n in lengths}) > 1:
            spelled = ", ".join(f"{n} in {name}" for name, n in lengths)
            raise SampleValidationError(
                type(sample).__name__,
                [
                    (
                        ",".join(name for name, _ in lengths),
                        f"axis {dim!r} has different lengths: {spelled}",
                        "",
                    )
                ],
            )


_JSON_SCALARS = (str, int, float, bool, type(None))


def check_json(value: Any, path: str = "") -> None:
    """Raise ValueError unless ``value`` is JSON-like (str keys, no arrays or bytes)."""
    if isinstance(value, _JSON_SCALARS):
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            check_json(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"key {k!r} at {path or '<top>'} is not a string")
            check_json(v, f"{path}.{k}" if path else k)
        return
    raise ValueError(
        f"value at {path or '<top>'} of type {type(value).__name__} is not JSON-like "
        "(use None, bool, int, float, str, list or dict)"
    )


def _json_validator(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a dict with str keys, got {type(value).__name__}")
    check_json(value)
    return value


def pydantic_annotation(ft: FieldType) -> Any:
    """The annotation handed to pydantic for one field type."""
    if isinstance(ft, Scalar):
        return typing.Annotated[SCALAR_TYPES[ft.kind], pydantic.BeforeValidator(SCALAR_COERCERS[ft.kind])]
    if isinstance(ft, ArrayType):
        return typing.Annotated[
            np.ndarray,
            pydantic.PlainValidator(lambda v, _ft=ft: check_array(_ft, v)),
            pydantic.PlainSerializer(lambda v: v, return_type=Any),
        ]
    if isinstance(ft, LiteralType):
        return typing.Literal.__getitem__(ft.values)
    if isinstance(ft, OptionalType):
        nan = not (isinstance(ft.inner, Scalar) and ft.inner.kind == "float")
        return typing.Annotated[
            typing.Optional[pydantic_annotation(ft.inner)],  # noqa: UP045 - built at run time
            pydantic.BeforeValidator(lambda v, _nan=nan: None if is_missing(v, nan=_nan) else v),
        ]
    if isinstance(ft, ListType):
        return typing.Annotated[
            list[pydantic_annotation(ft.inner)],  # type: ignore[misc]  # built at run time, as in fields.py
            pydantic.BeforeValidator(array_as_list),
        ]
    if isinstance(ft, JsonType):
        return typing.Annotated[dict[str, Any], pydantic.PlainValidator(_json_validator)]
    if isinstance(ft, RefType):
        return ft.cls
    raise AssertionError(ft)


def check_default(cls_name: str, f: FieldSpec) -> None:
    """Reject a default that does not fit its own field, at class-definition time."""
    if f.default is MISSING:
        return
    probe = pydantic.TypeAdapter(pydantic_annotation(f.type), config=ConfigDict(strict=True))
    try:
        probe.validate_python(f.default)
    except ValidationError as e:
        raise SampleTypeError(
            f"{cls_name}.{f.name}: default {f.default!r} does not fit the field type: "
            f"{e.errors(include_url=False)[0]['msg']}"
        ) from None
    if isinstance(f.default, np.ndarray):
        raise SampleTypeError(f"{cls_name}.{f.name}: array defaults are not supported")


# --- attribute docstrings -------------------------------------------------------------------


def attribute_docs(cls: type) -> dict[str, str]:
    """Docstrings written as a string literal right under a field, as PEP 257 suggests."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return {}
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    body = node.body
    for prev, cur in itertools.pairwise(body):
        if (
            isinstance(prev, ast.AnnAssign)
            and isinstance(prev.target, ast.Name)
            and isinstance(cur, ast.Expr)
            and isinstance(cur.value, ast.Constant)
            and isinstance(cur.value.value, str)
        ):
            docs[prev.target.id] = inspect.cleandoc(cur.value.value)
    return docs


# --- the decorator --------------------------------------------------------------------------


def is_packable(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, Packable) and cls is not Packable


def spec_of(cls: type) -> TypeSpec:
    """The field model of a packable class (or of an instance's class)."""
    if not isinstance(cls, type):
        cls = type(cls)
    # is_packable's test, spelled out so the type checker sees the class is a Packable.
    if not (issubclass(cls, Packable) and cls is not Packable):
        raise SampleTypeError(f"{cls!r} is not a sample type; decorate it with @atdata.packable")
    return cls.__atdata_spec__


def build_class(
    spec: TypeSpec,
    *,
    bases: tuple[type, ...] = (),
    namespace: dict[str, Any] | None = None,
    qualname: str | None = None,
) -> type[Packable]:
    """Make the pydantic-backed class for a :class:`TypeSpec` (used by the decorator and schemas)."""
    ns: dict[str, Any] = dict(namespace or {})
    annotations: dict[str, Any] = {}
    for f in spec.fields:
        annotations[f.name] = pydantic_annotation(f.type)
        kwargs: dict[str, Any] = {}
        if f.doc:
            kwargs["description"] = f.doc
        if f.default is not MISSING:
            kwargs["default"] = f.default
        ns[f.name] = pydantic.Field(**kwargs)
    ns["__annotations__"] = annotations
    ns["__module__"] = spec.module or __name__
    ns["__qualname__"] = qualname or spec.name
    ns["__doc__"] = spec.doc
    ns.pop("__dict__", None)
    ns.pop("__weakref__", None)
    try:
        cls = type(spec.name, bases or (Packable,), ns)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as e:
        raise SampleTypeError(f"{spec.name}: cannot build the sample type: {e}") from e
    type.__setattr__(cls, "__atdata_spec__", spec)
    return typing.cast(type[Packable], cls)


def _own_hints(cls: type) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    globalns = dict(vars(module)) if module else {}
    own = inspect.get_annotations(cls)
    try:
        hints = typing.get_type_hints(cls, globalns=globalns, localns=dict(vars(cls)), include_extras=True)
    except NameError as e:
        raise SampleTypeError(
            f"{cls.__qualname__}: cannot resolve an annotation ({e}); define nested types before use"
        ) from e
    return {
        k: hints[k] for k in own if typing.get_origin(hints[k]) is not ClassVar and hints[k] is not ClassVar
    }


@dataclass_transform(kw_only_default=True, field_specifiers=(pydantic.Field, FieldInfo))
def packable(cls: type[T]) -> type[T]:
    """Make ``cls`` a sample type: validated on construction, packable into shards, publishable.

    Fields may be str, int, float, bool, bytes, NDArray (optionally ``Annotated`` with
    :class:`atdata.Array` for dtype/shape), ``Literal[...]``, ``X | None`` with a default,
    ``list[...]`` of these, ``dict[str, Any]`` of JSON-like values, and other packable classes.
    Document a field with a string literal right under it.
    """
    if not isinstance(cls, type):
        raise SampleTypeError(f"@atdata.packable decorates classes, not {cls!r}")
    if is_packable(cls):
        return cls
    bases = tuple(b for b in cls.__bases__ if b is not object)
    for b in bases:
        if not is_packable(b):
            raise SampleTypeError(
                f"{cls.__qualname__}: base class {b.__qualname__} is not a sample type; "
                "sample types may only inherit from other @atdata.packable classes"
            )
    docs = attribute_docs(cls)
    inherited: list[FieldSpec] = []
    for b in bases:
        for f in spec_of(b).fields:
            if all(f.name != g.name for g in inherited):
                inherited.append(f)
    own: list[FieldSpec] = []
    for name, hint in _own_hints(cls).items():
        where = f"{cls.__qualname__}.{name}"
        if name.startswith("_"):
            raise SampleTypeError(f"{where}: field names may not start with an underscore")
        ft, unit, doc = field_type_of(hint, where)
        raw_default = cls.__dict__.get(name, MISSING)
        default = raw_default
        if isinstance(raw_default, FieldInfo):
            doc = doc or raw_default.description
            default = raw_default.default
            if default is pydantic_core_undefined():
                default = MISSING
        own.append(FieldSpec(name, ft, default, doc or docs.get(name), unit))
    fields = [f for f in inherited if all(f.name != o.name for o in own)] + own
    for f in fields:
        check_default(cls.__qualname__, f)
    spec = TypeSpec(
        name=cls.__name__,
        fields=tuple(fields),
        doc=inspect.cleandoc(cls.__doc__) if cls.__doc__ else None,
        module=cls.__module__,
    )
    ns = {
        k: v
        for k, v in cls.__dict__.items()
        if k not in ("__annotations__", "__dict__", "__weakref__") and k not in {f.name for f in own}
    }
    return typing.cast(
        type[T], build_class(spec, bases=bases or (Packable,), namespace=ns, qualname=cls.__qualname__)
    )


def pydantic_core_undefined() -> Any:
    from pydantic_core import PydanticUndefined

    return PydanticUndefined


# --- fast paths for the codec ---------------------------------------------------------------


def construct_unchecked(cls: type[T], values: dict[str, Any]) -> T:
    """Build an instance from already-checked, complete field values without re-validating.

    Only for callers that have checked every field themselves (the codec's decoder does).
    """
    obj = _new(cls)
    _set_dict(obj, values)
    _set_fields_set(obj, set(values))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


# Bound once: the codec calls construct_unchecked per sample, and these lookups showed up there.
# BaseModel's slot descriptors, called directly, skip object.__setattr__'s lookup by name.
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def as_plain(value: Any) -> Any:
    """A sample (or field value) as plain data: dicts for samples, arrays left as arrays, datetimes as
    ISO 8601 text (as shards and records hold them; :func:`restore_datetimes` reads them back)."""
    if isinstance(value, Packable):
        return {f.name: as_plain(value.__dict__[f.name]) for f in value.__atdata_spec__.fields}
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return value


def restore_datetimes(cls: type, values: Any) -> Any:
    """A plain field dict of ``cls`` with the ISO 8601 text of its datetime fields read back.

    Only where the field is a datetime, so strings elsewhere stay strings (and strictness holds).
    """
    fields = _DATETIME_FIELDS.get(cls)
    if fields is None:
        fields = [f for f in spec_of(cls).fields if _holds_datetime(f.type)] if is_packable(cls) else []
        _DATETIME_FIELDS[cls] = fields
    if not fields or not isinstance(values, dict):
        return values
    out = dict(values)
    for f in fields:
        if f.name in out:
            out[f.name] = _restore(f.type, out[f.name])
    return out


_DATETIME_FIELDS: dict[type, list[FieldSpec]] = {}


def _holds_datetime(ft: FieldType) -> bool:
    if isinstance(ft, (OptionalType, ListType)):
        return _holds_datetime(ft.inner)
    if isinstance(ft, RefType):
        return any(_holds_datetime(f.type) for f in spec_of(ft.cls).fields)
    return isinstance(ft, Scalar) and ft.kind == "datetime"


def _restore(ft: FieldType, v: Any) -> Any:
    if isinstance(ft, OptionalType):
        return None if v is None else _restore(ft.inner, v)
    if isinstance(ft, Scalar) and ft.kind == "datetime" and isinstance(v, str):
        try:
            return _dt.datetime.fromisoformat(v)
        except ValueError:
            return v  # the strict check names the field
    if isinstance(ft, ListType) and isinstance(v, list):
        return [_restore(ft.inner, x) for x in v]
    if isinstance(ft, RefType):
        return restore_datetimes(ft.cls, v)
    return v


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` hook that shows arrays as summaries (for logs and previews)."""
    if isinstance(value, np.ndarray):
        return {"ndarray": {"dtype": str(value.dtype), "shape": list(value.shape)}}
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
