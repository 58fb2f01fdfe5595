"""Signature checks: both curves, the malleable high-S twin of a valid signature and out-of-range
values refused, and secp256k1 keys read by libsecp256k1 refused exactly where atproto's parser refuses."""

from __future__ import annotations

import pytest
from atproto_crypto.consts import (
    BASE58_MULTIBASE_PREFIX,
    P256_CURVE_ORDER,
    SECP256K1_CURVE_ORDER,
    SECP256K1_DID_PREFIX,
)
from atproto_crypto.did import parse_did_key
from atproto_crypto.exceptions import InvalidCompressedPubkeyError
from atproto_crypto.multibase import bytes_to_multibase
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
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


@pytest.mark.parametrize(("curve", "order"), [("k256", SECP256K1_CURVE_ORDER), ("p256", P256_CURVE_ORDER)])
def test_a_signature_whose_r_or_s_is_not_below_the_order_is_refused(curve: str, order: int) -> None:
    key = SigningKey(curve)
    sig = key.sign(DATA)
    too_big = order.to_bytes(32, "big")
    assert not signature_ok(key.did_key, DATA, too_big + sig[32:])
    assert not signature_ok(key.did_key, DATA, sig[:32] + too_big)


def _secp256k1_did_key(point: bytes) -> str:
    return "did:key:" + bytes_to_multibase(BASE58_MULTIBASE_PREFIX, SECP256K1_DID_PREFIX + point)


def test_a_secp256k1_did_key_naming_no_point_of_the_curve_is_refused_as_atprotos_parser_refuses_it() -> None:
    # x = 5: 5**3 + 7 = 132 has no square root modulo the secp256k1 prime, so no point has it.
    off_curve = _secp256k1_did_key(b"\x02" + (5).to_bytes(32, "big"))
    with pytest.raises(ValueError) as ours:
        signature_ok(off_curve, DATA, SigningKey().sign(DATA))
    with pytest.raises(ValueError) as theirs:
        parse_did_key(off_curve)
    assert type(ours.value) is type(theirs.value)


def test_a_secp256k1_did_key_with_an_uncompressed_point_is_refused_as_atprotos_parser_refuses_it() -> None:
    key = SigningKey()
    point = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256K1(), parse_did_key(key.did_key).key_bytes
    ).public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    uncompressed = _secp256k1_did_key(point)
    with pytest.raises(InvalidCompressedPubkeyError):
        parse_did_key(uncompressed)
    with pytest.raises(InvalidCompressedPubkeyError):
        signature_ok(uncompressed, DATA, key.sign(DATA))
