"""The atdata lens dialect: the subset of Python that published lens code may use.

Lens code is published by strangers and runs on other people's machines, so it is written in a
small, checkable dialect of Python 3.11. ``atdata lens check FILE`` reports every place a file
leaves it (``FILE:line:col: reason``). This module is the reference: the tables below are what the
static check (:mod:`atdata.sandbox.dialect_check`) and the compiler (:mod:`atdata.sandbox.instrument`)
and guards (:mod:`atdata.sandbox.guards`) enforce.

Shape of a lens module
----------------------
A lens module defines ``get(source)`` and/or ``put(view, source)`` at the top level::

    import math
    import numpy as np

    def get(source):
        md = source.metadata or {}
        return Target(image=np.clip(source.image, 0, 1), t=md.get("t", 0.0) * 1e-3)

Inside the module the names of the lens's source and target sample types (``Target`` above) are
bound to *record factories*: ``Target(image=..., t=...)`` builds a read-only record with those
fields. ``source`` is such a record; its fields are read as attributes (``source.image``). Fields
that hold nested sample types are records too; ``dict[str, Any]`` (JSON) fields are plain dicts
and lists (private copies: changing them changes nothing outside the lens). Arrays arrive
read-only; compute new arrays instead of writing into them. ``get`` returns a target record or a
dict of the target's fields; ``put(view, source)`` returns a source record or dict.
``Target(source, t=0.0)`` copies the fields of record ``source`` and overrides ``t``. What a lens
returns must be plain data: None, bool, int, float, str, bytes, arrays of plain dtypes, lists,
str-keyed dicts and records (numpy scalars become Python numbers).

Text
----
- UTF-8 only; a coding declaration (``# -*- coding: ... -*-``) is refused.
- At most :data:`MAX_SOURCE_CHARS` characters and :data:`MAX_LINES` lines; brackets nest at most
  :data:`MAX_BRACKET_DEPTH` deep, blocks at most :data:`MAX_BLOCK_DEPTH` deep, and one statement
  holds at most :data:`MAX_OPERATORS_PER_STATEMENT` operators (these bounds are checked by a
  tokenizer pass before the code is parsed at all).
- Identifiers are ASCII (Python folds look-alike letters such as fullwidth ``ｅｘｅｃ`` into
  ``exec`` when compiling, so they are refused rather than interpreted).

Statements and expressions
--------------------------
Allowed: function definitions (``def``, also nested), assignments (plain, augmented, annotated,
unpacking, walrus), ``if``/``elif``/``else``, ``for``/``while`` with ``break``/``continue``/``else``,
``return``, ``pass``, ``assert``, ``raise``, ``try``/``except Name``/``else``/``finally``, ``del``
of names and items, comprehensions, generator expressions, conditional expressions, ``lambda``
(without default values), f-strings and ``%`` formatting, slicing, ``*args``/``**kwargs``.

Refused: ``class``; ``global``/``nonlocal``; ``async``/``await``; ``yield`` (generator functions);
decorators; ``with``; ``match``; ``except*``; a bare ``except:``; parameter defaults that are
not literal constants; annotations that are not plain names, dotted names or subscripts of them
(annotations are checked, then dropped: they are never evaluated); assigning or deleting
attributes; imports other than those in :data:`ALLOWED_IMPORTS`, and imports anywhere but the
top level.

Names
-----
- No name starts with two underscores (no dunders at all) or with ``_atdata`` (reserved).
- No attribute starts with an underscore, and none is in :data:`FORBIDDEN_ATTRIBUTES` (frame,
  code, traceback and format-string doors that exist on ordinary objects). Otherwise attribute
  names are free, since record fields can be called anything; the runtime checks the rest.
- Builtins are exactly :data:`ALLOWED_BUILTINS`; any other Python builtin (``exec``, ``eval``,
  ``open``, ``getattr``, ``type``, ``print``, ...) is refused by name, even as a local variable.
- ``np`` and ``math`` can't be rebound. ``np.<name>`` must be in :data:`NUMPY_FUNCTIONS`,
  :data:`NUMPY_DTYPES`, :data:`NUMPY_CONSTANTS` or a submodule in :data:`NUMPY_SUBMODULES`;
  ``math.<name>`` must be in :data:`MATH_NAMES`.

At run time
-----------
Attribute reads are checked again on the actual object (the validator cannot know types):
records expose their fields; arrays expose :data:`NDARRAY_ATTRIBUTES`; numpy scalars
:data:`NUMPY_SCALAR_ATTRIBUTES`; dtypes :data:`DTYPE_ATTRIBUTES`; ``str``, ``bytes``, ``dict``,
``list``, ``tuple``, ``set`` and numbers the methods in :data:`BUILTIN_TYPE_ATTRIBUTES`;
exceptions only ``args`` (plain values; anything else as its repr). Everything else (functions,
generators, classes, iterators, ...) has no readable attributes. Arrays with object, structured
or void dtypes are refused wherever they would appear. ``x ** y``, ``x << y`` and ``x * y``
refuse integers and sequences larger than :data:`MAX_INT_BITS` bits or
:data:`MAX_SEQUENCE_LENGTH` items, ``range`` at most :data:`MAX_RANGE` steps, and every loop
iteration and function call counts against the batch's wall-clock budget.

Where it runs
-------------
``process`` (the default of :meth:`atdata.Lens.from_source`, and what a trust policy gives every
author it does not trust) runs lens code in a fresh worker process with CPU, memory, file and
process limits, a seccomp filter and a wall-clock kill: use it for code you have not reviewed.
``inline`` runs it in the caller's process behind the same checks, for trusted authors only; what
it does not bound is listed in :mod:`atdata.sandbox.inline`.

Attack classes defended against
-------------------------------
Every byte of lens source, every op list and every value a worker sends back may be an attacker's.
The classes below are defended as classes, each by the layers named.

1. **Parser attacks** (deep brackets, long operator or comparison chains, nesting inside f-strings
   and their format specs, implicit string concatenation, long ``elif`` chains, huge files, NUL
   bytes, byte-order marks, coding declarations such as utf-7): the lexical gate
   (:mod:`atdata.sandbox.gate`) reads the text as a flat token stream with loops and counters only,
   scans f-strings character by character, and refuses anything past the ``MAX_*`` bounds above
   before any parser runs; the libcst check then runs in a locked-down child process
   (:mod:`atdata.sandbox.checker`) with CPU, memory and wall-clock limits, whose crash or timeout is
   a refusal naming the lens and the reason. This holds for every entry point: ``from_source``,
   ``atdata lens check``, publishing, the record fetcher and the appview's ingest.
2. **Look-alike names** (fullwidth or mathematical letters that Python folds into ``exec`` or
   ``__class__``): identifiers must be ASCII, inside f-strings too; the text that was checked is
   exactly the text compiled.
3. **Introspection escapes** (dunders, frames and tracebacks, ``AttributeError.obj``, ``except*``,
   format strings that look attributes up at run time, ``match`` class patterns, code run at
   definition time by decorators, defaults and annotations): refused statically by name, then
   every attribute read is checked again at run time against the object's actual type
   (:data:`NDARRAY_ATTRIBUTES`, :data:`BUILTIN_TYPE_ATTRIBUTES`, ...); annotations are dropped
   unevaluated; exceptions expose only plain ``args``.
4. **Library doors** (numpy submodules that reach ``os``, ``subprocess``, ``ctypes`` or a C
   compiler; file, pickle and URL I/O; raw memory through object dtypes, ``as_strided`` or
   ``empty``; process-wide state such as ``sctypeDict``, print options, error callbacks, random
   seeds): lens code never holds a module, only proxies exposing :data:`NUMPY_FUNCTIONS` and
   friends, and results of object, structured or void dtypes are refused.
5. **Resource exhaustion** (huge integers, repeated sequences, ranges, endless loops including
   ``finally: continue``, ``iter(f, sentinel)`` consumed by C loops, three-argument ``pow``, ``round``
   to huge negative digits, ``sum`` of lists, single ``einsum``/``convolve``/``correlate`` calls):
   size guards on ``**``, ``<<``, ``*``, ``range``, ``pow``, ``round`` and ``sum``; every loop,
   comprehension, call and sentinel-iterator step ticks a wall-clock budget that stays spent once
   spent; the cost of ``einsum``, ``convolve`` and ``correlate`` is estimated from the shapes
   (:data:`MAX_CALL_OPS`) before the call; in a worker, CPU and address-space limits and the host's
   wall-clock kill bound everything else.
6. **Leaving the process** (files, sockets, child processes, privileges, state left for the next
   lens): a worker is a fresh interpreter, never a fork of the caller, started without the
   caller's environment; it preloads what numpy imports lazily (``numpy.ma``), then locks itself
   down: resource limits, an unprivileged user, no-new-privileges and a default-deny seccomp filter.
7. **The host after the worker answers**: nothing is unpickled (msgpack and raw array buffers of
   plain dtypes only); the host accepts at most the worker's memory limit per answer, with an
   array referenced several times sent once; output conversion stops after
   :data:`atdata.sandbox.lens_records.MAX_OUTPUT_NODES` values counted expanded, so a value repeating
   one list many levels deep cannot blow up; exception text is built through a bounded repr;
   captured output is capped; ``StopIteration``, ``SystemExit`` and every ``BaseException`` are
   caught at the boundary and reported as the lens's failure.
8. **The caller's data**: a lens never receives the caller's objects. In a worker inputs are
   read-only copies by construction; inline, arrays are read-only views of private copies (matrix,
   memmap and other ndarray subclasses become plain arrays, masked arrays are refused), every
   mapping type and list is copied.
9. **Declarative lenses**: op lists are data, but bounded like code: ``dtypeCast`` only to plain
   numeric dtypes (no strings, voids, objects or subarray shapes), each cast's output size checked
   before allocation, and constants checked for depth and size before they are decoded
   (:mod:`atdata.lenses.declarative`).
10. **Tools that run lens code**: ``atdata lens laws FILE`` reads FILE as lens code and never
    imports it; getter and putter run in workers under limits, and a broken limit fails the check.
"""

