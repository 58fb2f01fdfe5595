"""The namespace atdata's lexicons live under, and every NSID derived from it.

``AUTHORITY`` is the one place that names the domain the project would own; every other module
(the lexicon documents, the registry, the appview) takes its NSIDs from here.
"""

from __future__ import annotations

AUTHORITY = "dev.atdata"


def nsid(name: str) -> str:
    """The NSID of one of atdata's lexicons, e.g. ``nsid("schema") == "dev.atdata.schema"``."""
    return f"{AUTHORITY}.{name}"


# Records
SCHEMA = nsid("schema")
LENS = nsid("lens")
DATASET = nsid("dataset")
ATTESTATION = nsid("attestation")

# Shared object definitions (field types, views, ...)
DEFS = nsid("defs")

# Queries served by the appview
RESOLVE_SCHEMA = nsid("resolveSchema")
GET_SCHEMA = nsid("getSchema")
SEARCH_SCHEMAS = nsid("searchSchemas")
FIND_LENS_PATH = nsid("findLensPath")
GET_LENS = nsid("getLens")
LIST_LENSES = nsid("listLenses")
LIST_DATASETS = nsid("listDatasets")
DESCRIBE_SERVICE = nsid("describeService")

RECORDS = (SCHEMA, LENS, DATASET, ATTESTATION)
QUERIES = (
    RESOLVE_SCHEMA,
    GET_SCHEMA,
    SEARCH_SCHEMAS,
    FIND_LENS_PATH,
    GET_LENS,
    LIST_LENSES,
    LIST_DATASETS,
    DESCRIBE_SERVICE,
)

# Not ours: the protocol's reference to a record by URI and CID.
STRONG_REF = "com.atproto.repo.strongRef"


def defs(name: str) -> str:
    """A reference to an object in the shared defs document, e.g. ``"dev.atdata.defs#fieldDef"``."""
    return f"{DEFS}#{name}"
