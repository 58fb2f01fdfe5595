"""A lens failing on one sample follows ``on_error``: skipped and logged, or raised after the good ones."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import atdata
from atdata.errors import LensExecutionError


@atdata.packable
class Count:
    spikes: int
    seconds: float


@atdata.packable
class Rate:
    hz: float


RATE_CODE = "def get(s):\n    return {'hz': s.spikes / s.seconds}\n"


def _counts(tmp_path: Path) -> atdata.Dataset[Count]:
    # Sample 7 has a zero duration: the lens divides by zero on it and on nothing else.
    with atdata.ShardWriter(str(tmp_path / "counts-%06d.tar")) as sink:
        for i in range(10):
            sink.write(Count(spikes=i, seconds=0.0 if i == 7 else 2.0), key=f"{i:09d}")
    return atdata.Dataset[Count](str(tmp_path / "counts-000000.tar"))


def _lens(isolation: str) -> atdata.Lens[Count, Rate]:
    return atdata.Lens.from_source(RATE_CODE, source=Count, target=Rate, isolation=isolation, name="to_rate")  # type: ignore[arg-type]


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_the_default_raises_after_every_earlier_sample_is_delivered(tmp_path: Path, isolation: str) -> None:
    got: list[float] = []
    with _lens(isolation) as lens:
        rates = _counts(tmp_path).as_type(Rate, lens=lens)
        with pytest.raises(LensExecutionError, match="ZeroDivisionError") as info:
            for r in rates:
                got.append(r.hz)
    assert got == [i / 2.0 for i in range(7)]
    assert (info.value.key, info.value.lens) == ("000000007", "to_rate")


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_skip_logs_key_lens_and_reason_and_goes_on(
    tmp_path: Path, isolation: str, caplog: pytest.LogCaptureFixture
) -> None:
    with _lens(isolation) as lens, caplog.at_level(logging.WARNING, logger="atdata.dataset"):
        got = [r.hz for r in _counts(tmp_path).as_type(Rate, lens=lens, on_error="skip")]
    assert got == [i / 2.0 for i in range(10) if i != 7]
    (record,) = caplog.records
    message = record.getMessage()
    assert "'000000007'" in message and "to_rate" in message and "ZeroDivisionError" in message


def test_a_dataset_opened_with_skip_skips_lens_failures_too(tmp_path: Path) -> None:
    ds = atdata.Dataset[Count](str(_counts(tmp_path).shards[0]), on_error="skip")
    with _lens("inline") as lens:
        assert len(list(ds.as_type(Rate, lens=lens))) == 9


def test_skip_holds_in_batches(tmp_path: Path) -> None:
    with _lens("inline") as lens:
        batches = list(_counts(tmp_path).as_type(Rate, lens=lens, on_error="skip").ordered(batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 1]
