"""Signature checks: both curves, and the malleable high-S twin of a valid signature refused."""

from __future__ import annotations

import pytest
from atproto_crypto.consts import P256_CURVE_ORDER, SECP256K1_CURVE_ORDER
from support.repo_writer import SigningKey

from atdata_appview.ingest.verify import signature_ok

DATA = b"a commit's DAG-CBOR bytes"


@pytest.mark.parametrize("curve", ["k256", "p256"])
def test_a_signature_verifies_with_its_key_only(curve: str) -> None:
    key, other = SigningKey(curve), SigningKey(curve)
    sig = key.sign(DATA)
    assert signature_ok(key.did_key, DATA, sig)
    assert not signature_ok(other.did_key, DATA, sig)
    assert not signature_ok(key.did_key, DATA + b"!", sig)


@pytest.mark.parametrize(("curve", "order"), [("k256", SECP256K1_CURVE_ORDER), ("p256", P256_CURVE_ORDER)])
def test_the_high_s_twin_of_a_valid_signature_is_refused(curve: str, order: int) -> None:
    key = SigningKey(curve)
    sig = key.sign(DATA)
    twin = sig[:32] + (order - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
    assert not signature_ok(key.did_key, DATA, twin)


def test_a_signature_of_the_wrong_length_is_refused() -> None:
    key = SigningKey()
    assert not signature_ok(key.did_key, DATA, key.sign(DATA)[:63])
