"""Process-isolated lens chains keep their workers: across batches, epochs and Lens objects, and
``as_type`` reads ahead of them (the next chunks are sent while the workers compute)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
from lens_types import BathApplicationFrame, Thumbnail, bath_application, frame
from numpy.typing import NDArray

import atdata
from atdata.errors import LensExecutionError

THUMBNAIL_CODE = (
    "import numpy as np\n"
    "def get(s):\n"
    "    return {'compound': s.applied_compound, 'pixels': np.ascontiguousarray(s.image[::2, ::2])}\n"
)


def _lens(code: str = THUMBNAIL_CODE) -> atdata.Lens[BathApplicationFrame, Thumbnail]:
    return atdata.Lens.from_source(code, source=BathApplicationFrame, target=Thumbnail, isolation="process")


def _pids(lens: atdata.Lens[Any, Any]) -> set[int]:
    return {p for seg in lens._chain().segments for prog in seg.programs for p in prog.worker_pids}


def test_a_closed_lens_leaves_its_workers_to_the_next_lens_of_the_same_code() -> None:
    view = bath_application(frame(1))
    first = _lens()
    want = first(view)
    pids = _pids(first)  # the workers up now; a second may still be starting in the background
    first.close()
    with _lens() as second:
        assert second(view) == want
        assert pids <= _pids(second)


def test_lenses_of_different_code_do_not_share_workers() -> None:
    view = bath_application(frame(1))
    other = THUMBNAIL_CODE.replace("[::2, ::2]", "[::1, ::1]")
    with _lens() as a, _lens(other) as b:
        a(view), b(view)
        assert _pids(a).isdisjoint(_pids(b))


def test_as_type_through_a_process_keeps_its_workers_over_epochs_and_delivers_in_order(
    tmp_path: Path,
) -> None:
    with atdata.ShardWriter(str(tmp_path / "f-%06d.tar"), maxcount=1000) as sink:
        for i in range(300):
            sink.write(bath_application(frame(i)))
    ds = atdata.Dataset[BathApplicationFrame](str(tmp_path / "f-000000.tar"))
    with _lens() as lens:
        assert lens.pipeline_depth >= 2
        thumbs = ds.as_type(Thumbnail, lens=lens, chunk=16)
        seen = []
        for _epoch in range(2):
            got = [t.pixels[0, 0] for t in thumbs.ordered()]
            assert got == [float(i) for i in range(300)]
            seen.append(_pids(lens))
    assert seen[0] == seen[1] and seen[0]


def test_as_type_read_ahead_skips_exactly_the_failing_sample(tmp_path: Path) -> None:
    code = (
        "def get(s):\n"
        "    if s.t_index == 37:\n"
        "        raise ValueError('no')\n"
        "    return {'compound': s.applied_compound, 'pixels': s.image}\n"
    )
    with atdata.ShardWriter(str(tmp_path / "f-%06d.tar"), maxcount=1000) as sink:
        for i in range(100):
            sink.write(bath_application(frame(i)))
    ds = atdata.Dataset[BathApplicationFrame](str(tmp_path / "f-000000.tar"))
    with _lens(code) as lens:
        got = [
            int(t.pixels[0, 0]) for t in ds.as_type(Thumbnail, lens=lens, chunk=8, on_error="skip").ordered()
        ]
        assert got == [i for i in range(100) if i != 37]
        raised = ds.as_type(Thumbnail, lens=lens, chunk=8)
        delivered = []
        try:
            for t in raised.ordered():
                delivered.append(int(t.pixels[0, 0]))
        except LensExecutionError as e:
            assert "ValueError: no" in e.reason
        assert delivered == list(range(37))


@atdata.packable
class Stamp:
    t: float


@atdata.packable
class Take:
    image: NDArray
    when: datetime.datetime
    first: Stamp
    rest: list[Stamp]
    maybe: Stamp | None
    meta: dict[str, Any]
    name: str


@atdata.packable
class Kept:
    image: NDArray
    when: datetime.datetime
    first: Stamp
    rest: list[Stamp]
    maybe: Stamp | None
    meta: dict[str, Any]
    label: str


KEEP_CODE = (
    "def get(s):\n"
    "    return {'image': s.image * 2, 'when': s.when, 'first': s.first, 'rest': s.rest,\n"
    "            'maybe': s.maybe, 'meta': s.meta, 'label': s.name.upper()}\n"
)


def _take(i: int) -> Take:
    return Take(
        image=np.full((2, 3), float(i), np.float32),
        when=datetime.datetime(2026, 1, 1 + i % 28, tzinfo=datetime.UTC),
        first=Stamp(t=i / 4),
        rest=[Stamp(t=float(j)) for j in range(i % 3)],
        maybe=Stamp(t=1.0) if i % 2 else None,
        meta={"i": i, "tags": ["a", None]},
        name=f"take{i}",
    )


def test_as_type_through_a_process_gives_what_inline_gives_for_every_kind_of_field(tmp_path: Path) -> None:
    # Samples cross to the workers as columns read from their fields: datetimes, nested samples,
    # lists of them, None and JSON must arrive as they do inline.
    with atdata.ShardWriter(str(tmp_path / "t-%06d.tar"), maxcount=1000) as sink:
        for i in range(40):
            sink.write(_take(i))
    ds = atdata.Dataset[Take](str(tmp_path / "t-000000.tar"))
    out = {}
    for isolation in ("inline", "process"):
        with atdata.Lens.from_source(KEEP_CODE, source=Take, target=Kept, isolation=isolation) as lens:
            out[isolation] = list(ds.as_type(Kept, lens=lens, chunk=16).ordered())
    assert len(out["process"]) == 40
    assert out["process"] == out["inline"]
    assert out["process"][3].label == "TAKE3" and out["process"][3].maybe == Stamp(t=1.0)
