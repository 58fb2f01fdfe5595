"""``atdata lens laws FILE``: the laws of the lenses in a user's file, from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from atdata.cli.main import main

LENS_FILE = """
import atdata
from hypothesis import strategies as st


@atdata.packable
class Celsius:
    degrees: float
    station: str


@atdata.packable
class Fahrenheit:
    fahrenheit: float
    station: str


renamed = atdata.Lens.from_ops(
    [{"op": "rename", "from": "degrees", "to": "fahrenheit"}], source=Celsius, target=Fahrenheit
)


@atdata.lens
def forgetful(c: Celsius) -> Fahrenheit:
    return Fahrenheit(fahrenheit=c.degrees, station=c.station)


@forgetful.putter
def forgetful_put(f: Fahrenheit, c: Celsius) -> Celsius:
    return Celsius(degrees=f.fahrenheit, station="")
"""


@pytest.fixture
def lens_file(tmp_path: Path) -> Path:
    path = tmp_path / "temperature_lenses.py"
    path.write_text(LENS_FILE)
    return path


def test_a_lawful_lens_passes_and_exits_zero(lens_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lens", "laws", f"{lens_file}:renamed", "--examples", "20"]) == 0
    out = capsys.readouterr().out
    assert "GetPut: passed" in out and "PutGet: passed" in out


def test_a_broken_putter_prints_its_counterexample_and_exits_one(
    lens_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lens", "laws", f"{lens_file}:forgetful", "--examples", "20"]) == 1
    out = capsys.readouterr().out
    assert "GetPut: failed" in out
    assert "counterexample" in out and "field 'station'" in out


def test_without_a_name_every_lens_with_a_putter_is_checked(
    lens_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lens", "laws", str(lens_file), "--examples", "10"]) == 1
    out = capsys.readouterr().out
    assert "renamed" in out and "forgetful" in out


def test_an_unknown_lens_name_is_an_error_listing_the_lenses(
    lens_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lens", "laws", f"{lens_file}:nope"]) == 1
    assert "forgetful, renamed" in capsys.readouterr().err