from __future__ import annotations

import builtins

# --- text bounds, enforced before parsing -----------------------------------------------------

MAX_SOURCE_CHARS = 65_536
MAX_LINES = 2_000
MAX_BRACKET_DEPTH = 32
MAX_BLOCK_DEPTH = 16
MAX_OPERATORS_PER_STATEMENT = 400
MAX_TOKENS = 20_000
MAX_ELIF_CHAIN = 64

# --- runtime size bounds ----------------------------------------------------------------------

MAX_INT_BITS = 1 << 20
MAX_SEQUENCE_LENGTH = 1 << 26
MAX_RANGE = 1 << 27
MAX_MODPOW_COST = 1 << 26
MAX_ROUND_DIGITS = 4096
#: Multiply-adds one numpy call (einsum, convolve, correlate, matmul, ...) may cost; estimated from
#: the shapes before the call, since no Python-level budget can interrupt a call once it runs.
MAX_CALL_OPS = 1 << 32

# --- imports ----------------------------------------------------------------------------------

#: ``import <module> as <alias>`` forms allowed, as module -> the one alias it must be bound to.
ALLOWED_IMPORTS: dict[str, str] = {"numpy": "np", "math": "math"}

# --- builtins ---------------------------------------------------------------------------------

ALLOWED_BUILTINS: frozenset[str] = frozenset(
    {
        # constructors and conversions
        "bool", "int", "float", "complex", "str", "bytes", "list", "tuple", "dict", "set",
        "frozenset", "slice",
        # pure functions
        "abs", "all", "any", "ascii", "bin", "callable", "chr", "divmod", "enumerate", "filter",
        "hex", "isinstance", "iter", "len", "map", "max", "min", "next", "oct", "ord", "pow",
        "range", "repr", "reversed", "round", "sorted", "sum", "zip",
        # exceptions lens code may raise or catch
        "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError",
        "KeyError", "LookupError", "NotImplementedError", "OverflowError", "RuntimeError",
        "StopIteration", "TypeError", "ValueError", "ZeroDivisionError",
    }
)  # fmt: skip

