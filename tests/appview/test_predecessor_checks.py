"""The appview's checks of atdata 0.7 records: only what the index reads, on what 0.7 really writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atdata.network.predecessor import ALT_ENTRY, ALT_LENS, ALT_SCHEMA
from atdata_appview.checks import predecessor_lens_report, record_problems

FIXTURES = Path(__file__).parents[1] / "fixtures" / "atdata07"
SCHEMA_URI = f"at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/{ALT_SCHEMA}/r1"


def load(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        (FIXTURES / name).read_text().replace("{{SCHEMA_URI}}", SCHEMA_URI).replace("{{SHARDS}}", "https://h")
    )
    return value


def test_records_written_by_0_7_pass() -> None:
    for collection, name in (
        (ALT_SCHEMA, "schema.json"),
        (ALT_ENTRY, "entry_http.json"),
        (ALT_LENS, "lens.json"),
    ):
        assert record_problems(collection, load(name), 1000) == [], name


def test_a_0_7_schema_without_properties_is_refused() -> None:
    value = load("schema.json")
    value["schema"] = {"type": "object"}
    assert any("$.schema" in p for p in record_problems(ALT_SCHEMA, value, 1000))


def test_a_0_7_schema_with_a_version_that_is_not_semver_is_refused() -> None:
    value = {**load("schema.json"), "version": "latest"}
    assert any("$.version" in p for p in record_problems(ALT_SCHEMA, value, 1000))


def test_a_0_7_entry_whose_schema_ref_is_not_a_schema_record_is_refused() -> None:
    value = {**load("entry_http.json"), "schemaRef": "at://did:plc:x/app.bsky.feed.post/1"}
    assert any("$.schemaRef" in p for p in record_problems(ALT_ENTRY, value, 1000))


def test_a_0_7_record_claiming_another_type_is_refused() -> None:
    assert record_problems(ALT_SCHEMA, load("lens.json"), 1000)


def test_a_0_7_lens_is_reported_as_code_by_git_reference() -> None:
    (report,) = predecessor_lens_report(load("lens.json"))
    assert "code by git reference" in report and "github.com/example/lenses" in report
