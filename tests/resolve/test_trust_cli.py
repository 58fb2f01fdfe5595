"""`atdata trust`: the trust policy in the config file, edited from the command line."""

from __future__ import annotations

import pytest
from resolve_loopback import loopback_account
from resolve_world import World

from atdata.cli.main import main
from atdata.trust import TrustPolicy


def test_adding_a_did_stores_it_with_the_handle_its_document_claims(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with loopback_account("carol.example.com") as acct:
        assert main(["trust", "add", acct.did]) == 0
    assert [(a.did, a.handle) for a in TrustPolicy.load().authors] == [(acct.did, "carol.example.com")]
    assert "carol.example.com" in capsys.readouterr().out


def test_listing_shows_trusted_authors_and_what_happens_to_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    TrustPolicy().with_author("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "alice.test").save()
    assert main(["trust", "list"]) == 0
    out = capsys.readouterr().out
    assert "alice.test (did:plc:aaaaaaaaaaaaaaaaaaaaaaaa)" in out
    assert "run in the process sandbox" in out


def test_removing_by_handle_forgets_the_author() -> None:
    TrustPolicy().with_author("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "alice.test").save()
    assert main(["trust", "remove", "alice.test"]) == 0
    assert TrustPolicy.load().authors == ()


def test_removing_someone_not_trusted_is_an_error_naming_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trust", "remove", "nobody.test"]) == 1
    assert "nobody.test is not in the trust list" in capsys.readouterr().err


def test_strict_mode_is_switched_in_the_config_file() -> None:
    assert main(["trust", "strict", "on"]) == 0
    assert TrustPolicy.load().strict
    assert main(["trust", "strict", "off"]) == 0
    assert not TrustPolicy.load().strict


@pytest.mark.integration
def test_adding_a_handle_resolves_it_to_its_did_on_the_given_network(world: World) -> None:
    handle = world.bob.handle
    assert main(["trust", "add", handle, "--plc", world.stack.plc, "--pds", world.stack.pds]) == 0
    assert [(a.did, a.handle) for a in TrustPolicy.load().authors] == [(world.bob.did, handle)]
