"""Commit verification: the signature against the repo's current ``#atproto`` key, and records
against the signed tree.

A commit block is ``{did, version, data, rev, prev, sig}``; the signature covers the DAG-CBOR encoding
of the block without ``sig``. The key is looked up in the DID document; when the signature does not
match, the document is fetched once more (the key may have just rotated) before the commit is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import libipld
from atproto_crypto.algs import ALGORITHM_TO_CLASS
from atproto_crypto.consts import (
    BASE58_MULTIBASE_PREFIX,
    DID_KEY_PREFIX,
    SECP256K1_CURVE_ORDER,
    SECP256K1_DID_PREFIX,
    SECP256K1_JWT_ALG,
)
from atproto_crypto.did import parse_did_key
from atproto_crypto.multibase import multibase_to_bytes
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from atdata.errors import AtdataError, IntegrityError, NetworkError
from atdata.network.identity import Identity, IdentityResolver
from atdata_appview.ingest import mst
from atdata_appview.ingest.car import Car


class VerificationError(IntegrityError):
    """A commit or record failed verification; the message says which check and why."""


class IdentityUnavailable(VerificationError):
    """The DID document needed to check a signature could not be fetched (PLC down, timeout): the
    commit is neither good nor bad yet, and its repo must be fetched again later."""


@dataclass(frozen=True)
class VerifiedCommit:
    did: str
    rev: str
    data: bytes  # MST root
    identity: Identity


_DID_KEY_BASE58 = DID_KEY_PREFIX + BASE58_MULTIBASE_PREFIX
Verifier = Callable[[bytes, bytes], bool]  # (data, 64-byte r||s signature) -> valid?


def _cryptography_verifier(key: EllipticCurvePublicKey) -> Verifier:
    def verify(data: bytes, sig: bytes) -> bool:
        try:
            key.verify(
                encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                data,
                ECDSA(SHA256()),
            )
        except InvalidSignature:
            return False
        return True

    return verify


def _libsecp256k1_verifier(point: bytes) -> Verifier | None:
    # libsecp256k1 verifies about ten times faster than OpenSSL's generic curve code, which decides
    # the ingest rate: most repositories sign with secp256k1. ``point``: SEC1, compressed or not.
    try:
        import coincurve
        from coincurve.ecdsa import deserialize_compact
    except ImportError:
        return None
    try:
        key = coincurve.PublicKey(point)
    except ValueError:  # not a point of the curve: the generic path refuses it, naming it
        return None
    try:
        # The library's own verify takes DER only: the compact signature would be parsed, written
        # as DER and parsed again (a tenth of each check's CPU). Its C function takes the parsed one.
        from coincurve._libsecp256k1 import lib

        ecdsa_verify, ctx, raw_key = lib.secp256k1_ecdsa_verify, key.context.ctx, key.public_key
    except (ImportError, AttributeError):  # a coincurve laid out otherwise: its public API
        from coincurve.ecdsa import cdata_to_der

        def verify_der(data: bytes, sig: bytes) -> bool:
            try:
                return bool(key.verify(cdata_to_der(deserialize_compact(sig)), data))
            except (ValueError, TypeError):
                return False

        return verify_der

    def verify(data: bytes, sig: bytes) -> bool:
        try:
            parsed = deserialize_compact(sig)  # r and s must be below the curve's order
        except (ValueError, TypeError):
            return False
        return ecdsa_verify(ctx, parsed, hashlib.sha256(data).digest(), raw_key) == 1

    return verify


def _secp256k1_point(did_key: str) -> bytes | None:
    """The compressed point of a secp256k1 ``did:key``, read without decompressing it (atproto's
    parser decompresses it with OpenSSL's generic curve code, ~50 µs per key, once per author);
    None for any other key, which atproto's parser then reads (or refuses)."""
    if not did_key.startswith(_DID_KEY_BASE58):
        return None
    try:
        raw = multibase_to_bytes(did_key[len(DID_KEY_PREFIX) :])
    except Exception:  # whatever the parser refuses, it refuses with its own message
        return None
    if len(raw) == len(SECP256K1_DID_PREFIX) + 33 and raw.startswith(SECP256K1_DID_PREFIX):
        return raw[len(SECP256K1_DID_PREFIX) :]
    return None


@lru_cache(maxsize=65536)
def _verifier(did_key: str) -> tuple[Verifier, int]:
    point = _secp256k1_point(did_key)
    fast = _libsecp256k1_verifier(point) if point is not None else None
    if fast is not None:
        return fast, SECP256K1_CURVE_ORDER
    parsed = parse_did_key(did_key)
    alg = ALGORITHM_TO_CLASS.get(parsed.jwt_alg)
    if alg is None:
        raise VerificationError(f"unsupported key algorithm {parsed.jwt_alg} in {did_key}")
    impl = alg()
    fast = _libsecp256k1_verifier(parsed.key_bytes) if parsed.jwt_alg == SECP256K1_JWT_ALG else None
    return fast or _cryptography_verifier(
        impl.get_elliptic_curve_public_key(parsed.key_bytes)
    ), impl.curve_order


def signature_ok(did_key: str, data: bytes, sig: bytes) -> bool:
    """ECDSA-SHA256 over ``data`` with a 64-byte compact, low-S signature (secp256k1 or P-256)."""
    if len(sig) != 64:
        return False
    verify, order = _verifier(did_key)
    if int.from_bytes(sig[32:], "big") > order // 2:  # high-S copies are malleable; ATProto refuses them
        return False
    return verify(data, sig)


def _commit_fields(car: Car, commit_cid: bytes) -> tuple[dict[str, Any], bytes]:
    try:
        commit: Any = car.decode(commit_cid)
    except KeyError:
        raise VerificationError("the commit block is missing from the CAR") from None
    except ValueError as e:
        raise VerificationError(f"the commit block is not DAG-CBOR: {e}") from None
    if not isinstance(commit, dict):
        raise VerificationError("the commit block is not a map")
    sig = commit.get("sig")
    if not isinstance(sig, bytes):
        raise VerificationError("the commit is unsigned")
    for name, kind in (("did", str), ("rev", str), ("data", bytes)):
        if not isinstance(commit.get(name), kind):
            raise VerificationError(f"the commit's {name!r} is missing or malformed")
    if commit.get("version") not in (2, 3):
        raise VerificationError(f"unsupported commit version {commit.get('version')!r}")
    unsigned = {k: v for k, v in commit.items() if k != "sig"}
    return commit, libipld.encode_dag_cbor(unsigned)


def verify_commit(car: Car, commit_cid: bytes, did: str, identities: IdentityResolver) -> VerifiedCommit:
    """Check the commit at ``commit_cid`` is ``did``'s and signed with its current ``#atproto`` key."""
    commit, signed_bytes = _commit_fields(car, commit_cid)
    if commit["did"] != did:
        raise VerificationError(f"the commit is for {commit['did']}, the event says {did}")
    try:
        ident = identities.resolve(did)
        if not signature_ok(ident.signing_key, signed_bytes, commit["sig"]):
            ident = identities.resolve(did, fresh=True)
            if not signature_ok(ident.signing_key, signed_bytes, commit["sig"]):
                raise VerificationError(
                    f"the commit signature does not match the #atproto key of {did} ({ident.signing_key})"
                )
    except VerificationError:
        raise
    except NetworkError as e:
        raise IdentityUnavailable(f"cannot verify the commit of {did} now: {e}") from None
    except AtdataError as e:  # DID document unavailable or unusable: nothing to verify against
        raise VerificationError(f"cannot verify the commit of {did}: {e}") from None
    return VerifiedCommit(did=did, rev=commit["rev"], data=commit["data"], identity=ident)


def record_in_tree(car: Car, root: bytes, path: str, claimed_cid: bytes) -> None:
    """Check the signed tree under ``root`` maps ``path`` to ``claimed_cid`` (the CAR has the nodes)."""
    try:
        found = mst.lookup(car.blocks.__getitem__, root, path)
    except mst.MissingBlock:
        raise VerificationError(f"{path}: the commit lacks the tree nodes that prove it") from None
    except mst.MalformedNode as e:
        raise VerificationError(f"{path}: {e}") from None
    if found != claimed_cid:
        raise VerificationError(f"{path}: the signed tree does not hold the record the event claims")


def record_absent(car: Car, root: bytes, path: str) -> None:
    """Check the signed tree under ``root`` provably lacks ``path``. Only a walk that reaches the
    place the key would be proves absence; a missing node proves nothing, so such a delete is refused
    (and the repo fetched whole instead)."""
    try:
        found = mst.lookup(car.blocks.__getitem__, root, path)
    except mst.MissingBlock:
        raise VerificationError(
            f"{path}: delete without a proof of absence (the commit lacks the tree nodes)"
        ) from None
    except mst.MalformedNode as e:
        raise VerificationError(f"{path}: {e}") from None
    if found is not None:
        raise VerificationError(f"{path}: delete, but the signed tree still holds the record")
