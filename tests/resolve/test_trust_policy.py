"""The user's trust policy, as the lens graph's edge filter (pure)."""

from __future__ import annotations

import pytest

from atdata.errors import LensPathError, TrustError
from atdata.lenses.graph import LensEdge, LensGraph
from atdata.trust import TrustedAuthor, TrustPolicy

ALICE, MALLORY = "did:plc:alice", "did:plc:mallory"
GRAPH = LensGraph(
    [
        LensEdge("c1", "A", "B", author=ALICE),
        LensEdge("c2", "B", "C", author=MALLORY),
        LensEdge("c3", "C", "D", author=ALICE),
    ]
)


def test_trusted_only_keeps_the_lenses_of_trusted_authors() -> None:
    policy = TrustPolicy(authors=(TrustedAuthor(ALICE),))
    assert [e.cid for e in GRAPH.path("A", "B", policy.lens_filter(trusted_only=True))] == ["c1"]
    with pytest.raises(LensPathError):
        GRAPH.path("A", "C", policy.lens_filter(trusted_only=True))


def test_an_attested_lens_counts_as_trusted() -> None:
    policy = TrustPolicy(authors=(TrustedAuthor(ALICE),)).with_attested(["c2"])
    assert len(GRAPH.path("A", "D", policy.lens_filter(trusted_only=True))) == 3


def test_otherwise_every_lens_counts_within_the_hop_limit() -> None:
    policy = TrustPolicy(max_hops=2)
    assert len(GRAPH.path("A", "C", policy.lens_filter(trusted_only=False))) == 2
    with pytest.raises(LensPathError, match="within 2 hop"):
        GRAPH.path("A", "D", policy.lens_filter(trusted_only=False))


def test_a_strict_policy_refuses_an_untrusted_author_and_names_the_way_out() -> None:
    with pytest.raises(TrustError, match="atdata trust add did:plc:mallory"):
        TrustPolicy(strict=True).isolation_for(MALLORY, "c2")


def test_untrusted_lenses_run_in_the_process_sandbox_and_trusted_ones_inline() -> None:
    policy = TrustPolicy(authors=(TrustedAuthor(ALICE),))
    assert (policy.isolation_for(ALICE), policy.isolation_for(MALLORY)) == ("inline", "process")