#: Every Python builtin the dialect leaves out (``exec``, ``open``, ``type``, ``print``, ...).
FORBIDDEN_BUILTINS: frozenset[str] = frozenset(
    n for n in dir(builtins) if n not in ALLOWED_BUILTINS and n not in {"True", "False", "None"}
) | frozenset({"__import__", "__builtins__", "__build_class__", "exec", "eval", "compile"})

# --- attributes -------------------------------------------------------------------------------

#: Attribute names refused statically on any object: frames, code objects, tracebacks and the
#: exception-object back doors. Record fields may otherwise have any name, so everything else
#: (``format`` on a string, ``tofile`` on an array, ``obj`` on an exception) is refused by the
#: runtime once it knows the object's type.
FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "cr_frame", "cr_code", "cr_await",
        "ag_frame", "ag_code", "ag_await", "tb_frame", "tb_next", "tb_lasti", "f_back", "f_globals",
        "f_locals", "f_builtins", "f_code", "f_trace", "co_code", "co_consts", "co_names",
        "func_globals", "func_code", "mro", "with_traceback", "format_map",
    }
)  # fmt: skip

#: Methods refused statically when called on a string literal (``"{0.x}".format(s)``).
FORBIDDEN_STRING_METHODS: frozenset[str] = frozenset({"format", "format_map"})

