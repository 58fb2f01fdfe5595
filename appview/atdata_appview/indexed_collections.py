"""The record collections the appview indexes: the project's own (its NSID authority) and the three
record kinds of its predecessor, atdata 0.7 (``science.alt.dataset.schema``, ``.entry``, ``.lens``),
which share the derived tables of their counterparts (see :mod:`atdata.network.predecessor`)."""

from __future__ import annotations

from atdata.lexicon.nsid import ATTESTATION, AUTHORITY, DATASET, LENS, SCHEMA
from atdata.network.predecessor import ALT_ENTRY, ALT_LENS, ALT_SCHEMA

# Each known collection has one derived index table.
DERIVED_TABLE: dict[str, str] = {
    SCHEMA: "schemas",
    LENS: "lenses",
    DATASET: "datasets",
    ATTESTATION: "attestations",
    ALT_SCHEMA: "schemas",
    ALT_ENTRY: "datasets",
    ALT_LENS: "lenses",
}

PREDECESSOR = frozenset({ALT_SCHEMA, ALT_ENTRY, ALT_LENS})

_PREFIX = AUTHORITY + "."


def is_ours(collection: str) -> bool:
    """True for every collection under our authority, known or not (unknown ones get rejected), and
    for the predecessor's record kinds we index."""
    return collection.startswith(_PREFIX) or collection in PREDECESSOR


def is_known(collection: str) -> bool:
    return collection in DERIVED_TABLE
