"""atdata's lexicons: the NSIDs, the documents, and a validator for records and XRPC bodies.

Typical use (registry before publishing, appview before storing or serving)::

    from atdata import lexicon
    lexicon.assert_valid_record(lexicon.SCHEMA, record)
    problems = lexicon.validate_output(lexicon.GET_SCHEMA, body)
"""

from __future__ import annotations

from atdata.lexicon.definitions import documents, strong_ref_document
from atdata.lexicon.files import load_documents
from atdata.lexicon.nsid import (
    ATTESTATION,
    AUTHORITY,
    DATASET,
    DEFS,
    DESCRIBE_SERVICE,
    FIND_LENS_PATH,
    GET_LENS,
    GET_SCHEMA,
    LENS,
    LIST_DATASETS,
    LIST_LENSES,
    QUERIES,
    RECORDS,
    RESOLVE_SCHEMA,
    SCHEMA,
    SEARCH_SCHEMAS,
    STRONG_REF,
)
from atdata.lexicon.validator import (
    Lexicons,
    assert_valid_output,
    assert_valid_record,
    data_model_problems,
    default_lexicons,
    parse_params,
    validate_output,
    validate_params,
    validate_record,
)

__all__ = [
    "ATTESTATION",
    "AUTHORITY",
    "DATASET",
    "DEFS",
    "DESCRIBE_SERVICE",
    "FIND_LENS_PATH",
    "GET_LENS",
    "GET_SCHEMA",
    "LENS",
    "LIST_DATASETS",
    "LIST_LENSES",
    "QUERIES",
    "RECORDS",
    "RESOLVE_SCHEMA",
    "SCHEMA",
    "SEARCH_SCHEMAS",
    "STRONG_REF",
    "Lexicons",
    "assert_valid_output",
    "assert_valid_record",
    "data_model_problems",
    "default_lexicons",
    "documents",
    "load_documents",
    "parse_params",
    "strong_ref_document",
    "validate_output",
    "validate_params",
    "validate_record",
]