# --- numpy ------------------------------------------------------------------------------------

NUMPY_DTYPES: frozenset[str] = frozenset(
    {
        "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "complex64", "complex128",
    }
)  # fmt: skip

NUMPY_CONSTANTS: frozenset[str] = frozenset({"pi", "e", "inf", "nan", "newaxis", "euler_gamma"})

#: numpy functions reachable as ``np.<name>``: array creation from values, shape manipulation,
#: element-wise math, reductions and sorting. Nothing that reads or writes files, pickles, takes
#: raw memory (``empty``, ``as_strided``, ``ndarray(buffer=)``), runs callbacks or sets global state.
NUMPY_FUNCTIONS: frozenset[str] = frozenset(
    {
        # creation
        "array", "asarray", "ascontiguousarray", "zeros", "ones", "full", "zeros_like",
        "ones_like", "full_like", "arange", "linspace", "logspace", "geomspace", "eye", "identity",
        "diag", "tri", "tril", "triu", "meshgrid", "indices", "frombuffer", "copy", "dtype",
        # shape
        "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "squeeze", "expand_dims",
        "concatenate", "stack", "vstack", "hstack", "dstack", "column_stack", "split",
        "array_split", "tile", "repeat", "flip", "fliplr", "flipud", "rot90", "roll", "pad",
        "broadcast_to", "atleast_1d", "atleast_2d", "atleast_3d", "shape", "ndim", "size",
        # element-wise
        "abs", "absolute", "negative", "sign", "sqrt", "cbrt", "square", "exp", "exp2", "expm1",
        "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
        "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "degrees", "radians",
        "deg2rad", "rad2deg", "hypot", "floor", "ceil", "trunc", "rint", "round", "around", "clip",
        "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "power", "mod",
        "remainder", "fmod", "maximum", "minimum", "fmax", "fmin", "real", "imag", "conj",
        "angle", "isnan", "isinf", "isfinite", "nan_to_num", "where", "select", "logical_and",
        "logical_or", "logical_not", "logical_xor", "equal", "not_equal", "less", "less_equal",
        "greater", "greater_equal", "bitwise_and", "bitwise_or", "bitwise_xor", "invert",
        "left_shift", "right_shift", "isclose", "allclose", "array_equal", "interp",
        # reductions and statistics
        "sum", "prod", "mean", "median", "std", "var", "min", "max", "amin", "amax", "argmin",
        "argmax", "ptp", "cumsum", "cumprod", "diff", "gradient", "percentile", "quantile",
        "nansum", "nanmean", "nanstd", "nanvar", "nanmin", "nanmax", "nanmedian", "nanargmin",
        "nanargmax", "average", "count_nonzero", "all", "any", "histogram", "bincount",
        "digitize", "trace", "dot", "vdot", "inner", "outer", "matmul", "tensordot", "einsum",
        "cross", "kron", "convolve", "correlate",
        # sorting and searching
        "sort", "argsort", "searchsorted", "unique", "nonzero", "flatnonzero", "argwhere",
        "take", "take_along_axis", "isin", "intersect1d", "union1d", "setdiff1d",
    }
)  # fmt: skip

#: ``np.<submodule>.<name>`` allowed, per submodule.
NUMPY_SUBMODULES: dict[str, frozenset[str]] = {
    "linalg": frozenset({"norm", "det", "inv", "pinv", "solve", "lstsq", "svd", "eig", "eigh",
                         "eigvals", "eigvalsh", "qr", "cholesky", "matrix_rank", "slogdet"}),
    "fft": frozenset({"fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2",
                      "irfft2", "fftfreq", "rfftfreq", "fftshift", "ifftshift"}),
}  # fmt: skip

