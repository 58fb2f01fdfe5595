"""The committed lexicon files: generated from Python, one per NSID, readable by the atproto parser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from atproto_lexicon.parser import lexicon_parse_file

from atdata.errors import SchemaError
from atdata.lexicon import AUTHORITY, QUERIES, RECORDS, STRONG_REF, documents, load_documents
from atdata.lexicon.generate import main as generate_main
from atdata.lexicon.generate import stale_files

LEXICONS = Path(__file__).resolve().parents[2] / "lexicons"


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    if not isinstance(node, dict):
        return []
    own = (
        [node["ref"]]
        if node.get("type") == "ref"
        else node.get("refs", [])
        if node.get("type") == "union"
        else []
    )
    return own + [r for v in node.values() for r in _refs(v)]


def test_committed_files_equal_what_generation_writes() -> None:
    assert stale_files(LEXICONS) == [], "run `python -m atdata.lexicon.generate` and commit lexicons/"


def test_generation_writes_one_file_per_nsid_at_its_path(tmp_path: Path) -> None:
    assert generate_main([str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert written == sorted(nsid.replace(".", "/") + ".json" for nsid in documents())
    assert load_documents(tmp_path) == documents()


def test_check_mode_reports_a_hand_edited_file(tmp_path: Path) -> None:
    generate_main([str(tmp_path)])
    schema_file = tmp_path / "dev" / "atdata" / "schema.json"
    doc = json.loads(schema_file.read_text())
    doc["description"] = "edited by hand"
    schema_file.write_text(json.dumps(doc))
    assert generate_main([str(tmp_path), "--check"]) == 1
    assert stale_files(tmp_path) == [schema_file]


def test_generation_removes_files_of_nsids_that_no_longer_exist(tmp_path: Path) -> None:
    generate_main([str(tmp_path)])
    stale = tmp_path / "dev" / "atdata" / "oldQuery.json"
    stale.write_text("{}")
    generate_main([str(tmp_path)])
    assert not stale.exists()


def test_every_document_lives_under_the_one_authority() -> None:
    for nsid, doc in documents().items():
        assert nsid.startswith(AUTHORITY + ".")
        for ref in _refs(doc):
            assert ref.startswith(("#", AUTHORITY + ".", STRONG_REF)), (nsid, ref)


def test_the_required_records_and_queries_are_defined() -> None:
    docs = documents()
    for nsid in RECORDS:
        assert docs[nsid]["defs"]["main"]["type"] == "record"
    for name in (
        "resolveSchema",
        "getSchema",
        "searchSchemas",
        "findLensPath",
        "getLens",
        "listLenses",
        "listDatasets",
        "describeService",
    ):
        assert f"{AUTHORITY}.{name}" in QUERIES
        assert docs[f"{AUTHORITY}.{name}"]["defs"]["main"]["type"] == "query"


def test_no_document_declares_a_float() -> None:
    assert '"type": "number"' not in json.dumps(documents())
    assert not any(isinstance(v, float) for v in _scalars(documents()))


def _scalars(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _scalars(v)]
    if isinstance(node, list):
        return [s for v in node for s in _scalars(v)]
    return [node]


def test_every_committed_file_parses_with_the_atproto_package() -> None:
    files = sorted(LEXICONS.rglob("*.json"))
    assert len(files) == len(documents())
    for path in files:
        parsed = lexicon_parse_file(path)
        assert parsed is not None
        assert parsed.id == json.loads(path.read_text())["id"]


def test_loading_refuses_a_document_filed_under_the_wrong_path(tmp_path: Path) -> None:
    generate_main([str(tmp_path)])
    (tmp_path / "dev" / "atdata" / "schema.json").rename(tmp_path / "dev" / "atdata" / "model.json")
    with pytest.raises(SchemaError, match="belongs at"):
        load_documents(tmp_path)
