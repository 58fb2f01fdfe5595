"""Semantic versions of schema and lens records."""

from __future__ import annotations

import itertools

import pytest

from atdata.schema.semver import is_semver, parse


def test_versions_order_by_semver_precedence() -> None:
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"]  # fmt: skip
    assert sorted(chain[::-1], key=parse) == chain
    assert all(parse(a) < parse(b) for a, b in itertools.pairwise(chain))


def test_a_version_prints_as_it_was_written() -> None:
    assert str(parse("2.1.0-rc.1")) == "2.1.0-rc.1"


@pytest.mark.parametrize(("part", "expected"), [("major", "2.0.0"), ("minor", "1.3.0"), ("patch", "1.2.4")])
def test_bumping_resets_the_lower_parts(part: str, expected: str) -> None:
    assert str(parse("1.2.3").bump(part)) == expected


def test_the_patch_bump_of_a_prerelease_is_its_release() -> None:
    assert str(parse("1.2.3-rc.1").bump("patch")) == "1.2.3"


@pytest.mark.parametrize("text", ["1.0", "1.0.0.0", "01.0.0", "1.0.0+build", "1.0.0-01", "v1.0.0", " 1.0.0"])
def test_malformed_versions_are_refused(text: str) -> None:
    assert not is_semver(text)
    with pytest.raises(ValueError, match="not a semantic version"):
        parse(text)
