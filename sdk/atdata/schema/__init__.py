"""Schema records: sample types as publishable, versioned documents.

``schema_of(T)`` makes the record, ``from_schema(record)`` a working class again,
``compatibility(old, new)`` classifies a change, ``generate_module(record)`` writes Python source,
and ``content_hash`` / ``record_key`` give a record its identity.
"""

from __future__ import annotations

from atdata.schema.canonical import canonical_form, content_hash, record_cid, record_key
from atdata.schema.codegen import generate_module
from atdata.schema.compat import (
    Change,
    CompatibilityReport,
    TransitiveReport,
    compatibility,
    compatibility_transitive,
    suggest_version,
)
from atdata.schema.record import from_schema, schema_of
from atdata.schema.validate import check_schema_record, schema_problems

__all__ = [
    "Change",
    "CompatibilityReport",
    "TransitiveReport",
    "canonical_form",
    "check_schema_record",
    "compatibility",
    "compatibility_transitive",
    "content_hash",
    "from_schema",
    "generate_module",
    "record_cid",
    "record_key",
    "schema_of",
    "schema_problems",
    "suggest_version",
]