#: Attributes readable on an ``ndarray``.
NDARRAY_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "shape", "dtype", "ndim", "size", "itemsize", "nbytes", "T", "real", "imag",
        "astype", "reshape", "ravel", "flatten", "transpose", "swapaxes", "squeeze", "copy",
        "sum", "prod", "mean", "std", "var", "min", "max", "argmin", "argmax", "cumsum",
        "cumprod", "round", "clip", "any", "all", "nonzero", "tolist", "item", "tobytes", "dot",
        "conj", "conjugate", "sort", "argsort", "searchsorted", "repeat", "take", "fill",
        "diagonal", "trace", "compress",
    }
)  # fmt: skip

#: Attributes readable on a numpy scalar (``np.float32(1.5)``, ``a.sum()``).
NUMPY_SCALAR_ATTRIBUTES: frozenset[str] = frozenset(
    {"dtype", "item", "tolist", "real", "imag", "shape", "ndim", "size", "itemsize", "nbytes",
     "astype", "round", "conjugate"}
)  # fmt: skip

#: Attributes readable on a ``np.dtype``.
DTYPE_ATTRIBUTES: frozenset[str] = frozenset({"name", "kind", "itemsize", "char", "str", "byteorder"})

# --- math -------------------------------------------------------------------------------------

#: ``math.<name>`` allowed. ``factorial``, ``comb`` and ``perm`` are left out: they can spend
#: unbounded time in one uninterruptible call.
MATH_NAMES: frozenset[str] = frozenset(
    {
        "pi", "e", "tau", "inf", "nan",
        "sqrt", "isqrt", "exp", "expm1", "log", "log2", "log10", "log1p", "pow", "sin", "cos",
        "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
        "atanh", "floor", "ceil", "trunc", "fabs", "fmod", "copysign", "hypot", "isfinite",
        "isinf", "isnan", "isclose", "degrees", "radians", "gcd", "fsum", "modf", "frexp",
        "ldexp", "erf", "erfc", "gamma", "lgamma", "dist",
    }
)  # fmt: skip

# --- methods of builtin types -----------------------------------------------------------------

_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "encode", "endswith", "find", "index", "isalnum",
        "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric",
        "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition",
        "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition",
        "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
        "upper", "zfill",
    }
)  # fmt: skip
_BYTES_METHODS = frozenset(
    {"count", "decode", "endswith", "find", "hex", "index", "join", "lower", "lstrip", "replace",
     "rstrip", "split", "startswith", "strip", "upper"}
)  # fmt: skip
_NUMBER_ATTRIBUTES = frozenset({"real", "imag", "conjugate"})

#: Attributes readable on values of builtin types, by type name.
BUILTIN_TYPE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "str": _STR_METHODS,
    "bytes": _BYTES_METHODS,
    "dict": frozenset({"get", "keys", "values", "items", "copy", "pop", "setdefault", "update",
                       "clear", "popitem"}),
    "list": frozenset({"append", "extend", "insert", "pop", "remove", "index", "count", "sort",
                       "reverse", "copy", "clear"}),
    "tuple": frozenset({"count", "index"}),
    "set": frozenset({"add", "discard", "remove", "pop", "union", "intersection", "difference",
                      "symmetric_difference", "issubset", "issuperset", "isdisjoint", "copy",
                      "update", "clear"}),
    "frozenset": frozenset({"union", "intersection", "difference", "symmetric_difference",
                            "issubset", "issuperset", "isdisjoint", "copy"}),
    "int": _NUMBER_ATTRIBUTES | {"bit_length"},
    "bool": _NUMBER_ATTRIBUTES,
    "float": _NUMBER_ATTRIBUTES | {"is_integer"},
    "complex": _NUMBER_ATTRIBUTES,
}  # fmt: skip

#: Attributes readable on exceptions caught by ``except ... as e`` (``args`` holds only plain
#: values: anything else is replaced by its repr).
EXCEPTION_ATTRIBUTES: frozenset[str] = frozenset({"args"})

#: Prefix of the names the runtime binds its helpers under; lens code may not use it.
RESERVED_PREFIX = "_atdata"
