"""Running legitimate lens code: both isolations give the same, correct results and clear errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sandbox_harness import ISOLATIONS

import atdata
from atdata.errors import LensExecutionError, LensValidationError
from atdata.sandbox import LensStep, Limits, RecordShape, load_program
from atdata.sandbox.batching import MAX_BATCH_ITEMS
from atdata.types.packable import spec_of

FRAME_TO_BATH = """\
import math
import numpy as np

def norm(image):
    lo, hi = float(image.min()), float(image.max())
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)

def get(source):
    md = source.metadata or {}
    name = md.get("_source_filename", "").lower()
    compound = "baclofen" if "baclofen" in name else ("tacpd" if "tacpd" in name else "unknown")
    return BathFrame(
        applied_compound=compound,
        image=norm(source.image).astype(np.float32),
        t_index=md["frame"]["t_index"],
        t=md["frame"]["t"] * 1e-3,
        phase=math.atan2(1.0, md["frame"]["t"]),
        energy=float(np.sum(source.image ** 2)),
        movie_uuid=md.get("uuid"),
    )
"""


def frames(n: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(7)
    names = ["run_baclofen_01.tif", "TACPD-2.tif", "control.tif"]
    return [
        {
            "image": rng.random((8, 8), dtype=np.float32),
            "metadata": {
                "_source_filename": names[i % 3],
                "frame": {"t_index": i, "t": 40.0 * i},
                "uuid": f"u{i}",
            },
        }
        for i in range(n)
    ]


def native_bath(frame: dict[str, object]) -> dict[str, object]:
    image = frame["image"]
    md = frame["metadata"]
    assert isinstance(image, np.ndarray) and isinstance(md, dict)
    lo, hi = float(image.min()), float(image.max())
    name = md["_source_filename"].lower()
    return {
        "applied_compound": "baclofen" if "baclofen" in name else ("tacpd" if "tacpd" in name else "unknown"),
        "image": ((image - lo) / (hi - lo)).astype(np.float32),
        "t_index": md["frame"]["t_index"],
        "t": md["frame"]["t"] * 1e-3,
        "phase": math.atan2(1.0, md["frame"]["t"]),
        "energy": float(np.sum(image**2)),
        "movie_uuid": md["uuid"],
    }


def keys(n: int) -> list[str | None]:
    return [f"sample-{i}" for i in range(n)]


def assert_same(a: list[dict[str, object]], b: list[dict[str, object]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], np.ndarray):
                assert isinstance(y[k], np.ndarray) and x[k].dtype == y[k].dtype
                np.testing.assert_array_equal(x[k], y[k])
            else:
                assert x[k] == y[k]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_lens_using_numpy_and_math_matches_native_code(isolation: str) -> None:
    items = frames(6)
    with load_program(
        [LensStep(FRAME_TO_BATH, "bath", "Frame", "BathFrame")], isolation=isolation
    ) as program:
        out = program.run(items, keys(6))
    assert_same(out, [native_bath(f) for f in items])


def test_inline_and_process_give_identical_results() -> None:
    items = frames(9)
    step = LensStep(FRAME_TO_BATH, "bath", "Frame", "BathFrame")
    with (
        load_program([step], isolation="inline") as inline,
        load_program([step], isolation="process") as proc,
    ):
        assert_same(inline.run(items, keys(9)), proc.run(items, keys(9)))


CHAIN = [
    LensStep("def get(source):\n    return B(x=source.x + 1, trail=source.trail + 'a')\n", "a", "A", "B"),
    LensStep(
        "def get(source):\n    return {'x': source.x * 10, 'trail': source.trail + 'b'}\n", "b", "B", "C"
    ),
    LensStep("def get(source):\n    return D(source, trail=source.trail + 'c')\n", "c", "C", "D"),
]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_chain_applies_steps_in_order(isolation: str) -> None:
    with load_program(CHAIN, isolation=isolation) as program:
        out = program.run([{"x": 1, "trail": ""}, {"x": 2, "trail": ""}], keys(2))
    assert out == [{"x": 20, "trail": "abc"}, {"x": 30, "trail": "abc"}]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_put_receives_view_and_original_source(isolation: str) -> None:
    code = (
        "def get(source):\n    return View(total=source.a + source.b)\n"
        "def put(view, source):\n    return Src(source, b=view.total - source.a)\n"
    )
    step = LensStep(code, "sum", "Src", "View", direction="put")
    with load_program([step], isolation=isolation) as program:
        out = program.run_put([{"total": 10}], [{"a": 3, "b": 4, "note": "kept"}], ["k"])
    assert out == [{"a": 3, "b": 7, "note": "kept"}]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_nested_sample_types_are_records_and_json_fields_stay_dicts(isolation: str) -> None:
    inner = RecordShape("Meta", ("t", "unit"))
    source = RecordShape("Frame", ("meta", "history", "extra"), (("meta", inner), ("history", inner)))
    code = (
        "def get(source):\n"
        "    ts = [h.t for h in source.history]\n"
        "    unit = source.extra.get('unit', '?')\n"
        "    return Out(t=source.meta.t, unit=unit, ts=ts, meta=Meta(t=0.0, unit='s'))\n"
    )
    step = LensStep(code, "nest", "Frame", "Out", source_shape=source,
                    target_shape=RecordShape("Out", None, (("meta", inner),)))  # fmt: skip
    item = {"meta": {"t": 1.5, "unit": "s"}, "history": [{"t": 0.5, "unit": "s"}], "extra": {"unit": "ms"}}
    with load_program([step], isolation=isolation) as program:
        out = program.run([item], ["k"])
    assert out == [{"t": 1.5, "unit": "ms", "ts": [0.5], "meta": {"t": 0.0, "unit": "s"}}]


def test_inline_lens_changes_only_its_own_copy_of_json_fields() -> None:
    code = "def get(source):\n    source.metadata['seen'] = True\n    return {'md': source.metadata}\n"
    item = {"metadata": {"a": [1]}}
    with load_program([LensStep(code, "m", "Frame", "Out")], isolation="inline") as program:
        out = program.run([item], ["k"])
    assert out == [{"md": {"a": [1], "seen": True}}]
    assert item == {"metadata": {"a": [1]}}


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_failure_names_the_lens_the_sample_key_and_the_line(isolation: str) -> None:
    code = "def get(source):\n    return {'y': 1 / source.x}\n"
    program = load_program([LensStep(code, "inverse", "A", "B")], isolation=isolation)
    with program, pytest.raises(LensExecutionError) as e:
        program.run([{"x": 1}, {"x": 0}, {"x": 2}], ["first", "second", "third"])
    assert (e.value.lens, e.value.key) == ("inverse", "second")
    assert e.value.reason == "ZeroDivisionError: division by zero (line 2)"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_failure_in_a_chain_names_the_failing_step(isolation: str) -> None:
    bad = LensStep("def get(source):\n    return {'x': source.missing}\n", "broken", "B", "C")
    program = load_program([CHAIN[0], bad], isolation=isolation)
    with program, pytest.raises(LensExecutionError) as e:
        program.run([{"x": 1, "trail": ""}], ["only"])
    assert e.value.lens == "broken"
    assert "no field 'missing'" in e.value.reason


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_code_outside_the_dialect_fails_at_load_with_every_violation(isolation: str) -> None:
    code = "import os\ndef get(source):\n    return eval('1')\n"
    with pytest.raises(LensValidationError) as e:
        load_program([LensStep(code, "bad", "A", "B")], isolation=isolation)
    assert [(v.line, v.column) for v in e.value.violations] == [(1, 7), (3, 11)]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_factory_refuses_fields_the_target_type_does_not_have(isolation: str) -> None:
    step = LensStep(
        "def get(source):\n    return B(x=1, y=2)\n", "f", "A", "B", target_shape=RecordShape("B", ("x",))
    )
    with load_program([step], isolation=isolation) as program, pytest.raises(LensExecutionError) as e:
        program.run([{}], ["k"])
    assert "B has no field(s) 'y'" in e.value.reason


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_returning_another_record_type_is_refused(isolation: str) -> None:
    with (
        load_program(
            [LensStep("def get(source):\n    return source\n", "same", "A", "B")], isolation=isolation
        ) as p,
        pytest.raises(LensExecutionError, match="returned a A record where a B was expected"),
    ):
        p.run([{"x": 1}], ["k"])


def test_process_worker_survives_a_lens_exception() -> None:
    code = "def get(source):\n    return {'y': 10 // source.x}\n"
    with load_program([LensStep(code, "div", "A", "B")], isolation="process") as program:
        pid = program.worker_pid  # type: ignore[union-attr]
        with pytest.raises(LensExecutionError):
            program.run([{"x": 0}], ["zero"])
        assert program.run([{"x": 5}], ["five"]) == [{"y": 2}]
        assert program.worker_pid == pid  # type: ignore[union-attr]


def test_process_worker_is_replaced_after_being_killed() -> None:
    code = "def get(source):\n    if source.x == 0:\n        return {'y': sum(range(10 ** 8)) + sum(range(10 ** 8)) + sum(range(10 ** 8))}\n    return {'y': source.x}\n"  # noqa: E501
    limits = Limits(wall_seconds_per_batch=0.2)
    with load_program([LensStep(code, "slow", "A", "B")], isolation="process", limits=limits) as program:
        first = program.worker_pid  # type: ignore[union-attr]
        with pytest.raises(LensExecutionError, match="wall-clock") as e:
            program.run([{"x": 1}, {"x": 0}], ["fast", "slow"])
        assert e.value.key == "slow"
        assert program.run([{"x": 3}], ["after"]) == [{"y": 3}]
        assert program.worker_pid not in (None, first)  # type: ignore[union-attr]


def test_process_runs_many_batches_in_order() -> None:
    n = MAX_BATCH_ITEMS * 2 + 17
    code = "import numpy as np\ndef get(source):\n    return {'i': source.i, 'v': source.v * 2}\n"
    items = [{"i": i, "v": np.full(3, i, dtype=np.int64)} for i in range(n)]
    with load_program([LensStep(code, "double", "A", "B")], isolation="process") as program:
        out = program.run(items, [str(i) for i in range(n)])
    assert [o["i"] for o in out] == list(range(n))
    assert all(np.array_equal(o["v"], np.full(3, 2 * o["i"])) for o in out)


def test_failure_in_a_later_batch_names_its_own_sample() -> None:
    n = MAX_BATCH_ITEMS + 10
    code = f"def get(source):\n    return {{'y': 1 // (source.i - {n - 3})}}\n"
    with load_program([LensStep(code, "late", "A", "B")], isolation="process") as program:
        with pytest.raises(LensExecutionError) as e:
            program.run([{"i": i} for i in range(n)], [f"k{i}" for i in range(n)])
        assert e.value.key == f"k{n - 3}"
        assert program.run([{"i": 0}], ["again"]) == [{"y": 1 // (0 - (n - 3))}]


def test_outputs_of_the_process_are_writable_arrays() -> None:
    code = "import numpy as np\ndef get(source):\n    return {'a': np.ones(3)}\n"
    with load_program([LensStep(code, "ones", "A", "B")], isolation="process") as program:
        out = program.run([{}], ["k"])
    out[0]["a"][0] = 5  # the caller owns what it gets back
    assert out[0]["a"].tolist() == [5, 1, 1]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_code_using_every_allowed_form_runs(isolation: str) -> None:
    from test_sandbox_validator import CLEAN

    item = {"metadata": {"values": [3, None, 4]}, "name": "n", "image": np.full(2, 0.25)}
    with load_program([LensStep(CLEAN, "clean", "Frame", "Out")], isolation=isolation) as program:
        [out] = program.run([item], ["k"])
    assert out["label"] == "'n': 3.000 2 items"  # total 7, minus 1 by the for-else
    assert out["key"] == "a" and out["norm"] == math.sqrt(6 * 1.5)
    np.testing.assert_array_equal(out["image"], np.full(2, 0.5, dtype=np.float32))
    put = LensStep(CLEAN, "clean", "Frame", "Out", direction="put")
    with load_program([put], isolation=isolation) as program:
        [back] = program.run_put([out], [item], ["k"])
    np.testing.assert_array_equal(back["image"], np.full(2, 0.25))


@atdata.packable
class Stamp:
    t: float


@atdata.packable
class Clip:
    first: Stamp
    rest: list[Stamp]
    maybe: Stamp | None
    meta: dict[str, Any]


def test_record_shape_of_a_sample_type_names_its_fields_and_nested_types() -> None:
    shape = RecordShape.of(spec_of(Clip))
    stamp = RecordShape("Stamp", ("t",))
    assert shape == RecordShape(
        "Clip", ("first", "rest", "maybe", "meta"), (("first", stamp), ("rest", stamp), ("maybe", stamp))
    )


def test_a_multi_batch_run_starts_the_other_workers_and_spreads_over_them() -> None:
    import time

    items = [{"i": i} for i in range(MAX_BATCH_ITEMS * 3)]
    code = "def get(source):\n    return {'i': source.i}\n"
    with load_program([LensStep(code, "id", "A", "B")], isolation="process", workers=2) as program:
        assert len(program.worker_pids) == 1  # type: ignore[union-attr]
        assert program.run(items, [None] * len(items)) == items
        deadline = time.monotonic() + 60  # the second one starts in the background, not in the caller's way
        while len(program.worker_pids) < 2 and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        assert len(program.worker_pids) == 2  # type: ignore[union-attr]
        assert program.run(items, [None] * len(items)) == items


@pytest.mark.timeout(120)
def test_failure_in_the_first_of_many_large_batches_neither_hangs_nor_leaks_answers() -> None:
    code = "import numpy as np\ndef get(source):\n    return {'y': source.image * (1 // source.i)}\n"
    items = [{"i": i, "image": np.ones((256, 256))} for i in range(400)]  # ~200 MiB over several batches
    with load_program([LensStep(code, "inv", "A", "B")], isolation="process", workers=2) as program:
        with pytest.raises(LensExecutionError) as e:
            program.run(items, [f"k{i}" for i in range(len(items))])
        assert e.value.key == "k0"
        [out] = program.run([{"i": 1, "image": np.ones(2)}], ["again"])
    np.testing.assert_array_equal(out["y"], np.ones(2))


def test_process_refuses_an_integer_too_big_to_send_back_and_keeps_working() -> None:
    code = "def get(source):\n    return {'y': 2 ** source.e}\n"
    with load_program([LensStep(code, "big", "A", "B")], isolation="process") as program:
        with pytest.raises(LensExecutionError, match="can't be sent back"):
            program.run([{"e": 100}], ["k"])
        assert program.run([{"e": 10}], ["k"]) == [{"y": 1024}]
