"""The record collections the appview indexes, all under the project's NSID authority."""

from __future__ import annotations

from atdata.lexicon.nsid import ATTESTATION, AUTHORITY, DATASET, LENS, SCHEMA

# Each known collection has one derived index table.
DERIVED_TABLE: dict[str, str] = {
    SCHEMA: "schemas",
    LENS: "lenses",
    DATASET: "datasets",
    ATTESTATION: "attestations",
}

_PREFIX = AUTHORITY + "."


def is_ours(collection: str) -> bool:
    """True for every collection under our authority, known or not (unknown ones get rejected)."""
    return collection.startswith(_PREFIX)


def is_known(collection: str) -> bool:
    return collection in DERIVED_TABLE
