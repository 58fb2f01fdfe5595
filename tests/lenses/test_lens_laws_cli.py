"""``atdata lens laws FILE``: the laws of a lens's code, from the command line, run in the sandbox.

FILE is read as lens code, never imported: its getter and putter run in worker processes under
limits, and a lens that breaks a limit fails the check with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import atdata
from atdata.cli.main import main
from atdata.schema import schema_of


@atdata.packable
class Celsius:
    degrees: float
    station: str


@atdata.packable
class Fahrenheit:
    fahrenheit: float
    station: str


RENAMED = """\
def get(source):
    return {"fahrenheit": source.degrees, "station": source.station}


def put(view, source):
    return {"degrees": view.fahrenheit, "station": view.station}
"""

FORGETFUL = """\
def get(source):
    return {"fahrenheit": source.degrees, "station": source.station}


def put(view, source):
    return {"degrees": view.fahrenheit, "station": ""}
"""

# The putter of issue 13 that ran until killed: the loop continues in `finally`.
LOOPS_IN_FINALLY = """\
def get(source):
    return {"fahrenheit": source.degrees, "station": source.station}


def put(view, source):
    n = 0
    while True:
        try:
            n += 1
        finally:
            continue
"""


@pytest.fixture
def schemas(tmp_path: Path) -> list[str]:
    paths = []
    for cls in (Celsius, Fahrenheit):
        path = tmp_path / f"{cls.__name__}.json"
        path.write_text(json.dumps(schema_of(cls, created_at="2026-01-01T00:00:00Z")))
        paths.append(str(path))
    return ["--source", paths[0], "--target", paths[1]]


def lens_file(tmp_path: Path, code: str, name: str = "lens.py") -> str:
    path = tmp_path / name
    path.write_text(code, encoding="utf-8")
    return str(path)


def test_a_lawful_lens_passes_and_exits_zero(
    tmp_path: Path, schemas: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lens", "laws", lens_file(tmp_path, RENAMED), *schemas, "--examples", "20"]) == 0
    out = capsys.readouterr().out
    assert "GetPut: passed" in out and "PutGet: passed" in out


def test_a_broken_putter_prints_its_counterexample_and_exits_one(
    tmp_path: Path, schemas: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lens", "laws", lens_file(tmp_path, FORGETFUL), *schemas, "--examples", "20"]) == 1
    out = capsys.readouterr().out
    assert "GetPut: failed" in out
    assert "counterexample" in out and "field 'station'" in out


def test_the_file_is_never_imported_as_python(
    tmp_path: Path, schemas: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('top level ran')\n" + RENAMED
    assert main(["lens", "laws", lens_file(tmp_path, code), *schemas, "--examples", "5"]) == 1
    assert not marker.exists()
    assert "'open' is not available in lens code" in capsys.readouterr().err


def test_a_putter_that_loops_in_finally_fails_the_check_at_the_limit(
    tmp_path: Path, schemas: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lens", "laws", lens_file(tmp_path, LOOPS_IN_FINALLY), *schemas, "--examples", "20"]
    assert main([*args, "--wall-seconds", "1", "--cpu-seconds", "2"]) == 1
    out = capsys.readouterr().out
    assert "GetPut: failed" in out and "broke a limit" in out
    assert "wall-clock limit" in out or "CPU limit" in out


def test_code_without_a_putter_is_an_error_naming_the_file(
    tmp_path: Path, schemas: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = lens_file(tmp_path, RENAMED.split("\n\n\ndef put")[0] + "\n")
    assert main(["lens", "laws", path, *schemas]) == 1
    assert path in capsys.readouterr().err
