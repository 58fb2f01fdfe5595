"""Shard URLs: brace patterns, supported schemes, and URLs safe to print."""

from __future__ import annotations

import pytest

from atdata.errors import DatasetError
from atdata.shards.urls import display, expand, local_path, scheme, sidecar_url


def test_a_zero_padded_range_expands_in_order() -> None:
    assert expand("s-{0000..0002}.tar") == ["s-0000.tar", "s-0001.tar", "s-0002.tar"]


def test_alternatives_and_nested_braces_expand_left_to_right() -> None:
    assert expand("{a,b{1..2}}/x{8..9}") == ["a/x8", "a/x9", "b1/x8", "b1/x9", "b2/x8", "b2/x9"]


def test_a_range_with_a_step_and_a_descending_range() -> None:
    assert expand("{0..6..3}|{3..1}") == [f"{a}|{b}" for a in (0, 3, 6) for b in (3, 2, 1)]


def test_double_colons_and_lists_join_patterns() -> None:
    assert expand(["a{1..2}", "b::c"]) == ["a1", "a2", "b", "c"]


def test_an_ipv6_host_is_not_split_at_its_double_colons() -> None:
    assert expand("http://[::1]:8080/s-{0..1}.tar::http://[fe80::2]/t.tar") == [
        "http://[::1]:8080/s-0.tar",
        "http://[::1]:8080/s-1.tar",
        "http://[fe80::2]/t.tar",
    ]


def test_braces_without_a_comma_or_range_stay_literal() -> None:
    assert expand("x{y}z") == ["x{y}z"]


def test_unbalanced_braces_are_refused() -> None:
    with pytest.raises(DatasetError, match="unbalanced"):
        expand("s-{000..002.tar")


def test_unsupported_schemes_are_refused_by_name() -> None:
    with pytest.raises(DatasetError, match=r"unsupported shard URL ftp://host/x\.tar"):
        scheme("ftp://host/x.tar")


@pytest.mark.parametrize("url", ["memory://x.tar", "ssh://host/x.tar", "zip://x.tar", "local:///etc/x"])
def test_fsspec_protocols_that_reach_this_machine_are_refused(url: str) -> None:
    with pytest.raises(DatasetError, match="unsupported shard URL"):
        scheme(url)


@pytest.mark.parametrize("url", ["s3://bucket/x.tar", "gs://bucket/x.tar", "hf://datasets/a/b/x.tar"])
def test_object_store_urls_go_through_fsspec(url: str) -> None:
    assert scheme(url) == "fsspec"


def test_file_urls_become_paths() -> None:
    assert local_path("file:///data/my%20shards/a.tar") == "/data/my shards/a.tar"


def test_sidecars_sit_next_to_their_shard_and_keep_query_strings() -> None:
    assert sidecar_url("/d/a.tar") == "/d/a.tar.json"
    assert sidecar_url("https://h/d/a.tar?sig=1") == "https://h/d/a.tar.json?sig=1"


def test_displayed_urls_carry_no_credentials_or_query() -> None:
    assert display("https://user:secret@host:8443/a.tar?token=abc") == "https://host:8443/a.tar?..."
