"""The dialect check: what passes, what is reported, and that it never runs or crashes on input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atdata.errors import LensValidationError, Violation
from atdata.sandbox import check_source, dialect, validate_source

CLEAN = '''\
"""A lens in the dialect: every allowed form at least once."""
import math
import numpy as np

SCALE: float = 2.0
TABLE = {"a": 1, "b": -2}


def helper(x: float, factor=1.5, *rest, **named) -> float:
    return x * factor


def get(source: Frame) -> Out:
    md = source.metadata or {}
    values = [v for v in md.get("values", []) if v is not None]
    squares = {k: v ** 2 for k, v in TABLE.items()}
    total = 0
    for i, v in enumerate(values):
        if i > 10:
            break
        total += v
    else:
        total -= 1
    while total > 100:
        total //= 2
    try:
        ratio = total / len(values)
    except ZeroDivisionError as e:
        ratio = float("nan")
    finally:
        pass
    if (n := len(values)) > 3:
        assert n > 0, "never"
    label = f"{source.name!r}: {ratio:.3f} {'%d items' % n}"
    first, *others = values or [0]
    del others
    image = np.clip(source.image * SCALE, 0, 1).astype(np.float32)
    key = sorted(squares, key=lambda k: squares[k])[0]
    return Out(image=image, label=label, norm=math.sqrt(helper(total)), key=key)


def put(view, source):
    return Frame(source, image=view.image / SCALE)
'''


def reasons(source: str) -> list[str]:
    return [v.reason for v in validate_source(source)]


def test_code_using_every_allowed_form_is_clean() -> None:
    assert validate_source(CLEAN) == []


def test_every_violation_is_reported_at_once_in_position_order() -> None:
    source = "import os\ndef get(source):\n    x = eval('1')\n    return source.__class__\n"
    assert validate_source(source) == [
        Violation(1, 7, "import of 'os' is not allowed; allowed: `import numpy as np`, `import math`"),
        Violation(3, 8, "'eval' is not available in lens code"),
        Violation(4, 18, "attribute '__class__' starts with an underscore"),
    ]


def test_check_source_raises_with_the_violations_and_where() -> None:
    with pytest.raises(LensValidationError) as e:
        check_source("def get(source):\n    return open('x')\n", filename="lens.py")
    assert e.value.where == "lens.py"
    assert e.value.violations == [Violation(2, 11, "'open' is not available in lens code")]
    assert "lens.py:2:11: 'open' is not available in lens code" in str(e.value)


def test_syntax_errors_are_violations_with_a_position() -> None:
    [violation] = validate_source("def get(source):\n    return (\n")
    assert violation.line >= 2 and violation.reason.startswith("syntax error")


def test_a_module_without_get_or_put_is_refused() -> None:
    assert reasons("x = 1\n") == ["lens code must define get(source) and/or put(view, source)"]


@pytest.mark.parametrize(
    "source",
    ["def get():\n    return {}\n", "def get(a, b):\n    return {}\n", "def put(view):\n    return {}\n"],
    ids=["get-without-source", "get-with-two", "put-with-one"],
)
def test_get_and_put_must_take_their_parameters(source: str) -> None:
    assert any("positional parameter" in r for r in reasons(source))


REFUSED_SNIPPETS: list[tuple[str, str]] = [
    ("del source.x", "assigning or deleting attributes"),
    ("for source.x in []: pass", "assigning or deleting attributes"),
    ("(math := 1)", "can't be rebound"),
    ("nonlocal x", "nonlocal statements"),
    ("x = np.lib", "np.lib is not in the dialect's numpy whitelist"),
    ("x = np.linalg.lapack_lite", "np.linalg.lapack_lite is not in"),
    ("x = math.factorial(10**6)", "math.factorial is not in"),
    ("x = [y async for y in z]", "async comprehensions"),
    ("await x", "await is not allowed"),
    ("x = source._fields", "'_fields' starts with an underscore"),
    ("x = __debug__", "dunder names"),
    ("f(__class__=1)", "starts with an underscore"),
    ("type = 3", "'type' is not available"),
    ("x: 'evil()' = 1", "annotations must be plain"),
]


@pytest.mark.parametrize(("snippet", "reason"), REFUSED_SNIPPETS)
def test_refused_construct(snippet: str, reason: str) -> None:
    source = f"import numpy as np\nimport math\ndef get(source):\n    {snippet}\n    return {{}}\n"
    assert any(reason in r for r in reasons(source)), reasons(source)


def test_non_ascii_text_in_strings_and_comments_is_fine() -> None:
    assert validate_source("# température\ndef get(source):\n    return {'unit': 'µm'}\n") == []


def test_every_whitelisted_numpy_and_math_name_exists() -> None:
    for name in dialect.NUMPY_FUNCTIONS | dialect.NUMPY_DTYPES | dialect.NUMPY_CONSTANTS:
        assert hasattr(np, name), name
    for sub, names in dialect.NUMPY_SUBMODULES.items():
        for name in names:
            assert hasattr(getattr(np, sub), name), f"np.{sub}.{name}"
    for name in dialect.MATH_NAMES:
        assert hasattr(math, name), name
    for type_name, attrs in dialect.BUILTIN_TYPE_ATTRIBUTES.items():
        cls = __builtins__[type_name] if isinstance(__builtins__, dict) else getattr(__builtins__, type_name)
        for attr in attrs:
            assert hasattr(cls, attr), f"{type_name}.{attr}"


def test_whitelisted_numpy_names_have_no_file_pickle_or_memory_doors() -> None:
    doors = {"load", "save", "savez", "savetxt", "loadtxt", "fromfile", "tofile", "memmap", "DataSource",
             "genfromtxt", "fromregex", "empty", "empty_like", "ctypeslib", "lib", "f2py", "ma", "testing",
             "set_printoptions", "seterrcall", "seterr", "random", "sctypeDict", "vectorize", "frompyfunc",
             "ndarray", "object_", "void", "record"}  # fmt: skip
    exposed = (
        dialect.NUMPY_FUNCTIONS
        | dialect.NUMPY_DTYPES
        | dialect.NUMPY_CONSTANTS
        | set(dialect.NUMPY_SUBMODULES)
    )
    assert not doors & exposed
    assert (
        not {"tofile", "dump", "dumps", "base", "data", "ctypes", "view", "setflags"}
        & dialect.NDARRAY_ATTRIBUTES
    )


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_validator_never_raises_on_arbitrary_text(source: str) -> None:
    assert isinstance(validate_source(source), list)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=4000), st.sampled_from(["(", "[", "{", "-", "not ", "lambda: "]))
def test_validator_survives_pathological_nesting(depth: int, opener: str) -> None:
    closer = {"(": ")", "[": "]", "{": "}"}.get(opener, "")
    source = "def get(source):\n    return " + opener * depth + "1" + closer * depth + "\n"
    result = validate_source(source)
    assert isinstance(result, list)
