"""What inline isolation promises, tested in both isolations (issue 13, point 4).

Inline runs trusted code in the caller's process. It never changes the caller's input, stops every
loop form at the wall-clock budget, refuses the builtins and numpy calls that would run unbounded
in one C call before they start, and converts outputs and exceptions within fixed bounds. What it
does not bound (memory, other long C calls) is documented in ``atdata.sandbox.inline``.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from atdata.errors import LensExecutionError, LensLimitError
from atdata.sandbox import LensStep, Limits, load_program

ISOLATIONS = ["inline", "process"]


def run(code: str, items: list[dict[str, Any]], isolation: str, wall: float = 1.0) -> list[dict[str, Any]]:
    limits = Limits(wall_seconds_per_batch=wall, cpu_seconds=5)
    with load_program([LensStep(code, "probe", "A", "B")], isolation=isolation, limits=limits) as program:  # type: ignore[arg-type]
        return program.run(items, [f"k{i}" for i in range(len(items))])


LOOPS = {
    "finally-continue": """
def get(s):
    n = 0
    while True:
        try:
            n += 1
        finally:
            continue
""",
    "nested-finally-continue": """
def get(s):
    for i in range(1000000):
        try:
            while True:
                pass
        finally:
            continue
    return {}
""",
    "sentinel-any": "def get(s):\n    return {'x': any(iter(int, 1))}\n",
    "sentinel-set": "def get(s):\n    return {'x': len(set(iter(int, 1)))}\n",
    "sentinel-next": "def get(s):\n    return {'x': next(filter(None, iter(int, 1)))}\n",
    "sentinel-fsum": "import math\ndef get(s):\n    return {'x': math.fsum(iter(float, 1.0))}\n",
    "sentinel-sorted": "def get(s):\n    return {'x': sorted(iter(int, 1))}\n",
}


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("loop", list(LOOPS))
def test_every_loop_form_stops_at_the_wall_clock_budget(loop: str, isolation: str) -> None:
    with pytest.raises(LensLimitError, match=r"wall-clock limit|CPU limit|killed"):
        run(LOOPS[loop], [{}], isolation)


UNBOUNDED_CALLS = {
    "pow-with-modulus": ("def get(s):\n    return {'x': pow(3, 10**100000, 10**100000 + 1)}\n", "pow"),
    "round-hiding-a-power": ("def get(s):\n    return {'x': round(5, -10**8)}\n", "round"),
    "sum-of-lists": ("def get(s):\n    return {'x': sum([[1] * 100] * 100000, [])}\n", "sum"),
    "large-einsum": (
        "import numpy as np\ndef get(s):\n    a = np.ones((2000, 2000))\n"
        "    return {'x': np.einsum('ij,jk,kl->il', a, a, a)}\n",
        "np.einsum",
    ),
    "large-convolve": (
        "import numpy as np\ndef get(s):\n    return {'x': np.convolve(np.ones(10**6), np.ones(10**6))}\n",
        "np.convolve",
    ),
    "large-correlate": (
        "import numpy as np\ndef get(s):\n"
        "    return {'x': np.correlate(np.ones(10**6), np.ones(10**6), mode='full')}\n",
        "np.correlate",
    ),
}


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("call", list(UNBOUNDED_CALLS))
def test_a_builtin_call_that_would_run_unbounded_is_refused_before_it_starts(
    call: str, isolation: str
) -> None:
    code, name = UNBOUNDED_CALLS[call]
    with pytest.raises(LensExecutionError, match=name):
        run(code, [{}], isolation, wall=30)


def test_ordinary_uses_of_the_guarded_builtins_still_work() -> None:
    code = (
        "import numpy as np\ndef get(s):\n"
        "    return {'p': pow(3, 100, 7), 'r': round(1234, -2), 's': sum([1, 2, 3]),\n"
        "            'c': np.convolve(np.ones(3), np.ones(2)),\n"
        "            'e': np.einsum('i,i->', np.ones(3), np.ones(3)),\n"
        "            'n': next(iter(lambda: 5, 0))}\n"
    )
    for isolation in ISOLATIONS:
        [out] = run(code, [{}], isolation)
        assert (out["p"], out["r"], out["s"], out["e"], out["n"]) == (pow(3, 100, 7), 1200, 6, 3.0, 5)


DAG_OUTPUT = "def get(s):\n    x = [0]\n    for i in range(60):\n        x = [x, x]\n    return {'x': x}\n"
DAG_EXCEPTION = (
    "def get(s):\n    x = [0]\n    for i in range(60):\n        x = [x, x]\n    raise ValueError(x)\n"
)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_an_output_that_repeats_one_list_many_levels_deep_is_refused_not_expanded(isolation: str) -> None:
    with pytest.raises(LensExecutionError, match=r"more than .* values|MemoryError|memory"):
        run(DAG_OUTPUT, [{}], isolation, wall=30)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_an_exception_holding_such_a_value_is_reported_in_bounded_text(isolation: str) -> None:
    with pytest.raises(LensExecutionError, match=r"ValueError: \[\[") as e:
        run(DAG_EXCEPTION, [{}], isolation)
    assert len(str(e.value)) < 2000


# --- the caller's input is never changed -------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_mapping_subclasses_in_the_input_are_not_changed(isolation: str) -> None:
    ordered, default = OrderedDict(a=1), defaultdict(list, a=[1])
    code = "def get(s):\n    s.md['a'] = 2\n    s.dd['a'].append(2)\n    s.dd['b'] = 3\n    return {}\n"
    if isolation == "process":
        item = {"md": dict(ordered), "dd": dict(default)}  # what reaches a worker is plain data
    else:
        item = {"md": ordered, "dd": default}
    run(code, [item], isolation)
    assert ordered == OrderedDict(a=1) and dict(default) == {"a": [1]}


WRITERS = {
    "setitem": "def get(s):\n    s.a[0] = 5\n    return {}\n",
    "asarray": "import numpy as np\ndef get(s):\n    b = np.asarray(s.a)\n    b[0] = 5\n    return {}\n",
    "ufunc-out": "import numpy as np\ndef get(s):\n    np.multiply(s.a, 2, out=s.a)\n    return {}\n",
    "fill": "def get(s):\n    s.a.fill(5)\n    return {}\n",
}


def caller_arrays(tmp_path: Path) -> dict[str, Any]:
    mm = np.memmap(tmp_path / "mm.bin", dtype=np.float64, mode="w+", shape=(3,))
    mm[:] = 1.0
    return {
        "plain": np.ones(3),
        "matrix": np.matrix([[1.0, 1.0, 1.0]]),
        "memmap": mm,
        "view": np.ones(6)[::2],
    }


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix: the caller's choice
@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("kind", ["plain", "matrix", "memmap", "view"])
def test_inline_lens_code_cannot_write_into_the_callers_arrays(
    writer: str, kind: str, tmp_path: Path
) -> None:
    array = caller_arrays(tmp_path)[kind]
    with pytest.raises(LensExecutionError, match="read-only"):
        run(WRITERS[writer], [{"a": array}], "inline")
    assert np.all(np.asarray(array) == 1.0)


def test_a_masked_array_is_refused_inline_rather_than_handed_over() -> None:
    masked = np.ma.masked_array(np.ones(3), mask=[0, 1, 0])
    with pytest.raises(LensExecutionError, match="masked array"):
        run(WRITERS["setitem"], [{"a": masked}], "inline")
    assert masked.data.tolist() == [1.0, 1.0, 1.0] and masked.mask.tolist() == [False, True, False]


def test_a_view_kept_from_an_earlier_call_does_not_see_the_callers_later_changes() -> None:
    code = "KEPT = []\ndef get(s):\n    KEPT.append(s.a)\n    return {'seen': float(KEPT[0][0])}\n"
    caller = np.ones(3)
    with load_program([LensStep(code, "stale", "A", "B")], isolation="inline") as program:
        assert program.run([{"a": caller}], ["k0"]) == [{"seen": 1.0}]
        caller[0] = 42.0  # planted by the host after the first call
        assert program.run([{"a": np.zeros(3)}], ["k1"]) == [{"seen": 1.0}]
