"""Schema and lens records must carry semantic versions: the validator (used when publishing and by
the appview's ingest) refuses any other version, naming $.version."""

from __future__ import annotations

import pytest
from lexicon_examples import VALID_RECORDS

from atdata.errors import RecordValidationError
from atdata.lexicon.validator import validate_record
from atdata_registry.publish import Publisher


@pytest.mark.parametrize("kind", ["schema", "python lens", "declarative lens"])
@pytest.mark.parametrize("version", ["latest", "1.0.0+build", "01.0.0", "1.0.0-rc.01", "v1.0.0"])
def test_a_record_version_that_is_not_semver_is_a_problem_at_version(kind: str, version: str) -> None:
    nsid, make = VALID_RECORDS[kind]
    problems = validate_record(nsid, {**make(), "version": version})
    assert [p.path for p in problems] == ["$.version"]
    assert "not a semantic version" in problems[0].message


@pytest.mark.parametrize("kind", ["schema", "python lens", "declarative lens"])
def test_a_semver_prerelease_is_a_valid_record_version(kind: str) -> None:
    nsid, make = VALID_RECORDS[kind]
    assert validate_record(nsid, {**make(), "version": "2.0.0-rc.10"}) == []


def test_publishing_a_schema_whose_version_is_not_semver_is_refused_before_sending() -> None:
    _, make = VALID_RECORDS["schema"]
    with pytest.raises(RecordValidationError, match=r"\$\.version.*not a semantic version"):
        Publisher(None, dry_run=True).publish_schema({**make(), "version": "latest"})
