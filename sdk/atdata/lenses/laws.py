"""Lens laws, checked on generated samples: GetPut and PutGet.

* GetPut: putting back an unchanged view gives the source back, ``put(get(s), s) == s``.
* PutGet: what was put is what one gets, ``get(put(v, s)) == v``.

Samples come from hypothesis strategies derived from the source type's field model, so every
field kind (arrays of the declared dtype and shape, Literals, optionals, nested types, JSON
dicts) is exercised. Views for PutGet are, by default, views of other generated sources
(``views="image"``): a lens need only be lawful on views it can produce. ``views="target"``
draws views from the target type instead, the stricter check. A failure comes back with the
smallest counterexample hypothesis finds and the fields that differ.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from atdata.errors import AtdataError, LensError, LensExecutionError, LensLimitError
from atdata.extras import missing

try:
    from hypothesis import HealthCheck, Phase, Verbosity, assume, given, settings
    from hypothesis import errors as hyp_errors
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ModuleNotFoundError as e:
    if e.name != "hypothesis":
        raise
    raise missing("laws", "hypothesis") from None
from atdata.lenses.lens import Lens
from atdata.types.fields import (
    ArrayType,
    FieldType,
    JsonType,
    ListType,
    LiteralType,
    OptionalType,
    RefType,
    Scalar,
)
from atdata.types.packable import as_plain, spec_of, values_equal

_ANY_SIDE = 4


def strategy_for(cls: type) -> st.SearchStrategy[Any]:
    """A hypothesis strategy for valid instances of the sample type ``cls``."""
    spec = spec_of(cls)
    return st.builds(cls, **{f.name: _field(f.type) for f in spec.fields})


def _field(ft: FieldType) -> st.SearchStrategy[Any]:
    if isinstance(ft, Scalar):
        return {
            "str": st.text(max_size=12),
            "int": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(allow_nan=False, allow_infinity=False),
            "bool": st.booleans(),
            "bytes": st.binary(max_size=16),
            "datetime": st.datetimes(timezones=st.sampled_from([None, datetime.UTC])),
        }[ft.kind]
    if isinstance(ft, ArrayType):
        return _array(ft)
    if isinstance(ft, LiteralType):
        return st.sampled_from(ft.values)
    if isinstance(ft, OptionalType):
        return st.none() | _field(ft.inner)
    if isinstance(ft, ListType):
        return st.lists(_field(ft.inner), max_size=3)
    if isinstance(ft, JsonType):
        return st.dictionaries(st.text(max_size=8), _json(), max_size=4)
    if isinstance(ft, RefType):
        return strategy_for(ft.cls)
    raise AssertionError(ft)


def _array(ft: ArrayType) -> st.SearchStrategy[np.ndarray]:
    dtype = np.dtype(ft.dtype or "float32")
    shape: st.SearchStrategy[tuple[int, ...]]
    if ft.shape is None:
        shape = hnp.array_shapes(min_dims=1, max_dims=2, max_side=_ANY_SIDE)
    else:
        shape = st.tuples(*(st.just(d) if d is not None else st.integers(1, _ANY_SIDE) for d in ft.shape))
    # Finite values only: NaN never equals itself inside a put-back comparison of a whole sample.
    elements: st.SearchStrategy[Any] | None = None
    if dtype.kind == "f":
        width: Literal[16, 32, 64] = 16 if dtype.itemsize == 2 else (32 if dtype.itemsize == 4 else 64)
        elements = st.floats(width=width, allow_nan=False, allow_infinity=False)
    elif dtype.kind == "c":
        elements = st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=1e6)
    return hnp.arrays(dtype, shape, elements=elements)


def _json() -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-(2**31), 2**31)
        | st.text(max_size=8)
        | st.floats(allow_nan=False, allow_infinity=False)
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=8,
    )


# --- the checks -------------------------------------------------------------------------------


@dataclass
class LawResult:
    """The outcome of one law: passed, failed (with a counterexample) or inconclusive."""

    law: str
    status: Literal["passed", "failed", "inconclusive"]
    examples: int = 0
    detail: str = ""

    def __str__(self) -> str:
        head = f"{self.law}: {self.status} ({self.examples} example(s))"
        return head + ("\n    " + self.detail.replace("\n", "\n    ") if self.detail else "")


@dataclass
class LawsReport:
    lens: str
    results: list[LawResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status == "passed" for r in self.results)

    def __str__(self) -> str:
        return f"lens {self.lens}:\n  " + "\n  ".join(str(r) for r in self.results)


def check_laws(
    lens: Lens[Any, Any],
    *,
    max_examples: int = 100,
    seed: int = 0,
    views: Literal["image", "target"] = "image",
    samples: st.SearchStrategy[Any] | None = None,
) -> LawsReport:
    """Check GetPut and PutGet for ``lens`` on ``max_examples`` generated samples each.

    ``samples`` replaces the source strategy derived from the type (for lenses that expect
    structure the type does not spell out, such as keys inside a JSON field). Samples on which
    ``get`` itself fails are skipped (the lens does not apply to them); if too few remain, the law
    is reported inconclusive with one of the failures.
    """
    if not lens.has_put:
        raise LensError(f"lens {lens.name} has no putter, so there are no laws to check")
    sources = samples if samples is not None else strategy_for(lens.source)
    report = LawsReport(lens.name)

    def get_put(s: Any) -> str | None:
        view = _get(lens, s)
        back = lens.put(view, s)
        if back == s:
            return None
        return _explain(
            "put(get(s), s) != s", [("s", s), ("get(s)", view), ("put(get(s), s)", back)], s, back
        )

    def put_get(pair: tuple[Any, Any]) -> str | None:
        s, v = pair
        if views == "image":
            v = _get(lens, v)
        _get(lens, s)
        put = lens.put(v, s)
        again = lens.get(put)
        if again == v:
            return None
        return _explain(
            "get(put(v, s)) != v",
            [("s", s), ("v", v), ("put(v, s)", put), ("get(put(v, s))", again)],
            v,
            again,
        )

    view_strategy = sources if views == "image" else strategy_for(lens.target)
    report.results.append(_run("GetPut", get_put, sources, max_examples, seed))
    report.results.append(_run("PutGet", put_get, st.tuples(sources, view_strategy), max_examples, seed))
    return report


class _NotApplicable(AtdataError):
    def __init__(self, error: LensExecutionError) -> None:
        self.error = error


def _get(lens: Lens[Any, Any], s: Any) -> Any:
    try:
        return lens.get(s)
    except LensLimitError:
        raise  # a broken limit fails the check; it is not a sample the lens does not apply to
    except LensExecutionError as e:
        raise _NotApplicable(e) from None


def _run(
    law: str,
    prop: Callable[[Any], str | None],
    strategy: st.SearchStrategy[Any],
    max_examples: int,
    seed: int,
) -> LawResult:
    failures: list[str] = []
    rejected: list[str] = []
    broken: list[str] = []  # a limit broke: stop running lens code, fail every later example fast
    count = 0

    @settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        verbosity=Verbosity.quiet,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @hypothesis_seed(seed)
    @given(strategy)
    def run(example: Any) -> None:
        nonlocal count
        try:
            if broken:
                raise LensLimitError("", broken[0])
            problem = prop(example)
        except LensLimitError as e:
            if not broken:
                broken.append(f"broke a limit: {e}")
            problem = broken[0]
        except _NotApplicable as e:
            rejected.append(str(e.error))
            assume(False)
            return
        except Exception as e:
            problem = f"raised {type(e).__name__}: {e}"
        count += 1
        if problem is not None:
            failures.append(problem)
            raise AssertionError(problem)

    try:
        run()
    except (AssertionError, ExceptionGroup):
        if broken:
            return LawResult(law, "failed", count, broken[0])
        return LawResult(law, "failed", count, "counterexample:\n" + failures[-1])
    except (hyp_errors.Unsatisfiable, hyp_errors.FailedHealthCheck):
        why = rejected[-1] if rejected else "no valid samples"
        return LawResult(law, "inconclusive", count, f"get failed on most generated samples, e.g.: {why}")
    if count == 0:
        why = rejected[-1] if rejected else "no samples"
        return LawResult(law, "inconclusive", 0, f"get failed on every generated sample, e.g.: {why}")
    return LawResult(law, "passed", count)


def _explain(what: str, shown: list[tuple[str, Any]], want: Any, got: Any) -> str:
    lines = [what]
    lines += [f"  {name} = {value!r}" for name, value in shown]
    a, b = as_plain(want), as_plain(got)
    for name in a:
        if not _same(a[name], b.get(name)):
            lines.append(f"  field {name!r}: expected {_short(a[name])}, got {_short(b.get(name))}")
    return "\n".join(lines)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return values_equal(a, b)


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray({value.dtype}, shape={value.shape}, first={value.ravel()[:4].tolist()})"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def lens_from_file(
    path: str, *, source: type, target: type, limits: Any = None, name: str | None = None
) -> Lens[Any, Any]:
    """The lens whose code is the file ``path``, read as lens code and never imported or run here.

    The file must be a module in the lens dialect (:mod:`atdata.sandbox.dialect`) defining
    ``get(source)`` and ``put(view, source)``. Its getter and putter run in sandboxed worker
    processes under ``limits`` (an :class:`atdata.sandbox.Limits`), as any untrusted lens does.
    """
    from pathlib import Path

    file = Path(path)
    try:
        code = file.read_bytes().decode("utf-8")
    except OSError as e:
        raise LensError(f"{path}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise LensError(f"{path}: lens code must be UTF-8 (byte {e.start} is not)") from None
    lens: Lens[Any, Any] = Lens.from_source(
        code, source=source, target=target, isolation="process", limits=limits, name=name or file.stem
    )
    if not lens.has_put:
        raise LensError(f"{path}: the code defines no put(view, source), so there are no laws to check")
    return lens
