"""A ``science.alt.dataset.lens`` record (as atdata 0.7.0b1's LensPublisher wrote it,
tests/fixtures/atdata07/lens.json) read as schemas and git references to its getter and putter."""

from __future__ import annotations

import pytest
from fixtures07 import record

from atdata.errors import SchemaError
from atdata.network.predecessor import CodeRef, convert_lens

SCHEMA = "at://did:plc:x/science.alt.dataset.schema/s"


def test_the_code_references_name_file_and_function() -> None:
    lens = convert_lens(record("lens.json", SCHEMA_URI=SCHEMA), "at://l")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repository = "https://github.com/example/lenses"
    assert lens.getter == CodeRef(repository, commit, "lenses/full_to_view.py", "full_to_view")
    assert lens.putter == CodeRef(repository, commit, "lenses/full_to_view.py", "full_to_view_put")
    assert (lens.source_uri, lens.target_uri) == (SCHEMA, SCHEMA)


def test_a_module_path_as_publish_from_lens_object_writes_names_its_file() -> None:
    value = record("lens.json", SCHEMA_URI=SCHEMA)
    value["getterCode"]["path"] = "mypkg.lenses:rgb_to_grey"
    assert convert_lens(value, "at://l").getter.path == "mypkg/lenses.py"


def test_a_record_without_getter_code_is_an_error_naming_the_field() -> None:
    value = record("lens.json", SCHEMA_URI=SCHEMA)
    del value["getterCode"]
    with pytest.raises(SchemaError, match=r"\$\.getterCode"):
        convert_lens(value, "at://l")


def test_a_record_of_another_kind_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"is not science\.alt\.dataset\.lens"):
        convert_lens(record("schema.json"), "at://l")
