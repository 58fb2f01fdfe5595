"""Round trips over generated sample types: type -> record -> type, and record -> module -> record."""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import keyword
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atdata.schema import from_schema, generate_module, schema_of
from atdata.types.fields import (
    MISSING,
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
)
from atdata.types.packable import build_class

WHEN = "2026-11-21T08:00:00.000Z"

Leaf = build_class(TypeSpec("Leaf", (FieldSpec("v", Scalar("int")),), doc="A leaf."))
Branch = build_class(
    TypeSpec("Branch", (FieldSpec("leaf", RefType(Leaf)), FieldSpec("w", Scalar("float"), 0.5)))
)

names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda n: (
        not keyword.iskeyword(n)
        and not keyword.issoftkeyword(n)
        # pydantic reserves model_config; codegen refuses defaulted fields that hide builtins it uses
        and n not in {"model_config", "str", "int", "float", "bool", "bytes", "list", "dict"}
    )
)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
clean_texts = texts.filter(lambda t: t == inspect.cleandoc(t) and t.strip() != "")
scalars = st.sampled_from(["str", "int", "float", "bool", "bytes"]).map(Scalar)
arrays = st.builds(
    lambda dtype, shape, named: ArrayType(
        dtype, shape, tuple(f"d{i}" for i in range(len(shape))) if named and shape is not None else None
    ),
    st.sampled_from([None, "float32", "uint16", "int64", "bool", ">f4"]),
    st.none() | st.lists(st.none() | st.integers(0, 512), max_size=4).map(tuple),
    st.booleans(),
)
literals = (
    st.lists(st.text(max_size=5) | st.integers(-5, 5), min_size=1, max_size=4, unique=True)
    .filter(lambda vs: len({(type(v), v) for v in vs}) == len(vs))
    .map(lambda vs: LiteralType(tuple(vs)))
)
refs = st.sampled_from([RefType(Leaf), RefType(Branch)])
base_types: st.SearchStrategy[FieldType] = scalars | arrays | literals | st.just(JsonType()) | refs
field_types = st.recursive(
    base_types,
    lambda inner: (
        inner.filter(lambda t: not isinstance(t, OptionalType)).map(OptionalType) | inner.map(ListType)
    ),
    max_leaves=3,
)


def default_for(ft: FieldType) -> st.SearchStrategy[Any]:
    if isinstance(ft, OptionalType):
        return st.just(None)
    if isinstance(ft, Scalar):
        return {
            "str": texts,
            "int": st.integers(-(2**62), 2**62),
            "float": st.floats(allow_nan=False),  # nan defaults compare unequal to themselves
            "bool": st.booleans(),
            "bytes": st.binary(max_size=8),
        }[ft.kind]
    if isinstance(ft, LiteralType):
        return st.sampled_from(ft.values)
    if isinstance(ft, ListType) and isinstance(ft.inner, Scalar):
        return st.lists(default_for(ft.inner), max_size=3)
    if isinstance(ft, JsonType):
        return st.dictionaries(
            st.text(max_size=4), st.none() | st.integers() | st.floats(allow_nan=False), max_size=3
        )
    return st.just(MISSING)


@st.composite
def fields(draw: st.DrawFn, doc_text: st.SearchStrategy[str]) -> FieldSpec:
    ft = draw(field_types)
    default = draw(st.just(MISSING) | default_for(ft))
    doc = draw(st.none() | doc_text)
    unit = draw(
        st.none()
        | st.text(st.characters(codec="ascii", min_codepoint=33, max_codepoint=126), min_size=1, max_size=8)
    )
    return FieldSpec("?", ft, default, doc, unit)


@st.composite
def specs(draw: st.DrawFn, doc_text: st.SearchStrategy[str]) -> TypeSpec:
    field_names = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    fs = [draw(fields(doc_text)) for _ in field_names]
    doc = draw(st.none() | doc_text)
    named = tuple(
        FieldSpec(n, f.type, f.default, f.doc, f.unit) for n, f in zip(field_names, fs, strict=True)
    )
    return TypeSpec("Generated", named, doc=doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(texts))
def test_any_sample_type_survives_record_and_back(spec: TypeSpec) -> None:
    record = schema_of(build_class(spec), created_at=WHEN)
    assert schema_of(from_schema(record), created_at=WHEN) == record


_counter = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(clean_texts))
def test_any_record_survives_a_generated_module(spec: TypeSpec) -> None:
    record = schema_of(build_class(spec), created_at=WHEN)
    name = f"generated_roundtrip_{next(_counter)}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.py"
        path.write_text(generate_module(record), encoding="utf-8")
        module_spec = importlib.util.spec_from_file_location(name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
            assert schema_of(module.Generated, created_at=WHEN) == record
        finally:
            del sys.modules[name]
