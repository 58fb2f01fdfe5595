"""The one ranking of candidates for a name (atdata.ranking), used by the SDK, the appview and MCP."""

from __future__ import annotations

from dataclasses import dataclass

from atdata.ranking import rank


@dataclass(frozen=True)
class C:
    author: str
    version: str
    uri: str = ""


def _versions(ranked: list[C]) -> list[str]:
    return [c.version for c in ranked]


def test_the_highest_version_ranks_first_by_semver_precedence() -> None:
    cands = [C("did:plc:a", v) for v in ["1.0.0-rc.9", "1.0.0-rc.10", "1.0.0-beta.2", "1.0.0-beta.11"]]
    assert _versions(rank(cands, [])) == ["1.0.0-rc.10", "1.0.0-rc.9", "1.0.0-beta.11", "1.0.0-beta.2"]


def test_a_release_ranks_above_its_prereleases_and_below_the_next_minor() -> None:
    cands = [C("did:plc:a", v) for v in ["1.0.0-rc.10", "1.10.0", "1.0.0", "1.9.0"]]
    assert _versions(rank(cands, [])) == ["1.10.0", "1.9.0", "1.0.0", "1.0.0-rc.10"]


def test_trusted_authors_rank_first_in_the_order_of_the_trust_list() -> None:
    mallory, alice, bob = C("did:plc:m", "9.0.0"), C("did:plc:a", "1.0.0"), C("did:plc:b", "2.0.0")
    assert rank([mallory, alice, bob], ["did:plc:a", "did:plc:b"]) == [alice, bob, mallory]
    assert rank([mallory, alice, bob], ["did:plc:b", "did:plc:a"]) == [bob, alice, mallory]


def test_equal_versions_break_ties_by_did_then_uri() -> None:
    b1, a2, a1 = (
        C("did:plc:b", "1.0.0", "at://1"),
        C("did:plc:a", "1.0.0", "at://2"),
        C("did:plc:a", "1.0.0", "at://1"),
    )
    assert rank([b1, a2, a1], []) == [a1, a2, b1]


def test_a_version_that_is_not_semver_ranks_below_every_valid_one() -> None:
    cands = [C("did:plc:a", "latest"), C("did:plc:a", "0.0.0-0")]
    assert _versions(rank(cands, [])) == ["0.0.0-0", "latest"]


def test_rows_rank_through_a_field_getter() -> None:
    rows = [
        {"did": "did:plc:a", "version": "1.0.0-rc.9", "uri": "x"},
        {"did": "did:plc:a", "version": "1.0.0-rc.10", "uri": "y"},
    ]
    assert [r["uri"] for r in rank(rows, [], lambda r: (r["did"], r["version"], r["uri"]))] == ["y", "x"]
