"""Semantic versions of schema and lens records."""

from __future__ import annotations

import itertools
import random

import pytest

from atdata.schema.semver import is_semver, parse, sort_text


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


SEMVER_ORDER = ["0.9.0", "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-a", "1.0.0-alpha", "1.0.0-alpha.1",
                "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0-rc.9",
                "1.0.0-rc.10", "1.0.0-rc.10.1", "1.0.0-rc1", "1.0.0", "1.0.1", "1.9.0", "1.10.0", "2.0.0",
                "10.0.0", "123456789012345678901234567890.0.0"]  # fmt: skip


def test_numeric_prerelease_identifiers_compare_as_numbers() -> None:
    assert parse("1.0.0-rc.9") < parse("1.0.0-rc.10")
    assert parse("1.0.0-beta.2") < parse("1.0.0-beta.11")


def test_the_sort_text_orders_versions_as_their_precedence() -> None:
    assert sorted(SEMVER_ORDER[::-1], key=sort_text) == SEMVER_ORDER
    assert sorted(SEMVER_ORDER[::-1], key=parse) == SEMVER_ORDER


def test_the_sort_text_agrees_with_precedence_on_random_versions() -> None:
    rng = random.Random(12)
    idents = ["0", "1", "2", "9", "10", "11", "a", "b", "A", "Z", "-", "a-1", "1a", "rc", "rc1", "beta"]

    def version() -> str:
        core = ".".join(str(rng.choice([0, 1, 2, 9, 10, 99, 100])) for _ in range(3))
        pre = ".".join(rng.choice(idents) for _ in range(rng.randrange(4)))
        return f"{core}-{pre}" if pre else core

    versions = [version() for _ in range(400)]
    for a, b in itertools.combinations(versions[:120], 2):
        assert (sort_text(a) < sort_text(b)) == (parse(a) < parse(b)), (a, b)
        assert (sort_text(a) == sort_text(b)) == (parse(a) == parse(b)), (a, b)


def test_the_sort_text_is_digits_only_so_every_collation_sorts_it_alike() -> None:
    assert all(sort_text(v).isdigit() for v in SEMVER_ORDER)


def test_the_sort_text_of_a_non_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        sort_text("latest")
