"""The lexicon files are the source of the wire contract: one valid Lexicon v1 document per NSID, at
its path, readable by the atproto parser, naming exactly the NSIDs the code uses; what the code reads
from them (documents, attestation kinds, field types) is what they say. The official
``@atproto/lexicon`` validator's verdict on them is in test_lexicon_official.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from atproto_lexicon.parser import lexicon_parse_file

from atdata.errors import SchemaError
from atdata.lexicon import (
    AUTHORITY,
    DEFS,
    QUERIES,
    RECORDS,
    STRONG_REF,
    documents,
    load_documents,
    strong_ref_document,
)
from atdata.lexicon.definitions import ATTESTATION_KINDS, FIELD_TYPES, LEXICONS

ROOT_LINK = Path(__file__).resolve().parents[2] / "lexicons"


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


def test_the_root_lexicons_folder_is_the_package_data_the_code_reads() -> None:
    assert ROOT_LINK.resolve() == LEXICONS.resolve()
    assert load_documents(ROOT_LINK) == {**documents(), STRONG_REF: strong_ref_document()}


def test_there_is_one_file_per_nsid_the_code_names_and_no_other() -> None:
    written = sorted(p.relative_to(LEXICONS).as_posix() for p in LEXICONS.rglob("*.json"))
    expected = sorted(nsid.replace(".", "/") + ".json" for nsid in (*RECORDS, *QUERIES, DEFS, STRONG_REF))
    assert written == expected


def test_every_file_is_a_lexicon_v1_document_with_a_main_or_shared_definitions() -> None:
    for nsid, doc in {**documents(), STRONG_REF: strong_ref_document()}.items():
        assert doc["lexicon"] == 1 and doc["id"] == nsid
        assert isinstance(doc["defs"], dict) and doc["defs"], nsid
        for name, definition in doc["defs"].items():
            assert isinstance(definition.get("type"), str), (nsid, name)


def test_what_the_code_reads_from_the_files_is_what_they_say() -> None:
    attestation = json.loads((LEXICONS / "dev" / "atdata" / "attestation.json").read_text())
    assert (
        list(ATTESTATION_KINDS) == attestation["defs"]["main"]["record"]["properties"]["kind"]["knownValues"]
    )
    defs = json.loads((LEXICONS / "dev" / "atdata" / "defs.json").read_text())
    assert [f"{DEFS}#{t}" for t in FIELD_TYPES] == defs["defs"]["fieldDef"]["properties"]["type"]["refs"]
    assert all(t in defs["defs"] for t in FIELD_TYPES)


def test_documents_are_fresh_copies_callers_may_change() -> None:
    documents()[f"{AUTHORITY}.schema"]["defs"].clear()
    strong_ref_document()["defs"].clear()
    assert documents()[f"{AUTHORITY}.schema"]["defs"] and strong_ref_document()["defs"]


def test_loading_refuses_a_file_that_is_not_a_lexicon_v1_document(tmp_path: Path) -> None:
    (tmp_path / "dev" / "atdata").mkdir(parents=True)
    (tmp_path / "dev" / "atdata" / "schema.json").write_text(json.dumps({"id": "dev.atdata.schema"}))
    with pytest.raises(SchemaError, match="Lexicon v1"):
        load_documents(tmp_path)


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


def test_every_file_parses_with_the_atproto_package() -> None:
    files = sorted(LEXICONS.rglob("*.json"))
    assert len(files) == len(documents()) + 1  # and the protocol's strongRef
    for path in files:
        parsed = lexicon_parse_file(path)
        assert parsed is not None
        assert parsed.id == json.loads(path.read_text())["id"]


def test_loading_refuses_a_document_filed_under_the_wrong_path(tmp_path: Path) -> None:
    (tmp_path / "dev" / "atdata").mkdir(parents=True)
    text = (LEXICONS / "dev" / "atdata" / "schema.json").read_text()
    (tmp_path / "dev" / "atdata" / "model.json").write_text(text)
    with pytest.raises(SchemaError, match="belongs at"):
        load_documents(tmp_path)
