"""Codegen: a schema record becomes a Python module that imports, round-trips and type-checks."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from schema_types import BathApplicationFrame, Position

import atdata
from atdata.cli.main import main as atdata_main
from atdata.errors import SchemaError
from atdata.lexicon import SCHEMA
from atdata.lexicon.nsid import defs
from atdata.schema import content_hash, generate_module, record_cid, schema_of

WHEN = "2026-11-21T08:00:00.000Z"
SDK = Path(atdata.__file__).resolve().parents[1]


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # attribute docstrings are read back through inspect, which needs this
    spec.loader.exec_module(module)
    return module


def generate(record: dict[str, Any], tmp_path: Path, name: str, **kwargs: Any) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(generate_module(record, **kwargs), encoding="utf-8")
    return load(path, name)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")  # shared, so numpy's stubs are analysed once


def mypy_strict(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    # Imported modules (atdata itself) are followed for their types but not reported on: the subject
    # of the check is the generated file.
    command = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"]
    return subprocess.run(
        [*command, "--cache-dir", str(cache), str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(SDK)},
        check=False,
    )


def scalar_field(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": {"$type": defs("scalarType"), "kind": kind}, **extra}


def small(fields: list[dict[str, Any]], description: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "$type": SCHEMA,
        "name": "Small",
        "version": "1.0.0",
        "fields": fields,
        "createdAt": WHEN,
    }
    if description is not None:
        r["description"] = description
    return r


def test_the_generated_module_defines_every_type_and_round_trips_to_the_same_record(tmp_path: Path) -> None:
    record = schema_of(BathApplicationFrame, created_at=WHEN)
    module = generate(record, tmp_path, "bath_types_roundtrip")
    assert module.__all__ == ["Position", "Roi", "BathApplicationFrame"]  # each after what it uses
    assert schema_of(module.BathApplicationFrame, created_at=WHEN) == record


def test_the_generated_module_passes_mypy_strict(tmp_path: Path, mypy_cache: Path) -> None:
    path = tmp_path / "bath_types_mypy.py"
    path.write_text(generate_module(schema_of(BathApplicationFrame, created_at=WHEN)), encoding="utf-8")
    result = mypy_strict(path, mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_header_names_the_schema_and_its_content_hash() -> None:
    record = schema_of(Position, created_at=WHEN)
    source = generate_module(record)
    assert "Position@1.0.0" in source
    assert content_hash(record) in source


def test_awkward_docs_survive_as_python_literals(tmp_path: Path) -> None:
    docs = [
        'He said "hi"',
        "a back\\slash",
        'ends with a quote"',
        'has """ inside',
        "two\nlines",
        "naïve ünïcode",
    ]
    fields = [scalar_field(f"f{i}", "int", doc=d) for i, d in enumerate(docs)]
    record = small(fields, description="Line one.\n\n    Indented example.\nLast line.")
    module = generate(record, tmp_path, "awkward_docs")
    assert schema_of(module.Small, created_at=WHEN) == record


def test_special_float_defaults_are_written_exactly(tmp_path: Path) -> None:
    values = ["nan", "inf", "-inf", "-0.0", "1e-300", "0.1"]
    record = small([scalar_field(f"f{i}", "float", default={"float": v}) for i, v in enumerate(values)])
    module = generate(record, tmp_path, "float_defaults")
    assert schema_of(module.Small, created_at=WHEN) == record
    assert math.copysign(1.0, module.Small().f3) == -1.0


def test_a_nested_schema_published_elsewhere_is_generated_through_resolve(tmp_path: Path) -> None:
    position = schema_of(Position, created_at=WHEN)
    strong = {"uri": "at://did:plc:abc/dev.atdata.schema/Position:1.0.0", "cid": record_cid(position)}
    record = small([{"name": "at", "type": {"$type": defs("refType"), "schema": strong}}])
    module = generate(record, tmp_path, "with_external", resolve=lambda ref: position)
    assert module.Position.__schema_ref__ == strong
    assert schema_of(module.Small, created_at=WHEN) == record


def test_a_required_field_after_a_defaulted_one_passes_mypy_strict(tmp_path: Path, mypy_cache: Path) -> None:
    record = small([scalar_field("a", "int", default={"integer": 1}), scalar_field("b", "str")])
    path = tmp_path / "order.py"
    path.write_text(generate_module(record), encoding="utf-8")
    result = mypy_strict(path, mypy_cache)
    assert result.returncode == 0, result.stdout


def test_the_cli_writes_the_module_for_a_record_file(tmp_path: Path) -> None:
    record_file = tmp_path / "position.json"
    record_file.write_text(json.dumps(schema_of(Position, created_at=WHEN)))
    out = tmp_path / "position_types.py"
    assert atdata_main(["codegen", str(record_file), "-o", str(out)]) == 0
    assert schema_of(load(out, "position_types").Position, created_at=WHEN) == json.loads(
        record_file.read_text()
    )


def test_the_cli_reads_a_record_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(schema_of(Position, created_at=WHEN))))
    assert atdata_main(["codegen", "-"]) == 0
    assert "class Position:" in capsys.readouterr().out


@pytest.fixture
def no_network_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATDATA_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ATDATA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ATDATA_APPVIEW", raising=False)
    monkeypatch.setenv("ATDATA_PLC", "http://127.0.0.1:9")  # discard port: nothing answers


@pytest.mark.usefixtures("no_network_config")
def test_a_name_is_looked_up_through_the_appview_which_must_be_configured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert atdata_main(["codegen", "BathApplicationFrame"]) == 1
    assert "no appview is configured" in capsys.readouterr().err


@pytest.mark.usefixtures("no_network_config")
def test_an_at_uri_is_fetched_from_its_authors_pds_found_through_the_plc_directory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert atdata_main(["codegen", "at://did:plc:abc/dev.atdata.schema/Position:1.0.0"]) == 1
    err = capsys.readouterr().err
    assert "did:plc:abc" in err
    assert "127.0.0.1:9" in err


def test_the_cli_reports_a_bad_record_with_its_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(small([scalar_field("class", "complex")])))
    assert atdata_main(["codegen", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "$.fields[0].name" in err
    assert "$.fields[0].type.kind" in err


def test_a_type_that_would_shadow_an_import_of_the_module_is_refused() -> None:
    record = small([scalar_field("x", "int")])
    record["name"] = "Literal"
    with pytest.raises(SchemaError, match="shadow an import"):
        generate_module(record)


def test_the_cli_takes_a_get_record_answer_as_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answer = {
        "uri": "at://did:plc:abc/dev.atdata.schema/Position:1.0.0",
        "cid": "x",
        "value": schema_of(Position),
    }
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer))
    assert atdata_main(["codegen", str(path)]) == 0
    assert "class Position:" in capsys.readouterr().out


def test_a_defaulted_field_that_would_hide_a_name_the_annotations_use_is_refused() -> None:
    record = small([scalar_field("float", "int", default={"integer": 1}), scalar_field("x", "float")])
    with pytest.raises(SchemaError, match="would hide the 'float'"):
        generate_module(record)


def test_a_datetime_field_imports_datetime_and_round_trips(tmp_path: Path) -> None:


    @atdata.packable
    class Stamped:
        at: dt.datetime = dt.datetime(2020, 1, 2, tzinfo=dt.UTC)
        seen: list[dt.datetime] | None = None

    record = atdata.schema_of(Stamped, created_at=WHEN)
    module = generate(record, tmp_path, "gen_stamped")
    assert atdata.schema_of(module.Stamped, created_at=WHEN) == record
    assert module.Stamped().at == dt.datetime(2020, 1, 2, tzinfo=dt.UTC)
