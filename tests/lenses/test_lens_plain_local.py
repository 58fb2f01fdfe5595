"""Local lenses are plain Python; the dialect applies only where lens code travels (publish, check)."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

import atdata
from atdata.cli.main import main

TYPES_AND_LENS = """
import statistics
import json

import atdata


@atdata.packable
class Trace:
    values: list[float]


@atdata.packable
class Summary:
    median: float
    label: str


def _labeller(prefix):
    def label(x):
        return f"{prefix}:{json.dumps(round(x, 3))}"
    return label


LABEL = _labeller("median")


@atdata.lens(register=False)
def summarise(t: Trace) -> Summary:
    m = statistics.median(t.values)
    return Summary(median=m, label=LABEL(m))
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"plain_lens_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(TYPES_AND_LENS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_lens_with_imports_and_closures_is_defined_and_runs_locally(module: str) -> None:
    mod = __import__(module)
    out = mod.summarise(mod.Trace(values=[3.0, 1.0, 2.0]))
    assert (out.median, out.label) == (2.0, "median:2.0")


def test_a_local_lens_reads_a_dataset_as_another_type(module: str, tmp_path: Path) -> None:
    mod = __import__(module)
    with atdata.ShardWriter(str(tmp_path / "t-%04d.tar")) as w:
        w.write(mod.Trace(values=[1.0, 5.0, 9.0]))
    got = list(
        atdata.Dataset[mod.Trace](str(tmp_path / "t-0000.tar")).as_type(mod.Summary, lens=mod.summarise)
    )
    assert [s.median for s in got] == [5.0]


def test_publishing_it_is_refused_listing_every_violation_and_naming_the_dialect(
    module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", "lens", f"{module}:summarise", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "statistics" in err and "LABEL" in err
    assert "atdata.sandbox.dialect" in err


def test_asking_for_publishable_checks_at_definition(module: str) -> None:
    mod = __import__(module)
    with pytest.raises(atdata.errors.LensValidationError, match="statistics"):
        atdata.lens(register=False, publishable=True)(mod.summarise.native_functions()[0])
