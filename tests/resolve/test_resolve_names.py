"""Schema names: the four forms, and the deterministic ranking of candidates (pure)."""

from __future__ import annotations

import pytest

from atdata.errors import SchemaError
from atdata.network.appview_client import SchemaView
from atdata.resolve import SchemaName, parse_name, rank

ALICE = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
BOB = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
CAROL = "did:plc:cccccccccccccccccccccccc"


def view(author: str, version: str, rkey: str | None = None) -> SchemaView:
    uri = f"at://{author}/dev.atdata.schema/{rkey or 'Frame:' + version}"
    return SchemaView(uri, "bafy" + version, author, None, "2026-01-01T00:00:00Z", "Frame", version, None, {})


def test_a_bare_name_names_only_the_type() -> None:
    assert parse_name("Frame") == SchemaName("Frame", name="Frame")


def test_handle_slash_name_at_version_names_author_type_and_version() -> None:
    assert parse_name("@Alice.Test/Frame@1.2.0") == SchemaName(
        "@Alice.Test/Frame@1.2.0", name="Frame", author="alice.test", version="1.2.0"
    )


def test_a_did_can_name_the_author() -> None:
    assert parse_name(f"{ALICE}/Frame").author == ALICE


def test_an_at_uri_names_one_record() -> None:
    uri = f"at://{ALICE}/dev.atdata.schema/Frame:1.0.0"
    assert parse_name(uri) == SchemaName(uri, uri=uri)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("Frame@1.2", "not a semantic version"),
        ("not a name", "Python identifier"),
        ("alice/Frame", "neither a handle"),
        (f"at://{ALICE}/dev.atdata.lens/x:1.0.0", "dev.atdata.schema collection"),
    ],
)
def test_a_malformed_name_is_refused_saying_what_is_wrong(text: str, fault: str) -> None:
    with pytest.raises(SchemaError, match=fault):
        parse_name(text)


def test_trusted_authors_rank_first_in_the_order_the_policy_lists_them() -> None:
    ranked = rank([view(ALICE, "9.0.0"), view(BOB, "1.0.0"), view(CAROL, "1.0.0")], [CAROL, BOB])
    assert [v.author for v in ranked] == [CAROL, BOB, ALICE]


def test_among_equally_trusted_the_highest_version_wins_by_semver_precedence() -> None:
    ranked = rank([view(ALICE, "1.2.0"), view(ALICE, "1.10.0"), view(ALICE, "1.10.0-rc.1")], [])
    assert [v.version for v in ranked] == ["1.10.0", "1.10.0-rc.1", "1.2.0"]


def test_equal_versions_fall_back_to_author_did_then_uri() -> None:
    ranked = rank([view(BOB, "1.0.0"), view(ALICE, "1.0.0", "b"), view(ALICE, "1.0.0", "a")], [])
    assert [(v.author, v.uri.rsplit("/", 1)[1]) for v in ranked] == [
        (ALICE, "a"),
        (ALICE, "b"),
        (BOB, "Frame:1.0.0"),
    ]


def test_ranking_does_not_depend_on_the_order_candidates_arrive_in() -> None:
    views = [view(BOB, "1.0.0"), view(ALICE, "2.0.0"), view(CAROL, "2.0.0"), view(ALICE, "1.0.0")]
    assert rank(views, [BOB]) == rank(list(reversed(views)), [BOB])
