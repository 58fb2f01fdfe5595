"""atdata's Lexicon v1 documents, read from their JSON files: the files are the source.

The wire contract is the JSON under ``sdk/atdata/lexicons/`` (``lexicons/`` at the repository root
points there, where Lexicon tools look), one file per NSID, shipped as package data: the ecosystem's
convention, checked by tests with the official ``@atproto/lexicon`` validator and the ``atproto``
parser. Everything here is read from those files, so the validator, the registry and the appview
cannot drift from them: the documents themselves, the attestation kinds, and the field types.

Rules that shape these documents (edit the JSON with them in mind):
- No floats anywhere (ATProto data model): float defaults travel as strings (see
  ``atdata.schema.value_objects``).
- Every string and array has a declared bound, so a record's size is bounded before it is parsed.
- Unions are open, as ATProto recommends for evolvable schemas; the SDK's schema checks reject
  field types it does not know, naming them.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from atdata.lexicon.files import load_documents
from atdata.lexicon.nsid import ATTESTATION, AUTHORITY, DEFS, STRONG_REF

Def = dict[str, Any]

LEXICONS = Path(__file__).resolve().parent.parent / "lexicons"
"""The folder of lexicon files, ``<nsid segments>.json`` each (package data)."""


@functools.cache
def _files() -> dict[str, Def]:
    return load_documents(LEXICONS)


def documents() -> dict[str, Def]:
    """Every lexicon document atdata defines, by NSID (fresh dicts: callers may mutate them)."""
    return {nsid: copy.deepcopy(doc) for nsid, doc in _files().items() if nsid.startswith(AUTHORITY + ".")}


def strong_ref_document() -> Def:
    """The protocol's ``com.atproto.repo.strongRef``, which atdata's documents refer to (kept beside
    them as the protocol defines it, so that validation needs no other files)."""
    return copy.deepcopy(_files()[STRONG_REF])


ATTESTATION_KINDS: tuple[str, ...] = tuple(
    _files()[ATTESTATION]["defs"]["main"]["record"]["properties"]["kind"]["knownValues"]
)
"""What an attestation may state about a lens (``reviewed``, ``tested``, ``lawsChecked``)."""

FIELD_TYPES: tuple[str, ...] = tuple(
    ref.split("#", 1)[1] for ref in _files()[DEFS]["defs"]["fieldDef"]["properties"]["type"]["refs"]
)
"""The field-type definitions of ``dev.atdata.defs`` a schema's field may use, in the union's order."""
